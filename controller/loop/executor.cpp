#include "controller/loop/executor.h"

#include <fmt/format.h>

#include "controller/check/lookups.h"

namespace pvt::controller {
namespace {

planner::ActionOutcome failed(std::string error) {
  planner::ActionOutcome o;
  o.error = std::move(error);
  return o;
}

planner::ActionOutcome from(const pve::ApiResult<void>& r) {
  if (!r) return failed(r.error().describe());
  planner::ActionOutcome o;
  o.ok = true;
  return o;
}

// A config change sent with the digest it was planned against: PVE refuses it when someone
// changed the config since, rather than overwrite their edit.
pve::Params config_change(const planner::Action& a, std::string key, std::string value) {
  pve::Params p{{std::move(key), std::move(value)}};
  if (!a.digest.empty()) p.emplace_back("digest", a.digest);
  return p;
}

}  // namespace

planner::ActionOutcome execute(const planner::Action& a, Env& env) {
  auto& pve = env.pve();
  switch (a.kind) {
    case planner::ActionKind::start_guest: {
      auto upid = pve.start_guest(a.node, check::guest_kind(a.type), a.vmid);
      if (!upid) return failed(upid.error().describe());
      planner::ActionOutcome o;
      o.ok = true;
      o.upid = upid->text;
      return o;
    }
    case planner::ActionKind::set_onboot:
      return from(pve.update_guest_config(a.node, check::guest_kind(a.type), a.vmid,
                                          config_change(a, "onboot", "1")));
    case planner::ActionKind::set_startup:
      return from(pve.update_guest_config(a.node, check::guest_kind(a.type), a.vmid,
                                          config_change(a, "startup", a.startup)));
    case planner::ActionKind::backup_guest: {
      pve::VzdumpOptions options;
      options.vmids = {a.vmid};
      options.storage = a.storage;
      options.mode = "snapshot";
      auto upid = pve.vzdump(a.node, options);
      if (!upid) return failed(upid.error().describe());
      planner::ActionOutcome o;
      o.ok = true;
      if (*upid) {
        o.upid = (*upid)->text;
      } else {
        o.no_task = true;
      }
      return o;
    }
    case planner::ActionKind::reconnect_worker: {
      auto* worker = env.worker(a.target);
      if (worker == nullptr) return failed("the tunnel has no control_url");
      auto r = worker->reconnect();
      if (!r) return failed(r.error().message);
      planner::ActionOutcome o;
      o.ok = true;
      return o;
    }
  }
  return failed(fmt::format("unknown action kind {}", static_cast<int>(a.kind)));
}

}  // namespace pvt::controller
