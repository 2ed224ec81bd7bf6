#include "controller/backup/task_follow.h"

#include <fmt/format.h>

#include "controller/backup/task_watch.h"

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
  TaskWatch watch(node, upid);
  const bool limited = options.limit.has_value();
  const auto give_up =
      clock.steady_now() + (limited ? *options.limit : std::chrono::steady_clock::duration{});
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  while (true) {
    if (!out.stop_requested && options.should_stop && options.should_stop()) {
      out.stop_requested = true;
      stop_deadline = clock.steady_now() + options.stop_wait;
      if (auto stopped = watch.stop(client); !stopped) {
        if (options.on_line) options.on_line("cannot stop the task: " + stopped.error().describe());
      }
    }
    TaskPoll news = watch.poll(client, clock.steady_now());
    for (const auto& line : news.lines) {
      if (error_line(line)) out.errors.push_back(line);
      if (options.on_line) options.on_line(line);
    }
    if (news.status_error) {
      out.exitstatus = "cannot read the task status: " + news.status_error->describe();
      return out;
    }
    // Ended, also when its last lines could not be read.
    if (watch.ended()) {
      out.ended = true;
      out.exitstatus = *watch.exitstatus();
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
