#include "controller/check/vzdump_log.h"

#include <fmt/format.h>

namespace pvt::check {
namespace {

bool mentions(const std::string& line, const std::string& what) {
  return line.find(what) != std::string::npos;
}

// "Backup of VM 110 " with the trailing space or end, so VM 1100 is not VM 110.
bool mentions_vm(const std::string& line, const std::string& phrase, int64_t vmid) {
  const std::string needle = fmt::format("{} {}", phrase, vmid);
  for (auto at = line.find(needle); at != std::string::npos; at = line.find(needle, at + 1)) {
    const auto end = at + needle.size();
    if (end == line.size() || line[end] == ' ' || line[end] == '(') return true;
  }
  return false;
}

}  // namespace

bool task_covers(const pve::TaskListEntry& task, const std::vector<pve::TaskLogLine>* log,
                 int64_t vmid) {
  if (task.id == std::to_string(vmid)) return true;
  if (!task.id.empty() || log == nullptr) return false;
  for (const auto& l : *log) {
    // "Starting Backup of VM 110", "Finished Backup of VM 110", "ERROR: Backup of VM 110 ...".
    if (mentions_vm(l.t, "Backup of VM", vmid)) return true;
  }
  return false;
}

GuestBackupOutcome outcome_for(const pve::TaskListEntry& task,
                               const std::vector<pve::TaskLogLine>* log, int64_t vmid) {
  GuestBackupOutcome o;
  o.upid = task.upid;
  o.starttime = task.starttime;
  if (!task.status || task.status->empty() || *task.status == "RUNNING") {
    o.result = GuestBackupOutcome::Result::running;
    o.detail = "task still running";
    return o;
  }
  const std::string& exit = *task.status;
  bool finished_for_guest = false;
  if (log != nullptr) {
    for (const auto& l : *log) {
      if (mentions(l.t, "ERROR: Backup of VM") && mentions_vm(l.t, "Backup of VM", vmid) &&
          mentions(l.t, "failed")) {
        o.result = GuestBackupOutcome::Result::failed;
        o.detail = l.t;
        return o;
      }
      if (mentions_vm(l.t, "Finished Backup of VM", vmid)) finished_for_guest = true;
    }
  }
  if (pve::exitstatus_warnings(exit)) {
    o.result = GuestBackupOutcome::Result::warnings;
    o.detail = exit;
    return o;
  }
  if (exit == "OK" || finished_for_guest) {
    // A multi-guest job can end in "job errors" because of another guest: this one finished.
    o.result = GuestBackupOutcome::Result::ok;
    o.detail = exit;
    return o;
  }
  o.result = GuestBackupOutcome::Result::failed;
  o.detail = exit;
  return o;
}

}  // namespace pvt::check
