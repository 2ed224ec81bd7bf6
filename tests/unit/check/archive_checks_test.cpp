#include "controller/backup/archive_checks.h"

#include <gtest/gtest.h>

namespace pvt::backup {
namespace {

using report::Status;

pve::BackupVolume volume(int64_t size, const char* volid = "pbs1:backup/vm/110/new") {
  pve::BackupVolume v;
  v.volid = volid;
  v.size = size;
  return v;
}

TEST(SizeFinding, EmptyIsCriticalADrasticDropAWarning) {
  const auto before = volume(1000, "pbs1:backup/vm/110/old");
  EXPECT_EQ(size_finding(volume(0), &before).status, Status::critical);
  EXPECT_EQ(size_finding(volume(499), &before).status, Status::warning);
  EXPECT_EQ(size_finding(volume(500), &before).status, Status::ok);   // half: not yet drastic
  EXPECT_EQ(size_finding(volume(5000), &before).status, Status::ok);  // growth is fine
  const auto first = size_finding(volume(1536LL << 20), nullptr);
  EXPECT_EQ(first.status, Status::ok);
  EXPECT_EQ(first.observed, "1.5 GiB");
  EXPECT_NE(first.message.find("no earlier backup"), std::string::npos);
  EXPECT_EQ(size_finding(volume(0), nullptr).status, Status::critical);
}

TEST(ParseArchivedConfig, TellsVmsFromContainers) {
  const struct {
    const char* text;
    std::optional<config::GuestType> type;
    const char* name;
  } cases[] = {
      {"boot: order=scsi0\nmemory: 1024\nname: tunnel1\nscsi0: local-lvm:vm-110-disk-0\n",
       config::GuestType::qemu, "tunnel1"},
      {"arch: amd64\nhostname: tunnel2\nmemory: 512\nrootfs: local-lvm:subvol-210-disk-0\n",
       config::GuestType::lxc, "tunnel2"},
      {"memory: 512\nostype: debian\nnet0: name=eth0\n", std::nullopt, ""},  // shared keys only
      {"rootfs: x\nscsi0: y\n", std::nullopt, ""},                           // both: damaged
      {"virtio0: local:vm-1-disk-0\n\n[snap1]\nrootfs: x\nhostname: other\n",
       config::GuestType::qemu, ""},  // snapshot sections are not the current config
      {"", std::nullopt, ""},
      {"scsihw: virtio-scsi-pci\nide2: none,media=cdrom\nmp0: not-a-container-key-here\n",
       std::nullopt, ""},  // "mp0" is a container key: ambiguous
  };
  for (const auto& c : cases) {
    const auto parsed = parse_archived_config(c.text);
    EXPECT_EQ(parsed.type, c.type) << c.text;
    EXPECT_EQ(parsed.name, c.name) << c.text;
  }
}

TEST(ArchiveFinding, ReadableOfTheRightTypeAndName) {
  const std::string vm = "boot: order=scsi0\nname: tunnel1\nscsi0: x\n";
  EXPECT_EQ(archive_finding("v", vm, "", config::GuestType::qemu, "tunnel1").status, Status::ok);
  // The current name unknown: type alone decides.
  EXPECT_EQ(archive_finding("v", vm, "", config::GuestType::qemu, "").status, Status::ok);
  auto wrong_type = archive_finding("v", vm, "", config::GuestType::lxc, "tunnel1");
  EXPECT_EQ(wrong_type.status, Status::critical);
  EXPECT_EQ(wrong_type.observed, "qemu config of tunnel1");
  EXPECT_EQ(wrong_type.expected, "lxc config of tunnel1");
  auto other = archive_finding("v", vm, "", config::GuestType::qemu, "tunnel9");
  EXPECT_EQ(other.status, Status::critical);
  EXPECT_NE(other.message.find("\"tunnel1\", not of \"tunnel9\""), std::string::npos);
  auto unreadable =
      archive_finding("v", std::nullopt, "HTTP 500: unable to read", config::GuestType::qemu, "x");
  EXPECT_EQ(unreadable.status, Status::critical);
  EXPECT_EQ(unreadable.observed, "unreadable");
  EXPECT_NE(unreadable.message.find("unable to read"), std::string::npos);
}

}  // namespace
}  // namespace pvt::backup
