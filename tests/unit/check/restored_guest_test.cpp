#include "controller/backup/restored_guest.h"

#include <gtest/gtest.h>

namespace pvt::backup {
namespace {

using Json = nlohmann::json;

const std::string kVmArchive =
    "boot: order=scsi0;net0\n"
    "memory: 1024\n"
    "name: tunnel1\n"
    "net0: virtio=BC:24:11:00:01:10,bridge=vmbr0\n"
    "ide2: local:iso/debian-12.iso,media=cdrom\n"
    "scsi0: local-lvm:vm-110-disk-0,iothread=1,size=8G\n"
    "scsi1: local-lvm:vm-110-disk-1,backup=0,size=100G\n"
    "efidisk0: local-lvm:vm-110-disk-2,size=4M\n";

const std::string kCtArchive =
    "arch: amd64\n"
    "hostname: tunnel2\n"
    "rootfs: local-lvm:vm-210-disk-0,size=4G\n"
    "mp0: local-lvm:vm-210-disk-1,mp=/srv,size=10G\n"
    "mp1: local-lvm:vm-210-disk-2,mp=/data,backup=1,size=1G\n"
    "mp2: /mnt/host,mp=/host\n";

Json restored_vm() {
  return {{"name", "tunnel1"},
          {"memory", 1024},
          {"scsi0", "local-lvm:vm-9999-disk-0,iothread=1,size=8G"},
          {"efidisk0", "local-lvm:vm-9999-disk-1,size=4M"},
          {"ide2", "local:iso/debian-12.iso,media=cdrom"},
          {"digest", "abc"}};
}

RestoreExpectation vm() {
  return expectation_from_archive(kVmArchive, config::GuestType::qemu, 9999, "local-lvm");
}

TEST(RestoreExpectation, TakesNameAndBackedUpDisksFromTheArchive) {
  const auto e = vm();
  EXPECT_EQ(e.name, "tunnel1");
  EXPECT_EQ(e.disks, (std::vector<std::string>{"scsi0", "efidisk0"}));  // no CD-ROM, no backup=0
  const auto ct = expectation_from_archive(kCtArchive, config::GuestType::lxc, 9999, "local-lvm");
  EXPECT_EQ(ct.name, "tunnel2");
  // Mount points are backed up only with backup=1; bind mounts never.
  EXPECT_EQ(ct.disks, (std::vector<std::string>{"rootfs", "mp1"}));
}

TEST(RestoredGuest, AFaithfulRestoreHasNoProblems) {
  EXPECT_TRUE(restored_guest_problems(vm(), restored_vm(), "stopped").empty());
}

TEST(RestoredGuest, EachShortfallIsNamed) {
  struct Case {
    const char* what;
    std::function<void(Json&)> change;
    std::string status;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"started", [](Json&) {}, "running", "the restored guest is running, not stopped"},
      {"locked", [](Json& c) { c["lock"] = "create"; }, "stopped", "still locked (create)"},
      {"other name", [](Json& c) { c["name"] = "other"; }, "stopped",
       "name is \"other\", the archive has \"tunnel1\""},
      {"disk missing", [](Json& c) { c.erase("efidisk0"); }, "stopped",
       "disk efidisk0 of the archive was not restored"},
      {"disk now a CD-ROM", [](Json& c) { c["scsi0"] = "none,media=cdrom"; }, "stopped",
       "disk scsi0 of the archive was not restored"},
      {"other storage", [](Json& c) { c["scsi0"] = "local-zfs:vm-9999-disk-0,size=8G"; }, "stopped",
       "disk scsi0 was restored to local-zfs:vm-9999-disk-0, not to storage local-lvm"},
      {"the original's disk", [](Json& c) { c["scsi0"] = "local-lvm:vm-110-disk-0,size=8G"; },
       "stopped", "disk scsi0 is local-lvm:vm-110-disk-0, not a volume of guest 9999"},
  };
  for (const auto& c : cases) {
    Json restored = restored_vm();
    c.change(restored);
    const auto problems = restored_guest_problems(vm(), restored, c.status);
    ASSERT_EQ(problems.size(), 1u) << c.what;
    EXPECT_NE(problems[0].find(c.expected), std::string::npos) << c.what << ": " << problems[0];
  }
}

TEST(RestoredGuest, NoConfigAtAllIsOneProblem) {
  EXPECT_EQ(restored_guest_problems(vm(), Json::object(), "stopped"),
            (std::vector<std::string>{"the restored guest has no config"}));
}

TEST(RestoredGuest, AnArchiveWithoutDisksIsAProblem) {
  const auto e =
      expectation_from_archive("name: x\nmemory: 512\n", config::GuestType::qemu, 9999, "s");
  const auto problems = restored_guest_problems(e, Json{{"name", "x"}}, "stopped");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "the archive holds no disk to restore");
}

TEST(RestoredGuest, VolumeNamesOfEveryStorageKindCount) {
  for (const char* volume : {"local-lvm:vm-9999-disk-0", "local:9999/vm-9999-disk-0.qcow2",
                             "local-zfs:subvol-9999-disk-0", "ceph:vm-9999-disk-0"}) {
    const std::string storage = std::string(volume).substr(0, std::string(volume).find(':'));
    const auto e = expectation_from_archive("hostname: t\nrootfs: old:vm-210-disk-0,size=4G\n",
                                            config::GuestType::lxc, 9999, storage);
    const Json restored = {{"hostname", "t"}, {"rootfs", std::string(volume) + ",size=4G"}};
    EXPECT_TRUE(restored_guest_problems(e, restored, "stopped").empty()) << volume;
  }
}

}  // namespace
}  // namespace pvt::backup
