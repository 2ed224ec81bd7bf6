// token.privileges: what the API token may see and do, against what check and the enabled
// enforcement need.
#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <tuple>

#include "controller/check/lookups.h"
#include "controller/check/rules_internal.h"

namespace pvt::check::detail {

using report::Status;

namespace {

// A missing privilege and whether `check` itself needs it to read (CRITICAL) or only a part of
// the report or an enforcement does (WARNING).
struct Missing {
  std::string privilege;
  std::string path;
  std::string why;
  bool blocks_check = false;
};

// The privileges the token lacks, one entry per privilege and path (sorted by path); fills in
// what that hides from the other rules.
std::vector<Missing> missing_privileges(const config::Config& cfg, const Observation& o,
                                        const pve::Permissions& perm, Visibility& vis) {
  std::vector<Missing> missing;
  auto need = [&](const std::string& priv, const std::string& path, std::string why, bool blocks) {
    if (!perm.has(path, priv)) missing.push_back(Missing{priv, path, std::move(why), blocks});
  };
  need("Sys.Audit", "/", "read cluster status and backup jobs", true);
  std::set<std::string> nodes_seen;
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& g = cfg.guests[i];
    const auto& go = observed_guest(o, i);
    const std::string node = go.resource ? go.resource->node : g.node;
    const std::string vp = vm_path(g.vmid);
    // A guest missing from the resource list was asked about by its own path: a NoAccess ACL
    // there does not show in the full list, where /vms or / would seem to grant VM.Audit.
    const bool hidden_by_own_acl =
        go.permissions && *go.permissions && !(*go.permissions)->has(vp, "VM.Audit");
    if (!perm.has(vp, "VM.Audit") || hidden_by_own_acl) {
      vis.hidden_guests.insert(g.vmid);
      missing.push_back(Missing{"VM.Audit", vp, fmt::format("see guest {}", g.name), true});
    }
    if (!perm.has("/nodes/" + node, "Sys.Audit")) {
      vis.hidden_task_nodes.insert(node);
      if (nodes_seen.insert(node).second) {
        missing.push_back(Missing{"Sys.Audit", "/nodes/" + node,
                                  "see the scheduled backup tasks (run as root@pam)", true});
      }
    }
    for (const auto& sb : go.backups) {
      const std::string sp = "/storage/" + sb.storage;
      const bool visible = perm.has(sp, "Datastore.Allocate") ||
                           (perm.has(sp, "Datastore.AllocateSpace") && perm.has(vp, "VM.Backup"));
      if (!visible) {
        vis.hidden_backups.insert(g.vmid);
        missing.push_back(
            Missing{"Datastore.AllocateSpace + VM.Backup", fmt::format("{} + {}", sp, vp),
                    fmt::format("list the backups of {} on {}", g.name, sb.storage), true});
      }
    }
    if (cfg.controller.enforces("start")) {
      need("VM.PowerMgmt", vp, fmt::format("start {} (enforce start)", g.name), false);
    }
    if (cfg.controller.enforces("onboot")) {
      need("VM.Config.Options", vp, fmt::format("set onboot of {} (enforce onboot)", g.name),
           false);
    }
    if (cfg.controller.enforces("startup") && g.startup_order) {
      need("VM.Config.Options", vp,
           fmt::format("set the startup order of {} (enforce startup)", g.name), false);
      if (g.type == config::GuestType::qemu) {
        need("Sys.Modify", "/",
             fmt::format("change the startup order of VM {} (enforce startup)", g.vmid), false);
      }
    }
    if (cfg.controller.enforces("backup")) {
      need("VM.Backup", vp, fmt::format("back up {} (enforce backup)", g.name), false);
      std::optional<std::string> storage = cfg.backup.storage;
      if (!storage && o.jobs) {
        if (auto* j = covering_job(*o.jobs, g.vmid, node, o.pools, true)) storage = j->storage;
      }
      if (storage) {
        need("Datastore.AllocateSpace", "/storage/" + *storage,
             fmt::format("write backups of {} (enforce backup)", g.name), false);
      }
    }
  }
  if (cfg.backup.restore_test_vmid) {
    // What `backup verify --restore-test` does with the scratch guest: restore (create) it,
    // read its config back, destroy it; on the storage it was given.
    const std::string sp = vm_path(*cfg.backup.restore_test_vmid);
    need("VM.Allocate", sp, "restore into and destroy the scratch guest (--restore-test)", false);
    need("VM.Audit", sp, "read the restored scratch guest's config (--restore-test)", false);
    if (cfg.backup.restore_test_storage) {
      need("Datastore.AllocateSpace", "/storage/" + *cfg.backup.restore_test_storage,
           "restore the scratch guest's disks (--restore-test)", false);
    }
  }
  if (o.jobs) {
    std::set<std::string> pools;
    for (const auto& j : *o.jobs) {
      if (j.enabled && j.pool) pools.insert(*j.pool);
    }
    for (const auto& p : pools)
      need("Pool.Audit", "/pool/" + p, "read the members of pool " + p, true);
  }
  std::sort(missing.begin(), missing.end(), [](const Missing& a, const Missing& b) {
    return std::tie(a.path, a.privilege) < std::tie(b.path, b.privilege);
  });
  missing.erase(std::unique(missing.begin(), missing.end(),
                            [](const Missing& a, const Missing& b) {
                              return a.path == b.path && a.privilege == b.privilege;
                            }),
                missing.end());
  return missing;
}

}  // namespace

Visibility rule_token_privileges(const config::Config& cfg, const Observation& o, Builder& b) {
  Visibility vis;
  if (!o.permissions) {
    b.add("token.privileges", "token", Status::unknown, std::nullopt, opt("all needed privileges"),
          "cannot read the token's permissions: " + o.permissions.error().describe());
    return vis;
  }
  vis.known = true;
  const std::vector<Missing> missing = missing_privileges(cfg, o, *o.permissions, vis);
  if (missing.empty()) {
    b.add("token.privileges", "token", Status::ok, opt("all needed privileges"),
          opt("all needed privileges"),
          "the token has every privilege check and the enabled enforcement need");
    return vis;
  }
  bool blocks = false;
  std::string observed, message;
  for (const auto& m : missing) {
    blocks |= m.blocks_check;
    observed +=
        fmt::format("{}{} on {}", observed.empty() ? "missing " : ", ", m.privilege, m.path);
    message +=
        fmt::format("{}{} on {} (to {})", message.empty() ? "" : "; ", m.privilege, m.path, m.why);
  }
  const std::string token = cfg.pve ? cfg.pve->token_id : std::string("USER@REALM!TOKEN");
  const std::string user = token.substr(0, token.find('!'));
  // With privilege separation a token has what both it and its user were granted: the same
  // ACLs go to the user and to the token.
  const std::string remediation = fmt::format(
      "grant them to the user and the token (a privilege-separated token has only what both "
      "were given), e.g. `pveum acl modify / --users '{0}' --tokens '{1}' --roles "
      "PVEAuditor` for reading, and a role with Datastore.AllocateSpace + VM.Backup on "
      "/storage and /vms to see backups; the README lists the exact lines per feature",
      user, token);
  b.add("token.privileges", "token", blocks ? Status::critical : Status::warning, opt(observed),
        opt("all needed privileges"), "the token lacks " + message, remediation);
  return vis;
}

}  // namespace pvt::check::detail
