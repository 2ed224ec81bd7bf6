#include "controller/loop/controller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/utc_time.h"
#include "controller/check/lookups.h"
#include "controller/check/rules.h"
#include "controller/loop/executor.h"
#include "controller/planner/observe.h"

namespace pvt::controller {
namespace {

using Json = nlohmann::json;
using planner::ActionKind;
using planner::GuestPhase;

const char* type_name(config::GuestType t) { return t == config::GuestType::qemu ? "qemu" : "lxc"; }

// Starts in the configured startup order, so that what must come up first is asked first; the
// other actions keep the planner's order.
void order_starts(std::vector<planner::Action>& actions, const config::Config& cfg) {
  auto order = [&](const planner::Action& a) {
    const auto* g = cfg.find_guest(a.target);
    return g && g->startup_order ? *g->startup_order : INT32_MAX;
  };
  std::stable_sort(actions.begin(), actions.end(),
                   [&](const planner::Action& a, const planner::Action& b) {
                     const bool sa = a.kind == ActionKind::start_guest;
                     const bool sb = b.kind == ActionKind::start_guest;
                     if (sa != sb) return sa;
                     return sa && order(a) < order(b);
                   });
}

}  // namespace

Controller::Controller(config::Config cfg, Env& env, ControllerOptions options)
    : cfg_(std::move(cfg)),
      env_(env),
      options_(std::move(options)),
      policy_(planner::policy_from_config(cfg_)) {
  status_.node = options_.node;
  status_.dry_run = options_.dry_run;
}

std::vector<std::string> Controller::tunnel_names() const {
  std::lock_guard lock(status_mu_);
  std::vector<std::string> out;
  for (const auto& t : cfg_.tunnels) out.push_back(t.name);
  return out;
}

void Controller::reload(config::Config cfg) {
  {
    std::lock_guard lock(status_mu_);
    cfg_ = std::move(cfg);
  }
  policy_ = planner::policy_from_config(cfg_);
  for (auto it = history_.guests.begin(); it != history_.guests.end();) {
    it = cfg_.find_guest(it->first) ? std::next(it) : history_.guests.erase(it);
  }
  for (auto it = history_.unhealthy_cycles.begin(); it != history_.unhealthy_cycles.end();) {
    it = cfg_.find_tunnel(it->first) ? std::next(it) : history_.unhealthy_cycles.erase(it);
  }
  reader_.refresh_backups();
  would_last_cycle_.clear();
}

std::map<std::string, planner::ObservedTask> Controller::read_tasks() {
  std::map<std::string, planner::ObservedTask> out;
  for (const auto& [name, m] : history_.guests) {
    if (m.state.phase != GuestPhase::start_requested &&
        m.state.phase != GuestPhase::backup_requested) {
      continue;
    }
    const auto upid = pve::Upid::parse(m.state.upid);
    if (!upid) continue;
    // A task whose status cannot be read now is left out: the guest waits for it another cycle.
    auto st = env_.pve().task_status(upid->node, m.state.upid);
    if (!st) continue;
    planner::ObservedTask t;
    if (!st->running()) {
      t.exitstatus = st->exitstatus.value_or("");
      t.progress = pve::exitstatus_ok(t.exitstatus) ? planner::TaskProgress::ok
                                                    : planner::TaskProgress::failed;
    }
    out.emplace(m.state.upid, t);
  }
  return out;
}

void Controller::read_workers(check::Observation& o, std::vector<std::string>& lines) {
  for (const auto& t : cfg_.tunnels) {
    auto* w = env_.worker(t.name);
    if (w == nullptr) continue;
    auto st = w->status();
    std::string now = st ? st->state : "unreachable: " + st.error().message;
    if (st && tunnel::worker_state(st->state) == tunnel::WorkerState::serving && !st->forward) {
      now += " (no forward bound)";
    }
    // Logged when it changes, so that the log tells the worker's story next to the guests'.
    auto& said = worker_said_[t.name];
    if (said != now) {
      lines.push_back(said.empty() ? fmt::format("tunnel {}: worker {}", t.name, now)
                                   : fmt::format("tunnel {}: worker {} => {}", t.name, said, now));
      said = now;
    }
    o.workers.emplace(t.name, std::move(st));
  }
}

std::vector<std::string> Controller::run_cycle() {
  std::vector<std::string> lines;
  const auto now = env_.clock().now();
  cycle_at_ = format_utc(now);

  // Leadership first: a controller that cannot renew stops acting in this very cycle. A dry run
  // never takes the lease from a real controller.
  bool leader = false;
  if (!options_.dry_run) {
    auto held = env_.lease().update(now);
    leader = held && *held;
    const std::string why = held ? env_.lease().why() : held.error().message;
    if (leader != was_leader_) {
      lines.push_back(leader ? "leader: acquired the lock; acting"
                             : fmt::format("leader: lost the lock ({}); not acting", why));
    } else if (!leader && why != last_lease_why_) {
      lines.push_back(fmt::format("follower: {}", why));
    }
    was_leader_ = leader;
    last_lease_why_ = why;
  }

  auto o = reader_.read(cfg_, env_.pve(), now);
  read_workers(o, lines);
  std::map<std::string, maintenance::Flag> flags;
  if (auto active = env_.maintenance().active()) {
    flags = std::move(*active);
  } else {
    lines.push_back(fmt::format("maintenance flags not readable: {}", active.error().message));
  }
  for (const auto& [tunnel, flag] : flags) maintenance_seen_.insert(tunnel);
  auto observed = planner::observe(cfg_, o, read_tasks(), flags);
  note_api_errors(o, lines);

  // One vzdump per node at a time: where a backup may be planned, look for a running one.
  if (policy_.enforce.count(ActionKind::backup_guest) || options_.dry_run) {
    std::set<std::string> nodes;
    for (const auto& [name, og] : observed.guests) {
      if (og.backup_overdue && *og.backup_overdue && og.node_online) nodes.insert(og.node);
    }
    if (!nodes.empty()) observed.nodes_backing_up = reader_.nodes_backing_up(env_.pve(), nodes);
  }

  std::set<std::string> backups_pending;
  for (const auto& [name, m] : history_.guests) {
    if (m.state.phase == GuestPhase::backup_requested) backups_pending.insert(name);
  }
  auto plan = planner::plan(cfg_, observed, history_, policy_, now);
  history_ = std::move(plan.next);
  // A backup that ended changes what the storages hold: read them again next cycle.
  for (const auto& name : backups_pending) {
    if (history_.guests[name].state.phase != GuestPhase::backup_requested) {
      reader_.refresh_backups();
    }
  }
  // What the planner says about a state that lasts ("would start ...", "waiting for ...") is
  // logged when it first appears, not every cycle; state changes never repeat by themselves.
  std::set<std::string> said;
  for (auto& l : plan.log) {
    if (!plan_said_last_cycle_.count(l)) lines.push_back(l);
    said.insert(std::move(l));
  }
  plan_said_last_cycle_ = std::move(said);
  order_starts(plan.actions, cfg_);
  act(plan, leader, now, lines);
  if (leader) drive_maintenance(o, observed, lines);
  publish(o, observed, leader);

  for (const auto& l : lines) spdlog::info("{}", l);
  return lines;
}

void Controller::act(const planner::Plan& plan, bool leader,
                     std::chrono::system_clock::time_point now, std::vector<std::string>& lines) {
  std::set<std::string> would;
  for (const auto& a : plan.actions) {
    if (!a.enforced || options_.dry_run) {
      // Audit only: recorded once while it stays planned, not every cycle.
      const std::string what = a.describe();
      would.insert(what);
      if (!would_last_cycle_.count(what)) {
        if (a.enforced) lines.push_back("dry run: " + what);
        audit(a, options_.dry_run ? "dry-run" : "would", "", "", now);
      }
      continue;
    }
    if (!leader) continue;  // followers plan too, so that a hand-over starts from a fresh view
    lines.push_back(a.describe());
    const auto outcome = execute(a, env_);
    if (outcome.ok) lines.push_back(fmt::format("{} {}: ok", to_string(a.kind), a.target));
    planner::record_outcome(history_, a, outcome, policy_, now, lines);
    audit(a, outcome.ok ? "ok" : "failed", outcome.error, outcome.upid, now);
  }
  would_last_cycle_ = std::move(would);
}

void Controller::drive_maintenance(const check::Observation& o, const planner::Observed& observed,
                                   std::vector<std::string>& lines) {
  if (options_.dry_run) return;
  for (const auto& t : cfg_.tunnels) {
    auto* worker = env_.worker(t.name);
    auto ws = o.workers.find(t.name);
    if (worker == nullptr || ws == o.workers.end() || !ws->second) continue;
    const bool flagged = observed.maintenance.count(t.name) > 0;
    const bool drained = tunnel::drained_or_draining(*ws->second);
    if (flagged && !drained) {
      auto r = worker->drain();
      lines.push_back(fmt::format("tunnel {}: planned maintenance: drain {}", t.name,
                                  r ? "asked" : "failed: " + r.error().message));
      audit_event("drain", t.name, r ? "ok" : "failed", r ? "" : r.error().message);
    } else if (!flagged && drained &&
               (maintenance_seen_.count(t.name) ||
                policy_.enforce.count(ActionKind::reconnect_worker))) {
      // The maintenance this controller saw has ended (or reconnect is enforced, and a worker
      // drained by hand is not carrying traffic for no reason).
      auto r = worker->resume();
      lines.push_back(fmt::format("tunnel {}: no planned maintenance: resume {}", t.name,
                                  r ? "asked" : "failed: " + r.error().message));
      audit_event("resume", t.name, r ? "ok" : "failed", r ? "" : r.error().message);
      if (r) maintenance_seen_.erase(t.name);
    }
  }
}

void Controller::audit(const planner::Action& a, const std::string& result,
                       const std::string& error, const std::string& upid,
                       std::chrono::system_clock::time_point now) {
  Json rec{{"at", format_utc(now)},
           {"controller", options_.node},
           {"action", to_string(a.kind)},
           {"target", a.target},
           {"enforced", a.enforced && !options_.dry_run},
           {"result", result},
           {"reason", a.reason},
           {"description", a.describe()}};
  if (a.kind != ActionKind::reconnect_worker) {
    rec["node"] = a.node;
    rec["vmid"] = a.vmid;
    rec["type"] = type_name(a.type);
  }
  if (!upid.empty()) rec["upid"] = upid;
  record(std::move(rec), error);
}

void Controller::audit_event(const std::string& kind, const std::string& target,
                             const std::string& result, const std::string& detail) {
  record(Json{{"at", format_utc(env_.clock().now())},
              {"controller", options_.node},
              {"action", kind},
              {"target", target},
              {"enforced", true},
              {"result", result}},
         detail);
}

void Controller::record(Json rec, const std::string& error) {
  if (!error.empty()) rec["error"] = error;
  write_audit(rec);
  const std::string result = rec["result"];
  recent_.push_back({rec["at"], rec["action"], rec["target"], rec["enforced"],
                     result == "failed" ? "failed: " + error : result});
  while (recent_.size() > options_.recent_actions) recent_.pop_front();
  ++actions_total_[{rec["action"], result}];
}

void Controller::write_audit(const Json& rec) {
  if (auto r = env_.audit().append(rec); !r) spdlog::error("audit log: {}", r.error().message);
}

void Controller::note_api_errors(const check::Observation& o, std::vector<std::string>& lines) {
  std::set<std::string> errors;
  auto note = [&](const auto& read) {
    if (!read && read.error().kind != pve::ErrorKind::node_unreachable) {
      errors.insert(read.error().describe());
    }
  };
  note(o.cluster);
  note(o.resources);
  for (const auto& go : o.guests) {
    if (go.config) note(*go.config);
  }
  api_errors_ += errors.size();
  // Each failure is logged when it first appears, not every cycle it lasts.
  for (const auto& e : errors) {
    if (!api_errors_last_cycle_.count(e)) lines.push_back("PVE API: " + e);
  }
  api_errors_last_cycle_ = std::move(errors);
}

void Controller::publish(const check::Observation& o, const planner::Observed& observed,
                         bool leader) {
  status::ControllerStatus s;
  s.node = options_.node;
  s.leader = leader;
  s.leader_why = options_.dry_run ? "dry run: never takes the lock" : leader ? "" : last_lease_why_;
  s.dry_run = options_.dry_run;
  s.cycle_at = cycle_at_;
  if (cfg_.vps.public_url) {
    if (auto via = env_.traffic_via()) s.traffic_via = *via;
  }
  for (size_t i = 0; i < cfg_.guests.size(); ++i) {
    const auto& g = cfg_.guests[i];
    status::GuestView v;
    v.name = g.name;
    v.vmid = g.vmid;
    v.type = type_name(g.type);
    const auto& og = observed.guests.at(g.name);
    v.node = og.node;
    v.power = og.found ? og.power_raw : "not found";
    v.onboot = og.onboot;
    auto m = history_.guests.find(g.name);
    v.state = m == history_.guests.end() ? "ok" : m->second.state.describe();
    const auto& go = check::observed_guest(o, i);
    if (const auto* newest = check::newest_backup(go, g.vmid)) {
      v.backup_age_s =
          std::chrono::duration_cast<std::chrono::seconds>(
              o.now - std::chrono::system_clock::time_point(std::chrono::seconds(newest->ctime)))
              .count();
    }
    if (o.jobs && og.found) {
      const auto* job = check::covering_job(*o.jobs, g.vmid, og.node, o.pools, true);
      v.backup_allowed_age_s = check::allowed_backup_age(
                                   cfg_.backup, job, check::node_time(o.node_times, og.node), o.now)
                                   .allowed.count();
    }
    s.guests.push_back(std::move(v));
  }
  for (const auto& t : cfg_.tunnels) {
    status::TunnelView v;
    v.name = t.name;
    v.role = t.role == config::TunnelRole::primary ? "primary" : "backup";
    v.maintenance = observed.maintenance.count(t.name) > 0;
    auto w = o.workers.find(t.name);
    if (w == o.workers.end()) {
      v.state = "not watched (no control_url)";
    } else if (!w->second) {
      v.state = "unreachable";
    } else {
      v.state = w->second->state;
      v.serving = tunnel::carries_traffic(*w->second);
      if (w->second->probe.latency_ms) v.probe_latency_s = *w->second->probe.latency_ms / 1000.0;
    }
    s.tunnels.push_back(std::move(v));
  }
  s.recent_actions.assign(recent_.begin(), recent_.end());
  s.actions_total = actions_total_;
  s.api_errors = api_errors_;
  std::lock_guard lock(status_mu_);
  status_ = std::move(s);
}

status::ControllerStatus Controller::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

Result<void> Controller::set_maintenance(const std::string& tunnel, bool start,
                                         const std::string& by) {
  {
    std::lock_guard lock(status_mu_);
    if (!cfg_.find_tunnel(tunnel))
      return fail(fmt::format("no tunnel \"{}\" in the config", tunnel));
  }
  auto r = start ? env_.maintenance().start(tunnel, by, env_.clock().now())
                 : env_.maintenance().stop(tunnel);
  if (!r) return r;
  spdlog::info("tunnel {}: planned maintenance {} by {}", tunnel, start ? "started" : "stopped",
               by);
  return {};
}

void Controller::shutdown(const std::string& why) {
  Json rec{{"at", format_utc(env_.clock().now())},
           {"controller", options_.node},
           {"action", "shutdown"},
           {"result", why}};
  // What was being waited for is cut: the tasks keep running in PVE, but nobody follows them.
  Json pending = Json::array();
  for (const auto& [name, m] : history_.guests) {
    if (!m.state.upid.empty()) pending.push_back({{"guest", name}, {"upid", m.state.upid}});
  }
  rec["tasks_not_followed"] = pending;
  write_audit(rec);
  if (was_leader_) env_.lease().release();
}

}  // namespace pvt::controller
