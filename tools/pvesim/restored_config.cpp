#include "tools/pvesim/restored_config.h"

#include <fmt/format.h>

#include <regex>

#include "common/guest_config_text.h"

namespace pvt::sim {
namespace {

std::string random_mac(std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  return fmt::format("BC:24:11:{:02X}:{:02X}:{:02X}", byte(rng), byte(rng), byte(rng));
}

// "virtio=BC:24:11:00:01:10,bridge=vmbr0" (qemu) or "name=eth0,hwaddr=BC:...,bridge=vmbr0" (lxc).
std::string with_new_mac(const std::string& net, std::mt19937& rng) {
  static const std::regex mac(R"((^|,)(hwaddr=|[a-z0-9]+=)([0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}))");
  std::smatch m;
  if (!std::regex_search(net, m, mac)) return net;
  return m.prefix().str() + m[1].str() + m[2].str() + random_mac(rng) + m.suffix().str();
}

bool disk_key(const std::string& type, const std::string& key) {
  static const std::regex qemu_disk(R"(^((ide|sata|scsi|virtio)\d+|efidisk0|tpmstate0)$)");
  static const std::regex lxc_disk(R"(^(rootfs|mp\d+)$)");
  return std::regex_match(key, type == "qemu" ? qemu_disk : lxc_disk);
}

}  // namespace

RestoredConfig restored_config(const std::string& archived, const std::string& type, int64_t vmid,
                               const std::string& storage, const std::string& volume_prefix,
                               bool unique, std::mt19937& rng) {
  RestoredConfig out;
  for (auto [key, value] : parse_guest_config_text(archived)) {
    if (key == "lock" || key == "parent") continue;
    if (auto volume = backed_up_volume(type, key, value)) {
      // A new volume on the target storage, with the entry's options.
      const std::string id =
          fmt::format("{}:{}-{}-disk-{}", storage, volume_prefix, vmid, out.disks);
      value = id + value.substr(volume->size());
      out.volumes.push_back(id);
      ++out.disks;
    } else if (disk_key(type, key) && value.find(':') != std::string::npos &&
               value.find("media=cdrom") == std::string::npos) {
      continue;  // a disk the backup left out is not restored
    } else if (unique && key.rfind("net", 0) == 0) {
      value = with_new_mac(value, rng);
    }
    // Numbers come back as numbers, as PVE's config API does for integer properties.
    if (!value.empty() && value.size() < 10 &&
        value.find_first_not_of("0123456789") == std::string::npos) {
      out.config[key] = std::stoll(value);
    } else {
      out.config[key] = value;
    }
  }
  out.config["digest"] = fmt::format("{:040x}", static_cast<uint64_t>(rng()));
  return out;
}

}  // namespace pvt::sim
