// The pure core of the controller: plan(desired, observed, history, policy, now) -> actions.
// Level-triggered (every cycle looks at the whole observed state; what is already as desired
// gives no action) and rate-limited (starts at most every start_min_interval, backing off
// exponentially after failures). No I/O and no clock: `now` is the cycle's time.
#pragma once

#include <string>
#include <vector>

#include "common/config.h"
#include "controller/planner/action.h"
#include "controller/planner/plan_input.h"

namespace pvt::planner {

struct Plan {
  std::vector<Action> actions;
  History next;                  // the history to carry into the next cycle
  std::vector<std::string> log;  // state changes and why nothing was done, in order
};

Plan plan(const config::Config& desired, const Observed& observed, const History& history,
          const Policy& policy, TimePoint now);

// What an enforced action's outcome means for the guest's state: a task to follow, or a failure
// that counts towards the backoff. Pure, like plan().
void record_outcome(History& history, const Action& action, const ActionOutcome& outcome,
                    const Policy& policy, TimePoint now, std::vector<std::string>& log);

// The wait before the next start after `failures` failed starts in a row: start_min_interval,
// doubling per failure, at most start_backoff_max.
std::chrono::seconds start_backoff(const Policy& policy, int failures);

}  // namespace pvt::planner
