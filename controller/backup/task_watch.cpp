#include "controller/backup/task_watch.h"

#include <utility>

namespace pvt::backup {
namespace {

// Log lines asked for per call; a longer tail is read on by the polls after.
constexpr int64_t kLogLinesPerCall = 5000;

}  // namespace

TaskWatch::TaskWatch(std::string node, std::string upid)
    : node_(std::move(node)), upid_(std::move(upid)) {}

TaskPoll TaskWatch::poll(pve::Client& client, std::chrono::steady_clock::time_point now) {
  TaskPoll out;
  if (finished_) return out;
  if (!last_progress_) last_progress_ = now;
  // The status first: once it says stopped, the log read after it holds the task's last lines.
  if (!exitstatus_) {
    auto status = client.task_status(node_, upid_);
    if (!status) {
      out.status_error = status.error();
    } else if (status->status == "stopped") {
      exitstatus_ = status->exitstatus.value_or("unknown");
    }
  }
  // Also after a lost status answer: the lines that came meanwhile are shown all the same.
  auto lines = client.task_log(node_, upid_, seen_, kLogLinesPerCall);
  if (!lines) {
    out.log_error = lines.error();
  } else {
    for (const auto& l : *lines) {
      // PVE answers an empty log with line 1 "no content"; the real line 1 comes later.
      if (l.n == 1 && l.t == "no content" && lines->size() == 1) continue;
      if (l.n <= seen_) continue;
      seen_ = l.n;
      out.lines.push_back(l.t);
    }
    // A full answer may have more after it.
    if (exitstatus_ && static_cast<int64_t>(lines->size()) < kLogLinesPerCall) {
      finished_ = true;
      out.exitstatus = exitstatus_;
    }
  }
  if (!out.lines.empty() || out.exitstatus) last_progress_ = now;
  return out;
}

pve::ApiResult<void> TaskWatch::stop(pve::Client& client) {
  if (ended()) return {};
  stop_requested_ = true;
  return client.stop_task(node_, upid_);
}

}  // namespace pvt::backup
