#include "controller/planner/planner.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "controller/planner/startup_property.h"

namespace pvt::planner {
namespace {

// After a failed backup the next one waits this long: a failing vzdump (full storage, a lock)
// should not run again every cycle.
constexpr std::chrono::hours kBackupRetryAfter{1};

const char* type_name(config::GuestType t) { return t == config::GuestType::qemu ? "qemu" : "lxc"; }

// Everything one cycle needs while it walks the guests.
struct Cycle {
  const Observed& observed;
  const Policy& policy;
  TimePoint now;
  Plan& plan;
  std::set<std::string> nodes_given_a_backup;  // one vzdump per node at a time
  // Guests whose backup ended this cycle: what this cycle observed of their backups predates it.
  std::set<std::string> backup_just_ended;

  Action action(ActionKind kind, const config::Guest& g, const ObservedGuest& og,
                std::string reason) const {
    Action a;
    a.kind = kind;
    a.target = g.name;
    a.enforced = policy.enforce.count(kind) > 0;
    a.reason = std::move(reason);
    a.node = og.node;
    a.vmid = g.vmid;
    a.type = g.type;
    a.digest = og.digest;
    return a;
  }

  void emit(Action a) {
    if (!a.enforced) plan.log.push_back(a.describe());
    plan.actions.push_back(std::move(a));
  }
};

void start_failed(GuestMemory& m, const Policy& policy, TimePoint now, const std::string& guest,
                  const std::string& why, std::vector<std::string>& log) {
  ++m.start_failures;
  const auto wait = start_backoff(policy, m.start_failures);
  log.push_back(
      fmt::format("guest {}: start failed ({} in a row): {}", guest, m.start_failures, why));
  set_state(m.state, GuestState::start_backoff(now + wait, wait >= policy.start_backoff_max), guest,
            log);
}

// The reasons the controller may not touch a guest at all this cycle; empty when it may.
std::string hard_gate(const Observed& o, const config::Guest& g, const ObservedGuest* og) {
  if (!o.quorate) return "cluster status not read: not acting without knowing quorum";
  if (!*o.quorate) return "cluster not quorate: PVE refuses starts and config changes";
  if (!o.guests_read) return "the guest list was not read: not acting without knowing it";
  if (og == nullptr || !og->found) {
    return fmt::format("guest {} not found (or not visible to the token)", g.vmid);
  }
  if (!og->node_online) return fmt::format("node {} is offline", og->node);
  if (og->power == PowerState::other) {
    return fmt::format("its state \"{}\" is not one to act on", og->power_raw);
  }
  if (og->is_template) return "a template cannot run";
  return "";
}

// Follows a task asked for in an earlier cycle. Returns true while it keeps the guest busy.
bool follow_pending(Cycle& c, const config::Guest& g, const ObservedGuest& og, GuestMemory& m) {
  auto& log = c.plan.log;
  if (m.state.phase == GuestPhase::start_requested) {
    if (og.power == PowerState::running) {
      // The failure count is kept until the guest has stayed up (plan_start): one that stops
      // again at once keeps backing off.
      set_state(m.state, GuestState::ok(), g.name, log);
      return false;
    }
    auto t = c.observed.tasks.find(m.state.upid);
    if (t == c.observed.tasks.end() || t->second.progress == TaskProgress::running) return true;
    // Ended, and the guest is still stopped: a failed start, or one that did not last.
    start_failed(m, c.policy, c.now, g.name,
                 t->second.progress == TaskProgress::ok
                     ? "the start task ended OK but the guest is stopped"
                     : "start task: " + t->second.exitstatus,
                 log);
    return true;
  }
  if (m.state.phase == GuestPhase::backup_requested) {
    auto t = c.observed.tasks.find(m.state.upid);
    if (t == c.observed.tasks.end() || t->second.progress == TaskProgress::running) return true;
    if (t->second.progress == TaskProgress::failed) {
      m.backup_failed_at = c.now;
      log.push_back(fmt::format("guest {}: backup failed: {}", g.name, t->second.exitstatus));
    }
    c.backup_just_ended.insert(g.name);
    set_state(m.state, GuestState::ok(), g.name, log);
    return false;
  }
  if (m.state.phase == GuestPhase::fixing_config) {
    // The change was synchronous; this cycle's observation shows whether it took.
    set_state(m.state, GuestState::ok(), g.name, log);
  }
  return false;
}

// Start a stopped guest, within the rate limits. Returns true when the guest's state is decided.
bool plan_start(Cycle& c, const config::Guest& g, const ObservedGuest& og, GuestMemory& m) {
  auto& log = c.plan.log;
  if (og.power == PowerState::running) {
    if (m.state.phase == GuestPhase::start_backoff)
      set_state(m.state, GuestState::ok(), g.name, log);
    // Up for a whole start interval: the start held, and the failures are forgotten.
    if (m.start_failures > 0 &&
        (!m.last_start || c.now - *m.last_start >= c.policy.start_min_interval)) {
      m.start_failures = 0;
    }
    return false;
  }
  // PVE's start of an HA-managed guest only sets its HA request state, overriding an
  // administrator's "stopped": the HA stack decides, not us.
  if (og.hastate && !og.hastate->empty()) {
    set_state(m.state,
              GuestState::blocked(fmt::format("HA-managed (hastate {}): PVE's HA stack decides "
                                              "whether it runs",
                                              *og.hastate)),
              g.name, log);
    return true;
  }
  if (og.lock && !og.lock->empty()) {
    set_state(m.state, GuestState::blocked(fmt::format("locked ({})", *og.lock)), g.name, log);
    return true;
  }
  if (m.state.phase == GuestPhase::start_backoff && c.now < m.state.until) return true;
  if (m.last_start && c.now - *m.last_start < c.policy.start_min_interval) {
    // It came up and went down again soon after: the start did not hold, which counts as a
    // failure, so that a flapping guest backs off like one that does not start at all.
    const auto after =
        std::chrono::duration_cast<std::chrono::seconds>(c.now - *m.last_start).count();
    start_failed(m, c.policy, c.now, g.name,
                 fmt::format("it stopped again {} s after its start", after), log);
    return true;
  }
  if (m.state.phase == GuestPhase::blocked) set_state(m.state, GuestState::ok(), g.name, log);
  c.emit(c.action(ActionKind::start_guest, g, og, fmt::format("it is {}", og.power_raw)));
  return false;
}

void plan_config(Cycle& c, const config::Guest& g, const ObservedGuest& og) {
  if (!og.config_read) return;
  if (og.lock && !og.lock->empty()) return;  // PVE refuses config changes while locked
  if (og.onboot && !*og.onboot) {
    c.emit(c.action(ActionKind::set_onboot, g, og,
                    "onboot is 0: it would stay down after a "
                    "power loss"));
  }
  if (g.startup_order && !has_startup_order(og.startup, *g.startup_order)) {
    auto merged = with_startup_order(og.startup, *g.startup_order);
    if (!merged) {
      c.plan.log.push_back(fmt::format("guest {}: startup \"{}\" cannot be read; not changed",
                                       g.name, og.startup.value_or("")));
      return;
    }
    Action a = c.action(ActionKind::set_startup, g, og,
                        fmt::format("startup is \"{}\", wanted order={}", og.startup.value_or(""),
                                    *g.startup_order));
    a.startup = *merged;
    c.emit(std::move(a));
  }
}

void plan_backup(Cycle& c, const config::Guest& g, const ObservedGuest& og, GuestMemory& m) {
  if (!og.backup_overdue || !*og.backup_overdue) return;
  auto& log = c.plan.log;
  if (og.lock && *og.lock == "backup") return;  // one is running
  if (m.state.phase == GuestPhase::backup_requested || c.backup_just_ended.count(g.name)) return;
  if (c.observed.nodes_backing_up.count(og.node) || c.nodes_given_a_backup.count(og.node)) {
    log.push_back(fmt::format("guest {}: backup overdue; waiting for the vzdump running on {}",
                              g.name, og.node));
    return;
  }
  if (m.backup_failed_at && c.now - *m.backup_failed_at < kBackupRetryAfter) return;
  const auto storage = c.policy.backup_storage ? c.policy.backup_storage : og.backup_storage;
  if (!storage) {
    log.push_back(
        fmt::format("guest {}: backup overdue, but no storage is known (set [backup] "
                    "storage or cover it with a job)",
                    g.name));
    return;
  }
  Action a = c.action(ActionKind::backup_guest, g, og, "its newest backup is overdue");
  a.storage = *storage;
  c.nodes_given_a_backup.insert(og.node);
  c.emit(std::move(a));
}

void plan_tunnels(Cycle& c, const config::Config& cfg, History& h) {
  for (const auto& t : cfg.tunnels) {
    if (!t.control_url) continue;
    int& unhealthy = h.unhealthy_cycles[t.name];
    auto ot = c.observed.tunnels.find(t.name);
    auto og = c.observed.guests.find(t.guest);
    const bool guest_runs = og != c.observed.guests.end() && og->second.found &&
                            og->second.power == PowerState::running;
    // Drained (maintenance) is as wanted; an unreachable worker cannot be asked anything.
    const bool sick = ot != c.observed.tunnels.end() && ot->second.reachable &&
                      !ot->second.serving && !ot->second.drained;
    if (c.observed.maintenance.count(t.name) || !sick || !guest_runs) {
      unhealthy = 0;
      continue;
    }
    if (++unhealthy < c.policy.reconnect_after_cycles) continue;
    unhealthy = 0;
    Action a;
    a.kind = ActionKind::reconnect_worker;
    a.target = t.name;
    a.enforced = c.policy.enforce.count(ActionKind::reconnect_worker) > 0;
    a.reason = fmt::format("no bound forward for {} cycles while its guest runs",
                           c.policy.reconnect_after_cycles);
    c.emit(std::move(a));
  }
}

}  // namespace

const char* to_string(ActionKind k) {
  switch (k) {
    case ActionKind::start_guest:
      return "start";
    case ActionKind::set_onboot:
      return "onboot";
    case ActionKind::set_startup:
      return "startup";
    case ActionKind::backup_guest:
      return "backup";
    case ActionKind::reconnect_worker:
      return "reconnect";
  }
  return "?";
}

std::optional<ActionKind> action_from_enforce(std::string_view name) {
  for (auto k : {ActionKind::start_guest, ActionKind::set_onboot, ActionKind::set_startup,
                 ActionKind::backup_guest, ActionKind::reconnect_worker}) {
    if (name == to_string(k)) return k;
  }
  return std::nullopt;
}

Policy policy_from_config(const config::Config& cfg) {
  Policy p;
  for (const auto& name : cfg.controller.enforce) {
    if (auto k = action_from_enforce(name)) p.enforce.insert(*k);
  }
  p.start_min_interval = std::chrono::seconds(cfg.controller.start_min_interval_s);
  p.start_backoff_max = std::chrono::seconds(cfg.controller.start_backoff_max_s);
  p.reconnect_after_cycles = cfg.controller.reconnect_after_cycles;
  p.backup_storage = cfg.backup.storage;
  return p;
}

std::string Action::describe() const {
  std::string what;
  switch (kind) {
    case ActionKind::start_guest:
      what = fmt::format("start {} ({} {} on {})", target, type_name(type), vmid, node);
      break;
    case ActionKind::set_onboot:
      what = fmt::format("set onboot 1 on {} ({} {})", target, type_name(type), vmid);
      break;
    case ActionKind::set_startup:
      what =
          fmt::format("set startup \"{}\" on {} ({} {})", startup, target, type_name(type), vmid);
      break;
    case ActionKind::backup_guest:
      what = fmt::format("back up {} ({} {} on {}) to {}", target, type_name(type), vmid, node,
                         storage);
      break;
    case ActionKind::reconnect_worker:
      what = fmt::format("ask the worker of {} to reconnect", target);
      break;
  }
  return fmt::format("{}{}: {}", enforced ? "" : "would ", what, reason);
}

std::chrono::seconds start_backoff(const Policy& policy, int failures) {
  auto wait = policy.start_min_interval;
  for (int i = 1; i < failures && wait < policy.start_backoff_max; ++i) wait *= 2;
  return std::min(wait, policy.start_backoff_max);
}

Plan plan(const config::Config& desired, const Observed& observed, const History& history,
          const Policy& policy, TimePoint now) {
  Plan p;
  p.next = history;
  Cycle c{observed, policy, now, p, {}, {}};
  for (const auto& g : desired.guests) {
    GuestMemory& m = p.next.guests[g.name];
    auto found = observed.guests.find(g.name);
    const ObservedGuest* og = found == observed.guests.end() ? nullptr : &found->second;
    if (auto why = hard_gate(observed, g, og); !why.empty()) {
      set_state(m.state, GuestState::blocked(why), g.name, p.log);
      continue;
    }
    if (follow_pending(c, g, *og, m)) continue;
    if (plan_start(c, g, *og, m)) continue;
    if (m.state.phase == GuestPhase::blocked) set_state(m.state, GuestState::ok(), g.name, p.log);
    plan_config(c, g, *og);
    plan_backup(c, g, *og, m);
  }
  plan_tunnels(c, desired, p.next);
  return p;
}

void record_outcome(History& history, const Action& action, const ActionOutcome& outcome,
                    const Policy& policy, TimePoint now, std::vector<std::string>& log) {
  if (action.kind == ActionKind::reconnect_worker) {
    if (!outcome.ok) {
      log.push_back(fmt::format("tunnel {}: reconnect failed: {}", action.target, outcome.error));
    }
    return;
  }
  GuestMemory& m = history.guests[action.target];
  switch (action.kind) {
    case ActionKind::start_guest:
      m.last_start = now;
      if (outcome.ok) {
        set_state(m.state, GuestState::start_requested(outcome.upid), action.target, log);
      } else {
        start_failed(m, policy, now, action.target, outcome.error, log);
      }
      break;
    case ActionKind::set_onboot:
    case ActionKind::set_startup:
      if (outcome.ok) {
        set_state(m.state, GuestState::fixing_config(), action.target, log);
      } else {
        log.push_back(fmt::format("guest {}: {} failed: {}", action.target, to_string(action.kind),
                                  outcome.error));
      }
      break;
    case ActionKind::backup_guest:
      if (outcome.ok && !outcome.no_task) {
        set_state(m.state, GuestState::backup_requested(outcome.upid), action.target, log);
      } else if (outcome.no_task) {
        log.push_back(
            fmt::format("guest {}: vzdump on {} started no task: the guest is not "
                        "there any more",
                        action.target, action.node));
      } else {
        m.backup_failed_at = now;
        log.push_back(fmt::format("guest {}: backup failed: {}", action.target, outcome.error));
      }
      break;
    case ActionKind::reconnect_worker:
      break;
  }
}

}  // namespace pvt::planner
