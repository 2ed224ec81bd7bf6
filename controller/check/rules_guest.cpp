// The rules about each tunnel guest itself: where and what it is, how it boots, whether it runs.
#include <fmt/format.h>

#include "controller/check/lookups.h"
#include "controller/check/rules_internal.h"

namespace pvt::check::detail {

using report::Status;

namespace {

// Every rule evaluate() reports for the guest, in its order: when the guest cannot be seen,
// each of them is UNKNOWN.
std::vector<std::string> guest_rules(const config::Guest& g) {
  std::vector<std::string> rules = {"guest.exists", "guest.node", "guest.type", "guest.template",
                                    "guest.onboot"};
  if (g.startup_order) rules.push_back("guest.startup");
  for (auto r : {"guest.running", "guest.lock", "backup.job", "backup.age", "backup.task"}) {
    rules.push_back(r);
  }
  return rules;
}

// Every guest rule from `from` on is UNKNOWN, for the same reason.
void all_unknown(const config::Guest& g, const std::string& why, Builder& b, size_t from = 0) {
  const auto rules = guest_rules(g);
  for (size_t k = from; k < rules.size(); ++k) {
    b.add(rules[k], g.name, Status::unknown, std::nullopt, std::nullopt, why);
  }
}

}  // namespace

bool rule_guest_exists(const config::Guest& g, const GuestObservation& go, const Observation& o,
                       const Visibility& vis, Builder& b) {
  if (!o.resources) {
    all_unknown(g, "cannot list the cluster's guests: " + o.resources.error().describe(), b);
    return false;
  }
  if (vis.hidden_guests.count(g.vmid)) {
    all_unknown(
        g,
        fmt::format("the token cannot see guest {} (needs VM.Audit on {}): see token.privileges",
                    g.vmid, vm_path(g.vmid)),
        b);
    return false;
  }
  if (!go.resource) {
    b.add("guest.exists", g.name, Status::critical, opt("absent"),
          opt(fmt::format("{} {}", to_string(g.type), g.vmid)),
          fmt::format("no guest with vmid {} in the cluster", g.vmid),
          fmt::format("restore guest {} from its backup (`qmrestore`/`pct restore`) or fix "
                      "vmid in the config",
                      g.vmid));
    all_unknown(g, "guest not found", b, 1);
    return false;
  }
  const auto& r = *go.resource;
  b.add("guest.exists", g.name, Status::ok, opt(fmt::format("{} {} on {}", r.type, r.vmid, r.node)),
        opt(fmt::format("{} {}", to_string(g.type), g.vmid)),
        fmt::format("{} {} exists", r.type, r.vmid));
  return true;
}

GuestContext guest_context(const config::Guest& g, const GuestObservation& go,
                           const Visibility& vis) {
  const auto& r = *go.resource;
  const bool node_down =
      r.status == "unknown" ||
      (go.config && !*go.config && go.config->error().kind == pve::ErrorKind::node_unreachable);
  // The remediations' commands must fit the guest as it is, even when the config says otherwise
  // (guest.type reports that mismatch itself).
  const auto type = r.type == "lxc" ? config::GuestType::lxc : config::GuestType::qemu;
  return GuestContext{g, go, r, vis, guest_cli(type), node_down};
}

void rule_guest_node(const GuestContext& c, Builder& b) {
  const auto& g = c.guest;
  const auto& r = c.resource;
  if (r.node == g.node) {
    b.add("guest.node", g.name, Status::ok, opt(r.node), opt(g.node), "on the configured node");
  } else {
    b.add("guest.node", g.name, Status::warning, opt(r.node), opt(g.node),
          fmt::format("runs on {} instead of {}: both tunnels may now share one node", r.node,
                      g.node),
          fmt::format("`{} migrate {} {}` when {} is back, or update node in the config", c.tool,
                      g.vmid, g.node, g.node));
  }
}

void rule_guest_type(const GuestContext& c, Builder& b) {
  const auto& g = c.guest;
  const auto& r = c.resource;
  if (r.type == to_string(g.type)) {
    b.add("guest.type", g.name, Status::ok, opt(r.type), opt(std::string(to_string(g.type))),
          "type as configured");
  } else {
    b.add(
        "guest.type", g.name, Status::critical, opt(r.type), opt(std::string(to_string(g.type))),
        fmt::format("vmid {} is a {} guest, the config says {}", g.vmid, r.type, to_string(g.type)),
        "fix type or vmid in the config");
  }
}

void rule_guest_template(const GuestContext& c, Builder& b) {
  const auto& go = c.observed;
  const bool is_template =
      c.resource.is_template || (go.config && *go.config && (*go.config)->is_template);
  if (is_template) {
    b.add("guest.template", c.name(), Status::critical, opt("1"), opt("0"),
          fmt::format("{} is a template and cannot run", c.guest.vmid),
          "point the config at the guest cloned from the template");
  } else {
    b.add("guest.template", c.name(), Status::ok, opt("0"), opt("0"), "not a template");
  }
}

void rule_guest_boot(const GuestContext& c, Builder& b) {
  const auto& g = c.guest;
  const auto& go = c.observed;
  const std::string& name = g.name;
  if (!go.config || !*go.config) {
    std::string why = !go.config ? std::string("config not read")
                                 : "cannot read the guest config: " + go.config->error().describe();
    b.add("guest.onboot", name, Status::unknown, std::nullopt, opt("1"), why);
    if (g.startup_order) {
      b.add("guest.startup", name, Status::unknown, std::nullopt,
            opt(fmt::format("order={}", *g.startup_order)), why);
    }
    return;
  }
  const auto& cfg = **go.config;
  if (cfg.onboot) {
    b.add("guest.onboot", name, Status::ok, opt("1"), opt("1"), "starts at boot");
  } else {
    b.add("guest.onboot", name, Status::critical, opt("0"), opt("1"),
          "not started at boot: after a power loss this tunnel stays down",
          fmt::format("`{} set {} --onboot 1`", c.tool, g.vmid), "not set to start at boot");
  }
  if (g.startup_order) {
    auto spec = cfg.startup ? pve::parse_startup(*cfg.startup) : std::nullopt;
    const std::string want = fmt::format("order={}", *g.startup_order);
    if (spec && spec->order && *spec->order == *g.startup_order) {
      b.add("guest.startup", name, Status::ok, opt(*cfg.startup), opt(want),
            "startup order as configured");
    } else {
      b.add("guest.startup", name, Status::warning, opt(cfg.startup.value_or("unset")), opt(want),
            cfg.startup ? "startup order differs from the config" : "no startup order set",
            fmt::format("`{} set {} --startup {}`", c.tool, g.vmid, want));
    }
  }
}

void rule_guest_running(const GuestContext& c, Builder& b) {
  const auto& g = c.guest;
  const auto& r = c.resource;
  if (c.node_down) {
    b.add("guest.running", g.name, Status::unknown, opt(r.status), opt("running"),
          fmt::format("node {} cannot be reached: the guest's state is unknown", r.node), "",
          fmt::format("{} offline", r.node));
  } else if (r.status == "running") {
    b.add("guest.running", g.name, Status::ok, opt("running"), opt("running"), "running");
  } else {
    const bool ha = r.hastate.has_value() && !r.hastate->empty();
    b.add("guest.running", g.name, Status::critical, opt(r.status), opt("running"),
          fmt::format("{} {} is {}: its tunnel is down", r.type, g.vmid, r.status),
          ha ? fmt::format("`ha-manager set {}:{} --state started`",
                           c.resource.type == "lxc" ? "ct" : "vm", g.vmid)
             : fmt::format("`{} start {}`", c.tool, g.vmid),
          fmt::format("{} {}", r.type == "lxc" ? "container" : "VM", r.status));
  }
}

void rule_guest_lock(const GuestContext& c, Builder& b) {
  const auto& g = c.guest;
  const auto& go = c.observed;
  std::optional<std::string> lock = c.resource.lock;
  if (go.config && *go.config && (*go.config)->lock) lock = (*go.config)->lock;
  if (lock && !lock->empty()) {
    b.add("guest.lock", g.name, Status::warning, opt(*lock), opt("none"),
          fmt::format("locked ({}): start, config changes and backups wait for it", *lock),
          fmt::format("wait for the {0} to finish; if it is stale: `{1} unlock {2}`", *lock, c.tool,
                      g.vmid));
  } else if (c.node_down) {
    b.add("guest.lock", g.name, Status::unknown, std::nullopt, opt("none"),
          fmt::format("node {} cannot be reached", c.node()));
  } else {
    b.add("guest.lock", g.name, Status::ok, opt("none"), opt("none"), "no lock");
  }
}

}  // namespace pvt::check::detail
