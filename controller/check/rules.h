// The pure half of `check`: turns what was observed into the rule results of DESIGN.md §7.
// No I/O, no clock: `Observation::now` is the time of the check.
#pragma once

#include <chrono>

#include "common/config.h"
#include "controller/check/observation.h"
#include "controller/report.h"

namespace pvt::check {

// The age the newest backup of a guest may have: until schedules are parsed, max_age_h + grace_h
// whether or not a job covers the guest (DESIGN.md §7, backup.age).
std::chrono::hours allowed_backup_age(const config::BackupSection& policy,
                                      const pve::BackupJob* covering_job);

// Whether an enabled-or-not job selects the guest (vmid list, all + exclude, pool members;
// limited to the job's node when it names one).
bool job_selects(const pve::BackupJob& job, int64_t vmid, const std::string& node,
                 const std::map<std::string, Read<pve::Pool>>& pools);

report::Report evaluate(const config::Config& cfg, const Observation& observed);

}  // namespace pvt::check
