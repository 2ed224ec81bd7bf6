// One Proxmox VE task (vzdump, restore, destroy) watched from outside and never waited on: each
// poll() reads the task's status and the log lines after the last one seen, returns what is new,
// and returns at once. The controller polls its tasks once per cycle; follow_task
// (task_follow.h) is the blocking loop over one watch.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pve/client.h"

namespace pvt::backup {

// What one poll brought.
struct TaskPoll {
  std::vector<std::string> lines;  // log lines not delivered before, in order
  // Set by the one poll that completes the task: it has stopped and its whole log is delivered.
  std::optional<std::string> exitstatus;
  // A call that failed this time; the next poll asks again (from the same line), nothing is lost.
  std::optional<pve::ApiError> status_error;
  std::optional<pve::ApiError> log_error;
};

class TaskWatch {
 public:
  TaskWatch(std::string node, std::string upid);

  // At most one status call (none once the task is known to have stopped) and one log call, from
  // the last line seen; no call at all once finished(). `now` stamps last_progress().
  TaskPoll poll(pve::Client& client, std::chrono::steady_clock::time_point now);
  // Asks the task to stop (DELETE /nodes/{node}/tasks/{upid}); poll() sees it end. No call once
  // the task has ended.
  pve::ApiResult<void> stop(pve::Client& client);

  const std::string& node() const { return node_; }
  const std::string& upid() const { return upid_; }
  // The task has stopped: its exit status ("OK", "WARNINGS: 1", "job errors", ...) is known,
  // though its last lines may still be unread (the log call failed).
  bool ended() const { return exitstatus_.has_value(); }
  const std::optional<std::string>& exitstatus() const { return exitstatus_; }
  // Ended and its whole log delivered: poll() makes no more calls.
  bool finished() const { return finished_; }
  bool stop_requested() const { return stop_requested_; }
  // The last poll that brought a line or the end (the first poll until then); nullopt before
  // the first poll. How long a task has shown no sign of progress.
  std::optional<std::chrono::steady_clock::time_point> last_progress() const {
    return last_progress_;
  }

 private:
  std::string node_;
  std::string upid_;
  int64_t seen_ = 0;  // the last log line number delivered
  std::optional<std::string> exitstatus_;
  bool finished_ = false;
  bool stop_requested_ = false;
  std::optional<std::chrono::steady_clock::time_point> last_progress_;
};

}  // namespace pvt::backup
