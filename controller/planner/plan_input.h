// What the planner decides from: the desired state (the config), what was observed this cycle,
// the policy (which corrective actions are enabled, rate limits) and what it remembers from
// earlier cycles. Plain values only: the planner reads no clock and makes no call.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "controller/planner/guest_state.h"

namespace pvt::planner {

using TimePoint = std::chrono::system_clock::time_point;

// The corrective actions a user enables one by one ([controller] enforce); without them the
// planner only says what it would do.
enum class ActionKind { start_guest, set_onboot, set_startup, backup_guest, reconnect_worker };

const char* to_string(ActionKind k);  // "start", "onboot", "startup", ...
std::optional<ActionKind> action_from_enforce(std::string_view name);  // config spelling

struct Policy {
  std::set<ActionKind> enforce;  // empty: audit only
  std::chrono::seconds start_min_interval{60};
  std::chrono::seconds start_backoff_max{900};
  int reconnect_after_cycles = 3;
  std::optional<std::string> backup_storage;  // [backup] storage: else the covering job's
};

Policy policy_from_config(const config::Config& cfg);

// A guest's power state as PVE reports it. "unknown" (a guest on an offline node) and anything
// new are `other`, which the planner never acts on.
enum class PowerState { running, stopped, other };

struct ObservedGuest {
  bool found = false;  // in /cluster/resources (seen by the token)
  PowerState power = PowerState::other;
  std::string power_raw;  // as PVE said it, for messages
  std::string node;
  bool node_online = true;
  bool is_template = false;
  std::optional<std::string> lock;
  std::optional<std::string> hastate;  // set for HA-managed guests: PVE's HA stack decides
  // From the guest's config; unset when it was not read this cycle.
  std::optional<bool> onboot;
  std::optional<std::string> startup;  // raw property, nullopt when absent (with config read)
  bool config_read = false;
  std::string digest;  // sent with a config change so a concurrent edit is not overwritten
  // Backup state, when it was evaluated this cycle.
  std::optional<bool> backup_overdue;
  std::optional<std::string> backup_storage;  // the covering job's storage
};

// How a task the planner asked for has ended (or not yet).
enum class TaskProgress { running, ok, failed };
struct ObservedTask {
  TaskProgress progress = TaskProgress::running;
  std::string exitstatus;  // "OK", "WARNINGS: 1", an error
};

struct ObservedTunnel {
  bool reachable = false;
  bool serving = false;  // forward bound
  bool drained = false;
};

struct Observed {
  std::optional<bool> quorate;                  // unset: cluster status not read
  bool guests_read = true;                      // false: /cluster/resources was not read
  std::map<std::string, ObservedGuest> guests;  // by config name
  std::map<std::string, ObservedTunnel> tunnels;
  std::map<std::string, ObservedTask> tasks;  // by UPID, for the tasks in the history
  std::set<std::string> nodes_backing_up;     // a vzdump runs there: one per node at a time
  std::set<std::string> maintenance;          // tunnels under planned maintenance
};

// What the planner carries from one cycle to the next for a guest.
struct GuestMemory {
  GuestState state;
  std::optional<TimePoint> last_start;  // when a start was last asked for
  int start_failures = 0;               // in a row
  std::optional<TimePoint> backup_failed_at;
};

struct History {
  std::map<std::string, GuestMemory> guests;
  std::map<std::string, int> unhealthy_cycles;  // by tunnel
};

}  // namespace pvt::planner
