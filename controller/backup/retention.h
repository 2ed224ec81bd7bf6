// backup.retention (README.md, "Backup verification"): would the prune settings remove the last
// verified backup?
// Pure: PVE's prune selection (PVE::Storage::prune_mark_backup_group) replayed on the volumes of
// one guest on one storage, with the backup the next run adds, in the node's time zone.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "controller/backup/archive_checks.h"
#include "pve/models.h"

namespace date {
class time_zone;
}

namespace pvt::backup {

enum class PruneMark { keep, remove, is_protected };

struct PruneEntry {
  int64_t ctime = 0;
  bool is_protected = false;
};

// Marks for `entries` (any order; the result is parallel to it) under prune-backups `keep`
// ({"keep-last": "3", "keep-weekly": "4", ...}; empty or keep-all=1 keeps everything). Buckets
// (hour, day, ISO week, month, year) are taken in `tz` (nullptr: UTC), as PVE does in the node's
// local time. Protected backups are never removed and do not count towards any keep-*.
std::vector<PruneMark> prune_marks(const std::vector<PruneEntry>& entries,
                                   const std::map<std::string, std::string>& keep,
                                   const date::time_zone* tz);

// The settings a vzdump run prunes with: the job's own prune-backups, else the storage's, else
// keep-all (PVE's order).
const std::map<std::string, std::string>& effective_prune(
    const std::map<std::string, std::string>& job,
    const std::map<std::string, std::string>& storage);

// WARNING when the prune after the next backup (added at `now`, not yet verified) would remove
// the newest backup whose verification is ok. `volumes`: the guest's backups on one storage.
Finding retention_finding(const std::vector<pve::BackupVolume>& volumes,
                          const std::map<std::string, std::string>& keep, const date::time_zone* tz,
                          int64_t now);

}  // namespace pvt::backup
