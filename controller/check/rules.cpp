#include "controller/check/rules.h"

#include "schedule/calendar_event.h"

#include <date/tz.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <ctime>
#include <set>

#include "common/unit_names.h"
#include "controller/check/vzdump_log.h"

namespace pvt::check {

using report::RuleResult;
using report::Status;

namespace {

std::optional<std::string> opt(std::string s) { return std::optional<std::string>(std::move(s)); }

struct Builder {
  std::vector<RuleResult>& out;
  void add(std::string rule, std::string target, Status status, std::optional<std::string> observed,
           std::optional<std::string> expected, std::string message, std::string remediation = "",
           std::string headline = "") {
    if (status == Status::ok) remediation.clear();
    out.push_back(RuleResult{std::move(rule), std::move(target), status, std::move(observed),
                             std::move(expected), std::move(message), std::move(remediation),
                             std::move(headline)});
  }
};

report::Measurement measure(std::string target, std::string name, double value, report::Unit unit,
                            std::optional<double> crit = std::nullopt) {
  report::Measurement m;
  m.target = std::move(target);
  m.name = std::move(name);
  m.value = value;
  m.unit = unit;
  m.crit = crit;
  m.min = 0;
  return m;
}

std::string cli_for(config::GuestType t) { return t == config::GuestType::qemu ? "qm" : "pct"; }

std::string vm_path(int64_t vmid) { return fmt::format("/vms/{}", vmid); }

std::string format_age(std::chrono::seconds age) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(age).count();
  if (h >= 48) return fmt::format("{}d {}h", h / 24, h % 24);
  auto m = std::chrono::duration_cast<std::chrono::minutes>(age).count() % 60;
  return fmt::format("{}h {}m", h, m);
}

std::string utc(int64_t epoch) {
  return report::format_utc(std::chrono::system_clock::time_point(std::chrono::seconds(epoch)));
}

// "2026-11-24T19:00:05Z" (fractions and offsets tolerated) -> epoch seconds.
std::optional<int64_t> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = timegm(&tm);
  std::string rest = s.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    rest = rest.substr(i);
  }
  int oh = 0, om = 0;
  if (rest == "Z" || rest.empty()) return t;
  if ((rest[0] == '+' || rest[0] == '-') &&
      std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) == 2) {
    int64_t off = (oh * 60 + om) * 60;
    return rest[0] == '+' ? t - off : t + off;
  }
  return std::nullopt;
}

// A missing privilege and whether `check` itself needs it to read (CRITICAL) or only a part of
// the report or an enforcement does (WARNING).
struct Missing {
  std::string privilege;
  std::string path;
  std::string why;
  bool blocks_check = false;
};

struct Visibility {
  bool known = false;               // permissions were read
  std::set<int64_t> hidden_guests;  // no VM.Audit
  std::set<int64_t> hidden_backups;
  std::set<std::string> hidden_task_nodes;  // no Sys.Audit on /nodes/{node}
};

const pve::BackupJob* covering_job(const std::vector<pve::BackupJob>& jobs, int64_t vmid,
                                   const std::string& node,
                                   const std::map<std::string, Read<pve::Pool>>& pools,
                                   bool enabled) {
  for (const auto& j : jobs) {
    if (j.enabled == enabled && job_selects(j, vmid, node, pools)) return &j;
  }
  return nullptr;
}

// A schedule runs in the node's local time; without it, UTC (and the label says why).
struct NodeZone {
  const date::time_zone* tz = nullptr;
  std::string label = "UTC";
};
NodeZone zone_of(const Read<pve::NodeTime>* node_time) {
  NodeZone z;
  if (node_time != nullptr && *node_time) {
    if (auto found = schedule::find_time_zone((*node_time)->timezone)) {
      z.tz = *found;
      z.label = (*node_time)->timezone;
    } else {
      z.label = fmt::format("UTC, the node's zone \"{}\" is unknown here", (*node_time)->timezone);
    }
  } else if (node_time != nullptr) {
    z.label = "UTC, the node's time zone could not be read";
  }
  return z;
}

std::string local_time(std::chrono::sys_seconds t, const date::time_zone* tz) {
  if (tz == nullptr) return date::format("%a %Y-%m-%d %H:%M UTC", t);
  return date::format("%a %Y-%m-%d %H:%M %Z", date::make_zoned(tz, t));
}

}  // namespace

std::string job_runs(const pve::BackupJob& job, const Read<pve::NodeTime>* node_time,
                     std::chrono::system_clock::time_point now) {
  auto event = schedule::parse_calendar_event(job.schedule);
  if (!event) return "";
  const auto [tz, zone] = zone_of(node_time);
  const auto at = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto last = schedule::previous_before(*event, at, tz);
  const auto next = schedule::next_after(*event, at, tz);
  if (!last && !next) return "";
  std::string out = last ? "last " + local_time(*last, tz) : "never ran before";
  out += next ? ", next " + local_time(*next, tz) : ", no further run";
  if (tz == nullptr && zone != "UTC") out += " (" + zone + ")";
  return out;
}

BackupAllowance allowed_backup_age(const config::BackupSection& policy,
                                   const pve::BackupJob* covering_job,
                                   const Read<pve::NodeTime>* node_time,
                                   std::chrono::system_clock::time_point now) {
  const std::chrono::seconds grace = std::chrono::hours(policy.grace_h);
  const std::chrono::seconds fallback = std::chrono::hours(policy.max_age_h) + grace;
  if (covering_job == nullptr) {
    return {fallback, fmt::format("no enabled job covers it: max_age_h {} + grace_h {}",
                                  policy.max_age_h, policy.grace_h)};
  }
  const pve::BackupJob& job = *covering_job;
  auto event = schedule::parse_calendar_event(job.schedule);
  if (!event) {
    return {fallback,
            fmt::format("schedule of job {} not understood ({}): max_age_h {} + grace_h {}", job.id,
                        event.error().message, policy.max_age_h, policy.grace_h)};
  }
  const auto [tz, zone] = zone_of(node_time);
  const auto at = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto gap = schedule::longest_gap(*event, at, tz);
  if (!gap) {
    return {fallback, fmt::format("job {} \"{}\" runs less than twice around now: max_age_h {} + "
                                  "grace_h {}",
                                  job.id, job.schedule, policy.max_age_h, policy.grace_h)};
  }
  return {*gap + grace, fmt::format("job {} \"{}\" ({}) runs at most {} apart, + grace_h {}",
                                    job.id, job.schedule, zone, format_age(*gap), policy.grace_h)};
}

bool job_selects(const pve::BackupJob& job, int64_t vmid, const std::string& node,
                 const std::map<std::string, Read<pve::Pool>>& pools) {
  if (job.node && !job.node->empty() && *job.node != node) return false;
  if (job.all) return std::find(job.exclude.begin(), job.exclude.end(), vmid) == job.exclude.end();
  if (std::find(job.vmids.begin(), job.vmids.end(), vmid) != job.vmids.end()) return true;
  if (job.pool) {
    auto p = pools.find(*job.pool);
    if (p != pools.end() && p->second) {
      for (const auto& m : p->second->members) {
        if (m.vmid && *m.vmid == vmid) return true;
      }
    }
  }
  return false;
}

report::Report evaluate(const config::Config& cfg, const Observation& o) {
  report::Report rep;
  rep.checked_at = o.now;
  Builder b{rep.results};
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(o.now.time_since_epoch()).count();

  if (!o.version) {
    const auto& e = o.version.error();
    rep.error = fmt::format("the Proxmox VE API cannot be used: {}", e.describe());
  }

  // --- TLS ---
  if (cfg.pve && cfg.pve->insecure) {
    b.add("pve.tls", "cluster", Status::warning, opt("insecure"), opt("verified"),
          "insecure = true: the API's certificate is not verified, so anyone on the path can "
          "read the token",
          "copy /etc/pve/pve-root-ca.pem from a node and set ca_file to it (or pin each node's "
          "fingerprint), then remove insecure",
          "certificate not verified (insecure = true)");
  } else if (cfg.pve) {
    b.add("pve.tls", "cluster", Status::ok,
          opt(cfg.pve->ca_file ? "verified (ca_file)" : "verified (pinned fingerprint)"),
          opt("verified"),
          cfg.pve->ca_file ? "certificate verified against " + *cfg.pve->ca_file
                           : "certificate pinned by fingerprint");
  }

  // --- cluster ---
  if (!o.cluster) {
    b.add("cluster.quorum", "cluster", Status::unknown, std::nullopt, opt("quorate"),
          "cannot read cluster status: " + o.cluster.error().describe());
    b.add("cluster.two_node", "cluster", Status::unknown, std::nullopt, std::nullopt,
          "cannot read cluster status: " + o.cluster.error().describe());
  } else if (!o.cluster->is_cluster) {
    b.add("cluster.quorum", "cluster", Status::ok, opt("standalone"), opt("quorate"),
          "standalone node: no cluster quorum to lose");
    b.add("cluster.two_node", "cluster", Status::ok, opt("standalone"), std::nullopt,
          "standalone node");
  } else {
    const auto& c = *o.cluster;
    if (!c.quorate) {
      b.add("cluster.quorum", "cluster", Status::unknown, std::nullopt, opt("1"),
            "the cluster status has no quorate flag");
    } else if (*c.quorate) {
      b.add("cluster.quorum", "cluster", Status::ok, opt("1"), opt("1"),
            fmt::format("cluster {} is quorate", c.cluster_name));
    } else {
      b.add("cluster.quorum", "cluster", Status::critical, opt("0"), opt("1"),
            fmt::format("cluster {} is not quorate: guests cannot be started or changed",
                        c.cluster_name),
            "check corosync with `pvecm status`; bring the missing nodes back (or, on a "
            "two-node cluster, temporarily `pvecm expected 1`)");
    }
    const auto n = c.nodes.size();
    {
      auto online = std::count_if(c.nodes.begin(), c.nodes.end(),
                                  [](const pve::ClusterNode& node) { return node.online; });
      auto m = measure("cluster", "nodes_online", static_cast<double>(online), report::Unit::none);
      m.max = static_cast<double>(n);
      rep.measurements.push_back(std::move(m));
    }
    if (n != 2) {
      b.add("cluster.two_node", "cluster", Status::ok, opt(fmt::format("{} nodes", n)),
            std::nullopt, fmt::format("{} nodes", n));
    } else if (!o.qdevice) {
      b.add("cluster.two_node", "cluster", Status::unknown, opt("2 nodes"), opt("QDevice"),
            "cannot read the QDevice configuration: " + o.qdevice.error().describe());
    } else if (o.qdevice->configured) {
      b.add("cluster.two_node", "cluster", Status::ok, opt("2 nodes + QDevice"), opt("QDevice"),
            "two nodes with a QDevice: one node can fail without losing quorum");
    } else {
      b.add("cluster.two_node", "cluster", Status::warning, opt("2 nodes, no QDevice"),
            opt("QDevice"),
            "two nodes without a QDevice: when one fails, the survivor loses quorum and cannot "
            "start the other tunnel guest",
            "add a QDevice on a third machine: `pvecm qdevice setup <ip>`");
    }
  }

  // --- token privileges ---
  Visibility vis;
  std::vector<Missing> missing;
  if (o.permissions) {
    vis.known = true;
    const auto& perm = *o.permissions;
    auto need = [&](const std::string& priv, const std::string& path, std::string why,
                    bool blocks) {
      if (!perm.has(path, priv)) missing.push_back(Missing{priv, path, std::move(why), blocks});
    };
    need("Sys.Audit", "/", "read cluster status and backup jobs", true);
    std::set<std::string> nodes_seen;
    for (size_t i = 0; i < cfg.guests.size(); ++i) {
      const auto& g = cfg.guests[i];
      const auto& go = i < o.guests.size() ? o.guests[i] : GuestObservation{};
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
    // One entry per privilege and path.
    std::sort(missing.begin(), missing.end(), [](const Missing& a, const Missing& b) {
      return std::tie(a.path, a.privilege) < std::tie(b.path, b.privilege);
    });
    missing.erase(std::unique(missing.begin(), missing.end(),
                              [](const Missing& a, const Missing& b) {
                                return a.path == b.path && a.privilege == b.privilege;
                              }),
                  missing.end());
    if (missing.empty()) {
      b.add("token.privileges", "token", Status::ok, opt("all needed privileges"),
            opt("all needed privileges"),
            "the token has every privilege check and the enabled enforcement need");
    } else {
      bool blocks = false;
      std::string observed, message, remediation;
      for (const auto& m : missing) {
        blocks |= m.blocks_check;
        observed +=
            fmt::format("{}{} on {}", observed.empty() ? "missing " : ", ", m.privilege, m.path);
        message += fmt::format("{}{} on {} (to {})", message.empty() ? "" : "; ", m.privilege,
                               m.path, m.why);
      }
      const std::string token = cfg.pve ? cfg.pve->token_id : std::string("USER@REALM!TOKEN");
      const std::string user = token.substr(0, token.find('!'));
      // With privilege separation a token has what both it and its user were granted: the same
      // ACLs go to the user and to the token.
      remediation = fmt::format(
          "grant them to the user and the token (a privilege-separated token has only what both "
          "were given), e.g. `pveum acl modify / --users '{0}' --tokens '{1}' --roles "
          "PVEAuditor` for reading, and a role with Datastore.AllocateSpace + VM.Backup on "
          "/storage and /vms to see backups; the README lists the exact lines per feature",
          user, token);
      b.add("token.privileges", "token", blocks ? Status::critical : Status::warning, opt(observed),
            opt("all needed privileges"), "the token lacks " + message, remediation);
    }
  } else {
    b.add("token.privileges", "token", Status::unknown, std::nullopt, opt("all needed privileges"),
          "cannot read the token's permissions: " + o.permissions.error().describe());
  }

  // --- guests ---
  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& g = cfg.guests[i];
    const GuestObservation empty;
    const auto& go = i < o.guests.size() ? o.guests[i] : empty;
    const std::string& name = g.name;
    const std::string tool = cli_for(g.type);
    std::vector<std::string> rules = {"guest.exists", "guest.node", "guest.type", "guest.template",
                                      "guest.onboot"};
    if (g.startup_order) rules.push_back("guest.startup");
    for (auto r : {"guest.running", "guest.lock", "backup.job", "backup.age", "backup.task"}) {
      rules.push_back(r);
    }
    auto all_unknown = [&](const std::string& why, size_t from = 0) {
      for (size_t k = from; k < rules.size(); ++k) {
        b.add(rules[k], name, Status::unknown, std::nullopt, std::nullopt, why);
      }
    };
    if (!o.resources) {
      all_unknown("cannot list the cluster's guests: " + o.resources.error().describe());
      continue;
    }
    if (vis.hidden_guests.count(g.vmid)) {
      all_unknown(
          fmt::format("the token cannot see guest {} (needs VM.Audit on {}): see token.privileges",
                      g.vmid, vm_path(g.vmid)));
      continue;
    }
    if (!go.resource) {
      b.add("guest.exists", name, Status::critical, opt("absent"),
            opt(fmt::format("{} {}", to_string(g.type), g.vmid)),
            fmt::format("no guest with vmid {} in the cluster", g.vmid),
            fmt::format("restore guest {} from its backup (`qmrestore`/`pct restore`) or fix "
                        "vmid in the config",
                        g.vmid));
      all_unknown("guest not found", 1);
      continue;
    }
    const auto& r = *go.resource;
    b.add("guest.exists", name, Status::ok, opt(fmt::format("{} {} on {}", r.type, r.vmid, r.node)),
          opt(fmt::format("{} {}", to_string(g.type), g.vmid)),
          fmt::format("{} {} exists", r.type, r.vmid));
    if (r.node == g.node) {
      b.add("guest.node", name, Status::ok, opt(r.node), opt(g.node), "on the configured node");
    } else {
      b.add("guest.node", name, Status::warning, opt(r.node), opt(g.node),
            fmt::format("runs on {} instead of {}: both tunnels may now share one node", r.node,
                        g.node),
            fmt::format("`{} migrate {} {}` when {} is back, or update node in the config", tool,
                        g.vmid, g.node, g.node));
    }
    if (r.type == to_string(g.type)) {
      b.add("guest.type", name, Status::ok, opt(r.type), opt(std::string(to_string(g.type))),
            "type as configured");
    } else {
      b.add("guest.type", name, Status::critical, opt(r.type), opt(std::string(to_string(g.type))),
            fmt::format("vmid {} is a {} guest, the config says {}", g.vmid, r.type,
                        to_string(g.type)),
            "fix type or vmid in the config");
    }
    const bool node_down =
        r.status == "unknown" ||
        (go.config && !*go.config && go.config->error().kind == pve::ErrorKind::node_unreachable);
    const bool is_template =
        r.is_template || (go.config && *go.config && (*go.config)->is_template);
    if (is_template) {
      b.add("guest.template", name, Status::critical, opt("1"), opt("0"),
            fmt::format("{} is a template and cannot run", g.vmid),
            "point the config at the guest cloned from the template");
    } else {
      b.add("guest.template", name, Status::ok, opt("0"), opt("0"), "not a template");
    }
    // Config-based rules.
    if (!go.config || !*go.config) {
      std::string why = !go.config
                            ? std::string("config not read")
                            : "cannot read the guest config: " + go.config->error().describe();
      b.add("guest.onboot", name, Status::unknown, std::nullopt, opt("1"), why);
      if (g.startup_order) {
        b.add("guest.startup", name, Status::unknown, std::nullopt,
              opt(fmt::format("order={}", *g.startup_order)), why);
      }
    } else {
      const auto& c = **go.config;
      if (c.onboot) {
        b.add("guest.onboot", name, Status::ok, opt("1"), opt("1"), "starts at boot");
      } else {
        b.add("guest.onboot", name, Status::critical, opt("0"), opt("1"),
              "not started at boot: after a power loss this tunnel stays down",
              fmt::format("`{} set {} --onboot 1`", tool, g.vmid), "not set to start at boot");
      }
      if (g.startup_order) {
        auto spec = c.startup ? pve::parse_startup(*c.startup) : std::nullopt;
        const std::string want = fmt::format("order={}", *g.startup_order);
        if (spec && spec->order && *spec->order == *g.startup_order) {
          b.add("guest.startup", name, Status::ok, opt(*c.startup), opt(want),
                "startup order as configured");
        } else {
          b.add("guest.startup", name, Status::warning, opt(c.startup.value_or("unset")), opt(want),
                c.startup ? "startup order differs from the config" : "no startup order set",
                fmt::format("`{} set {} --startup {}`", tool, g.vmid, want));
        }
      }
    }
    if (node_down) {
      b.add("guest.running", name, Status::unknown, opt(r.status), opt("running"),
            fmt::format("node {} cannot be reached: the guest's state is unknown", r.node), "",
            fmt::format("{} offline", r.node));
    } else if (r.status == "running") {
      b.add("guest.running", name, Status::ok, opt("running"), opt("running"), "running");
    } else {
      const bool ha = r.hastate.has_value() && !r.hastate->empty();
      b.add("guest.running", name, Status::critical, opt(r.status), opt("running"),
            fmt::format("{} {} is {}: its tunnel is down", r.type, g.vmid, r.status),
            ha ? fmt::format("`ha-manager set {}:{} --state started`",
                             g.type == config::GuestType::qemu ? "vm" : "ct", g.vmid)
               : fmt::format("`{} start {}`", tool, g.vmid),
            fmt::format("{} {}", r.type == "lxc" ? "container" : "VM", r.status));
    }
    std::optional<std::string> lock = r.lock;
    if (go.config && *go.config && (*go.config)->lock) lock = (*go.config)->lock;
    if (lock && !lock->empty()) {
      b.add("guest.lock", name, Status::warning, opt(*lock), opt("none"),
            fmt::format("locked ({}): start, config changes and backups wait for it", *lock),
            fmt::format("wait for the {0} to finish; if it is stale: `{1} unlock {2}`", *lock, tool,
                        g.vmid));
    } else if (node_down) {
      b.add("guest.lock", name, Status::unknown, std::nullopt, opt("none"),
            fmt::format("node {} cannot be reached", r.node));
    } else {
      b.add("guest.lock", name, Status::ok, opt("none"), opt("none"), "no lock");
    }

    // --- backup ---
    const pve::BackupJob* job = nullptr;
    if (!o.jobs) {
      b.add("backup.job", name, Status::unknown, std::nullopt, opt("an enabled job"),
            "cannot read backup jobs: " + o.jobs.error().describe());
    } else {
      job = covering_job(*o.jobs, g.vmid, r.node, o.pools, true);
      if (job) {
        auto node_time = o.node_times.find(r.node);
        const std::string runs =
            job_runs(*job, node_time == o.node_times.end() ? nullptr : &node_time->second, o.now);
        b.add("backup.job", name, Status::ok, opt(job->id), opt("an enabled job"),
              fmt::format("covered by job {} ({}{}){}", job->id, job->schedule,
                          job->storage ? " to " + *job->storage : "",
                          runs.empty() ? "" : ": " + runs));
      } else {
        std::vector<std::string> unreadable;
        for (const auto& [pool, read] : o.pools) {
          if (!read) unreadable.push_back(pool);
        }
        const auto* disabled = covering_job(*o.jobs, g.vmid, r.node, o.pools, false);
        if (!unreadable.empty()) {
          b.add("backup.job", name, Status::unknown, std::nullopt, opt("an enabled job"),
                fmt::format("no job names {} directly and the members of pool {} cannot be read",
                            g.vmid, unreadable.front()));
        } else {
          b.add("backup.job", name, Status::critical,
                opt(disabled ? disabled->id + " (disabled)" : "none"), opt("an enabled job"),
                disabled ? fmt::format("only the disabled job {} covers {}", disabled->id, g.vmid)
                         : fmt::format("no enabled backup job covers {}", g.vmid),
                disabled ? fmt::format("enable it: `pvesh set /cluster/backup/{} --enabled 1`",
                                       disabled->id)
                         : fmt::format("add {} to a backup job (Datacenter > Backup)", g.vmid));
        }
      }
    }
    // backup.age
    auto time_of_node = o.node_times.find(r.node);
    const BackupAllowance allowance = allowed_backup_age(
        cfg.backup, job, time_of_node == o.node_times.end() ? nullptr : &time_of_node->second,
        o.now);
    const auto allowed = allowance.allowed;
    const std::string allowed_s =
        fmt::format("<= {}h", std::chrono::ceil<std::chrono::hours>(allowed).count());
    std::optional<pve::BackupVolume> newest;
    std::optional<pve::BackupVolume> newest_pbs;
    std::string unreadable_storage;
    for (const auto& sb : go.backups) {
      if (!sb.volumes) {
        unreadable_storage = sb.storage + ": " + sb.volumes.error().describe();
        continue;
      }
      for (const auto& v : *sb.volumes) {
        if (v.vmid != g.vmid) continue;
        if (!newest || v.ctime > newest->ctime) newest = v;
        if (sb.plugintype == "pbs" && (!newest_pbs || v.ctime > newest_pbs->ctime)) newest_pbs = v;
      }
    }
    if (node_down) {
      b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
            fmt::format("node {} cannot be reached", r.node));
    } else if (vis.hidden_backups.count(g.vmid) && !newest) {
      b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
            "the token cannot see this guest's backups (see token.privileges)");
    } else if (!unreadable_storage.empty() && !newest) {
      b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
            "cannot list backups on " + unreadable_storage);
    } else if (newest && !o.jobs) {
      // Without the jobs the allowed age is a guess: max_age_h could call a backup fresh that
      // the job's schedule says is overdue.
      b.add("backup.age", name, Status::unknown,
            opt(fmt::format("{} ({})", format_age(std::chrono::seconds(now_s - newest->ctime)),
                            utc(newest->ctime))),
            std::nullopt,
            "cannot read the backup jobs, so the allowed age is unknown: " +
                o.jobs.error().describe());
    } else if (!newest) {
      b.add("backup.age", name, Status::critical, opt("no backup"), opt(allowed_s),
            go.backups.empty()
                ? fmt::format("no storage with backup content is available on {}", r.node)
                : "no backup of this guest on any backup storage",
            fmt::format("run a backup now: `vzdump {} --storage <storage>`", g.vmid));
    } else {
      const auto age = std::chrono::seconds(now_s - newest->ctime);
      const std::string observed = fmt::format("{} ({})", format_age(age), utc(newest->ctime));
      rep.measurements.push_back(measure(name, "backup_age", static_cast<double>(age.count()),
                                         report::Unit::seconds,
                                         static_cast<double>(allowed.count())));
      rep.measurements.push_back(
          measure(name, "backup_size", static_cast<double>(newest->size), report::Unit::bytes));
      if (age <= allowed) {
        b.add("backup.age", name, Status::ok, opt(observed), opt(allowed_s),
              fmt::format("newest backup {} is fresh enough ({})", newest->volid, allowance.basis));
      } else {
        b.add("backup.age", name, Status::critical, opt(observed), opt(allowed_s),
              fmt::format("newest backup {} is older than allowed ({})", newest->volid,
                          allowance.basis),
              fmt::format("check the backup job and run one now: `vzdump {}`", g.vmid),
              fmt::format("newest backup {} old (allowed {})", format_age(age), allowed_s));
      }
    }
    // backup.task
    auto nt = o.node_tasks.find(r.node);
    if (node_down || nt == o.node_tasks.end()) {
      b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
            node_down ? fmt::format("node {} cannot be reached", r.node) : "task list not read");
    } else if (!nt->second.tasks) {
      b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
            "cannot list vzdump tasks: " + nt->second.tasks.error().describe());
    } else {
      std::optional<GuestBackupOutcome> outcome;
      std::string task_node = r.node;
      bool unreadable_log = false;
      auto search = [&](const NodeTasks& tasks) -> std::optional<GuestBackupOutcome> {
        if (!tasks.tasks) return std::nullopt;
        for (const auto& task : *tasks.tasks) {
          auto log = tasks.logs.find(task.upid);
          const std::vector<pve::TaskLogLine>* lines = nullptr;
          if (log != tasks.logs.end()) {
            if (log->second) {
              lines = &*log->second;
            } else {
              unreadable_log = true;
            }
          }
          if (!task_covers(task, lines, g.vmid)) continue;
          auto out = outcome_for(task, lines, g.vmid);
          if (out.result == GuestBackupOutcome::Result::running) continue;
          return out;
        }
        return std::nullopt;
      };
      outcome = search(nt->second);
      // The guest moved since its last backup: that backup's task is on the node it was on.
      for (size_t k = 1; !outcome && k < go.task_nodes.size(); ++k) {
        auto other = o.node_tasks.find(go.task_nodes[k]);
        if (other == o.node_tasks.end()) continue;
        outcome = search(other->second);
        if (outcome) task_node = go.task_nodes[k];
      }
      const std::string where = task_node == r.node ? "" : fmt::format(" on {}", task_node);
      if (!outcome) {
        if (vis.hidden_task_nodes.count(r.node)) {
          b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
                fmt::format(
                    "the token cannot see root@pam's tasks on {} (needs Sys.Audit on /nodes/{})",
                    r.node, r.node));
        } else if (unreadable_log) {
          b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
                "some vzdump task logs could not be read");
        } else {
          b.add("backup.task", name, Status::warning, opt("none"), opt("OK"),
                fmt::format("no vzdump task for {} in the recent task history of {}", g.vmid,
                            go.task_nodes.empty()
                                ? r.node
                                : fmt::format("{}", fmt::join(go.task_nodes, ", "))),
                fmt::format("run a backup: `vzdump {}`", g.vmid));
        }
      } else {
        const std::string when = utc(outcome->starttime);
        switch (outcome->result) {
          case GuestBackupOutcome::Result::ok:
            b.add("backup.task", name, Status::ok, opt("OK"), opt("OK"),
                  fmt::format("last vzdump task ({}{}) backed it up", when, where));
            break;
          case GuestBackupOutcome::Result::warnings:
            b.add(
                "backup.task", name, Status::warning, opt(outcome->detail), opt("OK"),
                fmt::format("last vzdump task ({}{}) ended with warnings", when, where),
                fmt::format("read the log on {}: `pvenode task log {}`", task_node, outcome->upid),
                "last backup ended with warnings");
            break;
          default:
            b.add("backup.task", name, Status::critical, opt(outcome->detail), opt("OK"),
                  fmt::format("last vzdump task ({}{}) failed for {}", when, where, g.vmid),
                  fmt::format("read the log on {}: `pvenode task log {}`, fix the cause, run "
                              "`vzdump {}`",
                              task_node, outcome->upid, g.vmid),
                  "last backup failed");
        }
      }
    }
    // backup.verification: only where the storage verifies (PBS).
    if (newest_pbs) {
      const auto& v = *newest_pbs;
      const auto verify_grace = std::chrono::hours(cfg.backup.verify_grace_h);
      const auto backup_age = std::chrono::seconds(now_s - v.ctime);
      if (!v.verification && backup_age <= verify_grace) {
        b.add("backup.verification", name, Status::ok, opt("not verified yet"), opt("ok"),
              fmt::format("{} is {} old: not verified yet, which is fine for up to "
                          "verify_grace_h {}h",
                          v.volid, format_age(backup_age), cfg.backup.verify_grace_h));
      } else if (!v.verification) {
        b.add("backup.verification", name, Status::warning, opt("never verified"), opt("ok"),
              fmt::format("{} is {} old and has never been verified (verify_grace_h {}h)", v.volid,
                          format_age(backup_age), cfg.backup.verify_grace_h),
              "add a verify job on the PBS datastore that runs after the backup window",
              "newest backup never verified");
      } else if (v.verification->state == "ok") {
        b.add("backup.verification", name, Status::ok, opt("ok"), opt("ok"),
              fmt::format("{} verified", v.volid));
      } else {
        b.add("backup.verification", name, Status::critical, opt(v.verification->state), opt("ok"),
              fmt::format("verification of {} {}", v.volid, v.verification->state),
              "inspect the verify task on PBS and make a new backup");
      }
    }
  }

  // --- tunnels ---
  for (const auto& t : cfg.tunnels) {
    if (!t.control_url) continue;
    auto w = o.workers.find(t.name);
    if (w == o.workers.end() || !w->second) {
      std::string why = w == o.workers.end() ? "not read" : w->second.error().message;
      b.add("tunnel.worker", t.name, Status::critical, opt("unreachable"), opt("serving"),
            "the worker's control API cannot be reached: " + why,
            fmt::format("on the guest: `systemctl status {}` and `pvectl-tunnel tunnel status "
                        "--name {}`",
                        worker_unit(t.name), t.name));
      b.add("tunnel.probe", t.name, Status::unknown, std::nullopt, opt("ok"), "worker unreachable");
      continue;
    }
    const auto& s = *w->second;
    const bool drained = s.state == "drained" || s.state == "draining";
    if (drained) {
      b.add("tunnel.worker", t.name, Status::warning, opt(s.state), opt("serving"),
            "drained for maintenance: traffic goes to the other tunnel",
            fmt::format("when the maintenance is done, resume it: `curl -H \"Authorization: Bearer "
                        "$(cat {})\" -d '' {}/v1/resume`",
                        t.control_token_file.value_or("CONTROL_TOKEN_FILE"),
                        t.control_url.value_or("CONTROL_URL")));
    } else if (s.forward && s.state == "serving") {
      b.add("tunnel.worker", t.name, Status::ok, opt(fmt::format("serving {}", *s.forward)),
            opt("serving"), fmt::format("forward {} bound on {}", *s.forward, s.vps));
    } else {
      b.add("tunnel.worker", t.name, Status::critical, opt(s.state), opt("serving"),
            fmt::format("no bound forward (state {}{})", s.state,
                        s.last_error ? ", last error: " + *s.last_error : ""),
            fmt::format("see the worker's log: `journalctl -u {}`", worker_unit(t.name)));
    }
    if (!t.probe) {
      b.add("tunnel.probe", t.name, Status::ok, opt("disabled"), opt("disabled"),
            "probe disabled in the config");
    } else if (drained) {
      b.add("tunnel.probe", t.name, Status::warning, opt("paused"), opt("ok"),
            "probe paused while drained");
    } else if (!s.probe.ok) {
      b.add("tunnel.probe", t.name, Status::warning, opt("none yet"), opt("ok"),
            "no probe result yet");
    } else {
      auto at = s.probe.at ? parse_rfc3339(*s.probe.at) : std::nullopt;
      const int64_t stale_after = 3LL * t.probe_interval_s;
      if (!*s.probe.ok) {
        b.add("tunnel.probe", t.name, Status::critical, opt("failed"), opt("ok"),
              "the end-to-end probe through the VPS failed",
              "check the internal nginx on " + t.local.str() + " and the VPS forward");
      } else if (!at || now_s - *at > stale_after) {
        b.add("tunnel.probe", t.name, Status::critical, opt(s.probe.at.value_or("never")),
              opt("ok"), fmt::format("the last successful probe is older than {} s", stale_after),
              "the worker's event loop may be stuck: restart it");
      } else {
        b.add("tunnel.probe", t.name, Status::ok,
              opt(fmt::format("ok ({} ms)", s.probe.latency_ms.value_or(0))), opt("ok"),
              "end-to-end probe through the VPS succeeded");
      }
      if (s.probe.latency_ms) {
        rep.measurements.push_back(measure(t.name, "probe_latency",
                                           static_cast<double>(*s.probe.latency_ms) / 1000.0,
                                           report::Unit::seconds));
      }
    }
  }
  return rep;
}

}  // namespace pvt::check
