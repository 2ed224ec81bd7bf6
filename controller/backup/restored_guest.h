// What a restore test checks in the scratch guest it restored (rule backup.restore; README.md,
// "Restore test"):
// the archive's guest came back whole, as a new guest on the test storage, and was not started.
// Pure: the configs come in as values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/config.h"

namespace pvt::backup {

struct RestoreExpectation {
  config::GuestType type = config::GuestType::qemu;
  int64_t scratch_vmid = 0;
  std::string storage;             // restore_test_storage
  std::string name;                // qemu "name" / lxc "hostname" in the archive; empty: unchecked
  std::vector<std::string> disks;  // config keys of the archive's backed-up disks ("scsi0")
};

// What the archive promises: its name and the keys of the disks it holds.
RestoreExpectation expectation_from_archive(const std::string& archived_config,
                                            config::GuestType type, int64_t scratch_vmid,
                                            const std::string& storage);

// Every way the restored config (GET .../config of the scratch guest) falls short; empty when
// it holds. `status` is the scratch guest's status ("stopped" expected).
std::vector<std::string> restored_guest_problems(const RestoreExpectation& expected,
                                                 const nlohmann::json& restored,
                                                 const std::string& status);

}  // namespace pvt::backup
