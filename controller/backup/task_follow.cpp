#include "controller/backup/task_follow.h"

#include <fmt/format.h>

namespace pvt::backup {
namespace {

// "ERROR: Backup of VM 110 failed - ..." (vzdump), "error before or during data restore, ..."
// (qmrestore); the final "TASK ERROR: ..." is the exit status itself.
bool error_line(const std::string& line) {
  return line.rfind("ERROR:", 0) == 0 || line.rfind("error ", 0) == 0 ||
         line.rfind("error:", 0) == 0;
}

}  // namespace

bool TaskOutcome::ok() const { return ended && pve::exitstatus_ok(exitstatus); }

TaskOutcome follow_task(pve::Client& client, Clock& clock, const std::string& node,
                        const std::string& upid, const TaskFollowOptions& options) {
  TaskOutcome out;
  int64_t seen = 0;
  auto drain_log = [&] {
    auto lines = client.task_log(node, upid, seen);
    if (!lines) return;
    for (const auto& l : *lines) {
      // PVE answers an empty log with line 1 "no content"; the real line 1 comes later.
      if (l.n == 1 && l.t == "no content" && lines->size() == 1) continue;
      if (l.n <= seen) continue;
      seen = l.n;
      if (error_line(l.t)) out.errors.push_back(l.t);
      if (options.on_line) options.on_line(l.t);
    }
  };
  const bool limited = options.limit.has_value();
  const auto give_up =
      clock.steady_now() + (limited ? *options.limit : std::chrono::steady_clock::duration{});
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (true) {
    if (!out.stop_requested && options.should_stop && options.should_stop()) {
      out.stop_requested = true;
      stop_deadline = clock.steady_now() + options.stop_wait;
      if (auto stopped = client.stop_task(node, upid); !stopped) {
        if (options.on_line) options.on_line("cannot stop the task: " + stopped.error().describe());
      }
    }
    drain_log();
    auto status = client.task_status(node, upid);
    if (!status) {
      out.exitstatus = "cannot read the task status: " + status.error().describe();
      return out;
    }
    if (status->status == "stopped") {
      drain_log();  // the last lines may have come with the end
      out.ended = true;
      out.exitstatus = status->exitstatus.value_or("unknown");
      return out;
    }
    if (clock.steady_now() >= stop_deadline) {
      out.exitstatus =
          fmt::format("still running {} s after the request to stop",
                      std::chrono::duration_cast<std::chrono::seconds>(options.stop_wait).count());
      return out;
    }
    if (limited && clock.steady_now() >= give_up) {
      out.exitstatus =
          fmt::format("still running after {} s; stopped following it",
                      std::chrono::duration_cast<std::chrono::seconds>(*options.limit).count());
      return out;
    }
    clock.sleep_for(options.poll);
  }
}

}  // namespace pvt::backup
