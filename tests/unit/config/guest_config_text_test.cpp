#include "common/guest_config_text.h"

#include <gtest/gtest.h>

namespace pvt {
namespace {

TEST(GuestConfigText, CurrentConfigOnlyInOrder) {
  const auto e = parse_guest_config_text(
      "#tunnel guest\n"
      "#second description line\n"
      "name: tunnel1\r\n"
      "memory:1024\n"
      "\n"
      "net0: virtio=BC:24:11:00:01:10,bridge=vmbr0\n"
      "garbage without colon\n"
      "[before-upgrade]\n"
      "name: old\n");
  ASSERT_EQ(e.size(), 3u);
  EXPECT_EQ(e[0].key, "name");
  EXPECT_EQ(e[0].value, "tunnel1");
  EXPECT_EQ(e[1].key, "memory");
  EXPECT_EQ(e[1].value, "1024");
  EXPECT_EQ(e[2].value, "virtio=BC:24:11:00:01:10,bridge=vmbr0");
}

TEST(GuestConfigText, BackedUpVolumes) {
  struct Case {
    const char* type;
    const char* key;
    const char* value;
    std::optional<std::string> volume;
  };
  const std::vector<Case> cases = {
      {"qemu", "scsi0", "local-lvm:vm-110-disk-0,iothread=1,size=8G", "local-lvm:vm-110-disk-0"},
      {"qemu", "virtio12", "ceph:vm-110-disk-3", "ceph:vm-110-disk-3"},
      {"qemu", "sata1", "local:110/vm-110-disk-1.qcow2,size=1G", "local:110/vm-110-disk-1.qcow2"},
      {"qemu", "efidisk0", "local-lvm:vm-110-disk-2,efitype=4m,size=4M", "local-lvm:vm-110-disk-2"},
      {"qemu", "tpmstate0", "local-lvm:vm-110-disk-3,size=4M", "local-lvm:vm-110-disk-3"},
      {"qemu", "ide2", "local:iso/debian.iso,media=cdrom", std::nullopt},
      {"qemu", "ide2", "none,media=cdrom", std::nullopt},
      {"qemu", "scsi1", "local-lvm:vm-110-disk-1,backup=0,size=100G", std::nullopt},
      {"qemu", "scsi2", "/dev/disk/by-id/ata-WDC,size=1T", std::nullopt},
      {"qemu", "unused0", "local-lvm:vm-110-disk-9", std::nullopt},
      {"qemu", "scsihw", "virtio-scsi-single", std::nullopt},
      {"qemu", "rootfs", "local-lvm:vm-110-disk-0", std::nullopt},
      {"lxc", "rootfs", "local-lvm:vm-210-disk-0,size=4G", "local-lvm:vm-210-disk-0"},
      {"lxc", "mp0", "local-lvm:vm-210-disk-1,mp=/srv,size=10G", std::nullopt},
      {"lxc", "mp1", "local-zfs:subvol-210-disk-2,mp=/d,backup=1", "local-zfs:subvol-210-disk-2"},
      {"lxc", "mp2", "/mnt/host,mp=/host,backup=1", std::nullopt},
      {"lxc", "scsi0", "local-lvm:vm-210-disk-0", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(backed_up_volume(c.type, c.key, c.value), c.volume) << c.type << " " << c.key;
  }
}

}  // namespace
}  // namespace pvt
