// From what `check` reads (check::Observation) to what the planner decides on (Observed): the
// guests' power state, boot flags, locks and whether their backup is overdue, the workers'
// health, the nodes running a vzdump. Pure: the same observation gives the same answer.
#pragma once

#include <map>
#include <string>

#include "common/config.h"
#include "controller/check/observation.h"
#include "controller/maintenance/maintenance_flags.h"
#include "controller/planner/plan_input.h"

namespace pvt::planner {

// "running" and "stopped" are acted on; anything else ("paused", "unknown" for a guest on an
// offline node, a state a newer PVE adds) is `other`, which the planner never touches.
PowerState power_state(std::string_view pve_status);

// `tasks`: the state of the tasks the history follows (from TaskWatch), by UPID;
// `maintenance`: the active flags.
Observed observe(const config::Config& cfg, const check::Observation& o,
                 const std::map<std::string, ObservedTask>& tasks,
                 const std::map<std::string, maintenance::Flag>& maintenance);

}  // namespace pvt::planner
