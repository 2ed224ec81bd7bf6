// What a restore makes of the guest config stored in a backup archive: the config of the new
// guest, with its disks allocated on the target storage under the new VMID and, for a unique
// restore, new MAC addresses. Pure, so the simulator's restore is tested on its own.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvt::sim {

struct RestoredConfig {
  nlohmann::json config = nlohmann::json::object();  // as GET .../config shows it
  int disks = 0;                                     // volumes allocated on the target storage
  std::vector<std::string> volumes;                  // their ids, "local-lvm:vm-9999-disk-0"
};

// `archived` is the text `vzdump/extractconfig` returns ("key: value" lines; snapshot sections
// and comments are not restored as config).
// New volumes are named "<storage>:<volume_prefix>-<vmid>-disk-<n>" ("vm" or "subvol").
RestoredConfig restored_config(const std::string& archived, const std::string& type, int64_t vmid,
                               const std::string& storage, const std::string& volume_prefix,
                               bool unique, std::mt19937& rng);

}  // namespace pvt::sim
