// What a vzdump task did for one guest. A job that backs up several guests of a node runs as one
// task without an id; only its log says which guests it covered and how each fared
// ("INFO: Starting Backup of VM 110 (qemu)", "INFO: Finished Backup of VM 110 (00:01:02)",
// "ERROR: Backup of VM 110 failed - ...").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pve/models.h"

namespace pvt::check {

struct GuestBackupOutcome {
  enum class Result { ok, warnings, failed, running };
  Result result = Result::ok;
  std::string upid;
  int64_t starttime = 0;
  std::string detail;  // the quoted error line, or the task's exit status
};

// Whether the task covered `vmid`: its id names it, or its log mentions the guest's backup.
bool task_covers(const pve::TaskListEntry& task, const std::vector<pve::TaskLogLine>* log,
                 int64_t vmid);

// The outcome for `vmid` of a task that covered it. `log` may be null for a single-guest task
// whose exit status says everything.
GuestBackupOutcome outcome_for(const pve::TaskListEntry& task,
                               const std::vector<pve::TaskLogLine>* log, int64_t vmid);

}  // namespace pvt::check
