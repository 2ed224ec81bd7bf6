// What the planner wants done, for the executor (when enforced) or for the audit log (when the
// action is not enabled: "would start tunnel2").
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/config.h"
#include "controller/planner/plan_input.h"

namespace pvt::planner {

struct Action {
  ActionKind kind = ActionKind::start_guest;
  std::string target;     // guest or tunnel name from the config
  bool enforced = false;  // false: reported only (audit)
  std::string reason;     // why, for the log and the audit record
  // Guest actions.
  std::string node;
  int64_t vmid = 0;
  config::GuestType type = config::GuestType::qemu;
  std::string startup;  // set_startup: the whole new property value
  std::string digest;   // set_onboot/set_startup: the config digest it was planned against
  std::string storage;  // backup_guest

  // "start tunnel2 (lxc 210 on pve2): stopped", prefixed "would " when not enforced.
  std::string describe() const;
};

// How an enforced action went, as the executor saw it.
struct ActionOutcome {
  bool ok = false;
  std::string upid;   // a task that was started (start, backup); empty for synchronous calls
  std::string error;  // when !ok
  // vzdump answered "OK" without a task: the guest was not on that node (it moved).
  bool no_task = false;
};

}  // namespace pvt::planner
