// The text form of a Proxmox VE guest config (qm.conf(5), pct.conf(5)), as
// `vzdump/extractconfig` returns it, and which of its entries are disks. Shared by the backup
// checks and the simulator's restore.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pvt {

struct ConfigEntry {
  std::string key;
  std::string value;
};

// The "key: value" lines of the current config, in order. Snapshot sections ("[name]") follow
// the current config and are not part of it; "#" lines are the description.
std::vector<ConfigEntry> parse_guest_config_text(std::string_view text);

// The storage volume a config entry keeps a guest's data on and a backup includes:
// "local-lvm:vm-110-disk-0" from qemu "scsi0: local-lvm:vm-110-disk-0,size=8G" or lxc
// "rootfs: local-lvm:vm-210-disk-0,size=4G". nullopt for other keys, CD-ROMs, "none",
// passthrough devices, bind mounts and disks left out of backups (qemu backup=0; lxc mount
// points unless backup=1). `type` is "qemu" or "lxc".
std::optional<std::string> backed_up_volume(std::string_view type, std::string_view key,
                                            std::string_view value);

}  // namespace pvt
