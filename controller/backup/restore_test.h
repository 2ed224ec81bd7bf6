// `backup verify --restore-test` as a library (issue 5): restore a guest's newest backup into
// the scratch VMID without starting it, check what came back, and destroy the scratch guest
// again — also when the restore fails, the check fails or the operator interrupts the test.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "common/clock.h"
#include "common/config.h"
#include "controller/backup/archive_checks.h"
#include "pve/client.h"

namespace pvt::backup {

struct RestoreTestOptions {
  std::chrono::milliseconds poll{1000};  // how often a task is asked for news
  // How long an interrupted restore, and the destroy after it, may take to end.
  std::chrono::seconds task_end_wait{300};
  // Each step and each new task log line, as it comes.
  std::function<void(const std::string& guest, const std::string& line)> on_log;
  // Polled between API calls: true once the operator asked to stop (SIGINT, SIGTERM). The
  // restore task is then stopped and the scratch guest destroyed before returning.
  std::function<bool()> interrupted;
};

// The guest whose backup is restored, and the archive.
struct RestoreSubject {
  std::string guest;  // [[guest]] name, for messages
  config::GuestType type = config::GuestType::qemu;
  std::string node;             // where the guest runs; the scratch guest is restored there
  std::string volid;            // the newest backup
  std::string archived_config;  // its config, as `vzdump/extractconfig` returned it
};

// The verdict as a backup.restore finding: OK only when the restore ran to its end, the restored
// config holds, and the scratch guest is gone again. Refused (CRITICAL, nothing touched) when the
// scratch VMID is in use. Runs without the client's deadline: a restore takes as long as it
// takes, and the clean-up must not be cut short.
Finding restore_test(pve::Client& client, Clock& clock, const config::BackupSection& policy,
                     const RestoreSubject& subject, const RestoreTestOptions& options);

// The finding when the test cannot start: `--restore-test` without a scratch VMID and storage,
// a guest without a backup, ...
Finding restore_not_run(report::Status status, const std::string& why);

}  // namespace pvt::backup
