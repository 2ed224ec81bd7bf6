// Following a Proxmox VE task (vzdump, restore, destroy) to its end, passing its log on as it
// grows: what `backup run` and the restore test show as progress. It waits, polling a TaskWatch
// (task_watch.h) between sleeps; what must not wait polls the watch itself.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "pve/client.h"

namespace pvt::backup {

struct TaskFollowOptions {
  std::chrono::milliseconds poll{1000};
  std::function<void(const std::string& line)> on_line;  // each new log line
  // Polled before each look at the task: once true, the task is asked to stop (once) and is
  // then followed to its end, for at most `stop_wait`.
  std::function<bool()> should_stop;
  std::chrono::steady_clock::duration stop_wait = std::chrono::minutes(5);
  // Give up following after this long (nullopt: as long as the task runs).
  std::optional<std::chrono::steady_clock::duration> limit;
};

struct TaskOutcome {
  bool ended = false;               // the task stopped; false: gave up or could not read it
  std::string exitstatus;           // the task's ("OK", "WARNINGS: 1", "job errors", ...) or why
                                    // it is not known
  std::vector<std::string> errors;  // the log's error lines ("ERROR: ...", "error ...")
  bool stop_requested = false;
  bool ok() const;
};

TaskOutcome follow_task(pve::Client& client, Clock& clock, const std::string& node,
                        const std::string& upid, const TaskFollowOptions& options);

}  // namespace pvt::backup
