#include "controller/backup/archive_checks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

#include "common/guest_config_text.h"

namespace pvt::backup {
namespace {

using report::Status;

std::string human_size(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

}  // namespace

Finding size_finding(const pve::BackupVolume& newest, const pve::BackupVolume* previous) {
  Finding f;
  f.observed = human_size(newest.size);
  if (newest.size <= 0) {
    f.status = Status::critical;
    f.expected = "> 0 B";
    f.message = fmt::format("the newest backup {} is empty", newest.volid);
    f.remediation = "read the vzdump task log of that backup and run a new one";
    return f;
  }
  if (previous == nullptr || previous->size <= 0) {
    f.expected = "> 0 B";
    f.message = fmt::format("{} (no earlier backup to compare with)", human_size(newest.size));
    return f;
  }
  const auto floor = static_cast<int64_t>(static_cast<double>(previous->size) * kDrasticDrop);
  f.expected = fmt::format(">= {} (half of the backup before)", human_size(floor));
  if (newest.size < floor) {
    f.status = Status::warning;
    f.message = fmt::format("the newest backup is {} against {} before ({})",
                            human_size(newest.size), human_size(previous->size), previous->volid);
    f.remediation =
        "check that the guest still has all its data and disks (a disk excluded from backup, "
        "`backup=0`, or a wiped volume)";
    return f;
  }
  f.message =
      fmt::format("{} against {} before", human_size(newest.size), human_size(previous->size));
  return f;
}

namespace {

bool numbered(const std::string& key, const char* prefix) {
  const size_t n = std::strlen(prefix);
  return key.size() > n && key.compare(0, n, prefix) == 0 &&
         std::all_of(key.begin() + static_cast<std::ptrdiff_t>(n), key.end(),
                     [](unsigned char ch) { return std::isdigit(ch) != 0; });
}

// Keys only a container config has (pct.conf(5)); "memory", "ostype", "net0" exist in both.
bool container_key(const std::string& key, const std::string& value) {
  static const std::set<std::string> keys = {"rootfs", "hostname", "unprivileged", "swap",
                                             "cmode",  "tty",      "console",      "features"};
  if (keys.count(key) != 0 || numbered(key, "mp")) return true;
  return key == "arch" && (value == "amd64" || value == "i386" || value == "arm64" ||
                           value == "armhf" || value == "riscv64");
}

// Keys only a VM config has (qm.conf(5)).
bool vm_key(const std::string& key) {
  static const std::set<std::string> keys = {"boot",    "smbios1", "vmgenid",  "scsihw",
                                             "sockets", "cpu",     "bios",     "machine",
                                             "vga",     "agent",   "efidisk0", "tpmstate0"};
  return keys.count(key) != 0 || numbered(key, "scsi") || numbered(key, "virtio") ||
         numbered(key, "sata") || numbered(key, "ide");
}

}  // namespace

ArchivedConfig parse_archived_config(const std::string& text) {
  ArchivedConfig c;
  bool container = false;
  bool vm = false;
  for (const auto& [key, value] : parse_guest_config_text(text)) {
    container = container || container_key(key, value);
    vm = vm || vm_key(key);
    if (key == "name" || key == "hostname") c.name = value;
  }
  // Both kinds of keys: neither config (damaged or not a guest config at all).
  if (container != vm) c.type = container ? config::GuestType::lxc : config::GuestType::qemu;
  return c;
}

Finding archive_finding(const std::string& volid, const std::optional<std::string>& extracted,
                        const std::string& read_error, config::GuestType type,
                        const std::string& guest_name) {
  Finding f;
  f.expected = fmt::format("{} config{}", config::to_string(type),
                           guest_name.empty() ? "" : " of " + guest_name);
  if (!extracted) {
    f.status = Status::critical;
    f.observed = "unreadable";
    f.message = fmt::format("cannot read the config from {}: {}", volid, read_error);
    f.remediation = "check the backup storage and the archive; run a new backup";
    return f;
  }
  const ArchivedConfig c = parse_archived_config(*extracted);
  f.observed = fmt::format("{} config{}", c.type ? config::to_string(*c.type) : "no guest",
                           c.name.empty() ? "" : " of " + c.name);
  if (!c.type || *c.type != type) {
    f.status = Status::critical;
    f.message =
        fmt::format("the archive {} does not hold a {} config", volid, config::to_string(type));
    f.remediation = "the volume belongs to another guest or is damaged: run a new backup";
    return f;
  }
  if (!c.name.empty() && !guest_name.empty() && c.name != guest_name) {
    f.status = Status::critical;
    f.message = fmt::format("the archive {} holds the config of \"{}\", not of \"{}\"", volid,
                            c.name, guest_name);
    f.remediation = "the VMID was reused or the backup belongs to another guest: run a new backup";
    return f;
  }
  f.message = fmt::format("the archive {} holds the guest's config", volid);
  return f;
}

}  // namespace pvt::backup
