// `backup verify` as a library (issue 5), so the controller can run it on its own cadence: the
// backup rules `check` evaluates (backup.job, backup.age, backup.task, backup.verification) and
// what only reading the volumes shows (backup.size, backup.archive), for every configured guest.
#pragma once

#include <chrono>

#include "common/clock.h"
#include "common/config.h"
#include "controller/backup/restore_test.h"
#include "controller/check/collect.h"
#include "controller/report.h"
#include "pve/client.h"

namespace pvt::backup {

report::Report verify(const config::Config& cfg, pve::Client& client, Clock& clock,
                      const check::CollectOptions& options);

// verify() plus backup.restore for every guest (`--restore-test`): its newest backup restored
// into the scratch VMID, checked and removed again (restore_test.h), one guest after the other.
// A guest without a readable backup gets backup.restore UNKNOWN/CRITICAL without a restore.
report::Report verify_with_restore(const config::Config& cfg, pve::Client& client, Clock& clock,
                                   const check::CollectOptions& options,
                                   const RestoreTestOptions& restore_options);

}  // namespace pvt::backup
