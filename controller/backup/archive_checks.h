// What `backup verify` learns from the backup volumes themselves (rules backup.size and
// backup.archive; README.md, "Backup verification"), beyond what `check` reads. Pure: the volumes
// and the archive's config text come in as values, so every verdict is unit-tested without a
// cluster.
#pragma once

#include <optional>
#include <string>

#include "common/config.h"
#include "controller/report.h"
#include "pve/models.h"

namespace pvt::backup {

struct Finding {
  report::Status status = report::Status::ok;
  std::optional<std::string> observed;
  std::optional<std::string> expected;
  std::string message;
  std::string remediation;  // empty when OK
};

// A newest backup below this fraction of the one before it is a drastic drop: the guest lost
// data, or the backup missed a disk.
inline constexpr double kDrasticDrop = 0.5;

// backup.size: empty is CRITICAL; far smaller than the previous backup is a WARNING.
Finding size_finding(const pve::BackupVolume& newest, const pve::BackupVolume* previous);

// The guest config stored in an archive, as `vzdump/extractconfig` returns it.
struct ArchivedConfig {
  std::optional<config::GuestType> type;  // nullopt: neither a VM nor a container config
  std::string name;                       // qemu "name" / lxc "hostname"; empty if absent
};
ArchivedConfig parse_archived_config(const std::string& text);

// backup.archive: the archive's config must be readable, of the guest's type and, when both
// carry one, of the guest's name (a restore of the wrong guest would go unnoticed otherwise).
// `extracted` is the config text or the reason it could not be read.
Finding archive_finding(const std::string& volid, const std::optional<std::string>& extracted,
                        const std::string& read_error, config::GuestType type,
                        const std::string& guest_name);

}  // namespace pvt::backup
