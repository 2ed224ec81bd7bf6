// Carries out one enforced action against PVE or a worker and says how it went. Nothing is
// retried here: an action is planned again by a later cycle if the world still needs it, within
// the planner's rate limits.
#pragma once

#include "controller/env/env.h"
#include "controller/planner/action.h"

namespace pvt::controller {

planner::ActionOutcome execute(const planner::Action& action, Env& env);

}  // namespace pvt::controller
