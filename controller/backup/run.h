// `backup run` as a library (issue 5): start a vzdump of each tunnel guest with the settings its
// backup job would use, and follow each task to its end.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "common/result.h"
#include "pve/client.h"

namespace pvt::backup {

struct RunOptions {
  std::chrono::milliseconds poll{1000};  // how often the task is asked for news
  // Each new task log line, as it comes ("INFO: Starting Backup of VM 110 (qemu)").
  std::function<void(const std::string& guest, const std::string& line)> on_log;
};

struct GuestRun {
  std::string guest;
  std::string node;
  std::string storage;
  std::string upid;  // empty if no task was started
  bool ok = false;
  std::string outcome;  // the task's exit status ("OK", "WARNINGS: 1", "job errors") or the error
  std::vector<std::string> errors;  // ERROR lines of the log
};

// The storage and mode for a guest: [backup] storage when set, else the covering enabled job's;
// the job's mode, else snapshot. An error names what to configure when there is no storage.
struct RunSettings {
  std::string storage;
  std::string mode = "snapshot";
  std::string source;  // "job backup-tunnels" or "[backup] storage"
};
Result<RunSettings> run_settings(const config::BackupSection& policy, const pve::BackupJob* job);

// One guest after the other (vzdump takes a node-wide lock anyway). Fails as a whole only when
// the cluster cannot be read; a guest whose backup fails is a GuestRun with ok = false.
Result<std::vector<GuestRun>> run_backups(const config::Config& cfg, pve::Client& client,
                                          Clock& clock, const RunOptions& options);

}  // namespace pvt::backup
