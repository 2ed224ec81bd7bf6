// The pure half of `check`: turns what was observed into the rule results (README.md, "Rules").
// No I/O, no clock: `Observation::now` is the time of the check.
#pragma once

#include <chrono>
#include <string>

#include "common/config.h"
#include "controller/check/observation.h"
#include "controller/report.h"

namespace pvt::check {

// The age the newest backup of a guest may have (rule backup.age): the longest gap
// between consecutive runs of the covering job's schedule in the node's time zone, plus grace_h;
// max_age_h + grace_h when no enabled job covers the guest or its schedule cannot be read.
struct BackupAllowance {
  std::chrono::seconds allowed{0};
  std::string basis;  // how it was derived, for the rule's message
};
// When the job ran last and runs next by its schedule, in the node's time zone:
// "last Sun 2026-11-22 01:00 CET, next Sun 2026-11-29 01:00 CET"; empty when the schedule is
// not understood (backup.age says why).
std::string job_runs(const pve::BackupJob& job, const Read<pve::NodeTime>* node_time,
                     std::chrono::system_clock::time_point now);

BackupAllowance allowed_backup_age(const config::BackupSection& policy,
                                   const pve::BackupJob* covering_job,
                                   const Read<pve::NodeTime>* node_time,
                                   std::chrono::system_clock::time_point now);

// Whether an enabled-or-not job selects the guest (vmid list, all + exclude, pool members;
// limited to the job's node when it names one).
bool job_selects(const pve::BackupJob& job, int64_t vmid, const std::string& node,
                 const std::map<std::string, Read<pve::Pool>>& pools);

report::Report evaluate(const config::Config& cfg, const Observation& observed);

}  // namespace pvt::check
