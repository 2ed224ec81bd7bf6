#include "controller/backup/restored_guest.h"

#include <fmt/format.h>

#include "common/guest_config_text.h"

namespace pvt::backup {

RestoreExpectation expectation_from_archive(const std::string& archived_config,
                                            config::GuestType type, int64_t scratch_vmid,
                                            const std::string& storage) {
  RestoreExpectation e;
  e.type = type;
  e.scratch_vmid = scratch_vmid;
  e.storage = storage;
  for (const auto& [key, value] : parse_guest_config_text(archived_config)) {
    if (key == (type == config::GuestType::qemu ? "name" : "hostname")) e.name = value;
    if (backed_up_volume(config::to_string(type), key, value)) e.disks.push_back(key);
  }
  return e;
}

std::vector<std::string> restored_guest_problems(const RestoreExpectation& expected,
                                                 const nlohmann::json& restored,
                                                 const std::string& status) {
  std::vector<std::string> problems;
  if (!restored.is_object() || restored.empty()) return {"the restored guest has no config"};
  auto text = [&](const char* key) -> std::string {
    auto it = restored.find(key);
    if (it == restored.end()) return "";
    return it->is_string() ? it->get<std::string>() : it->dump();
  };
  if (status != "stopped") {
    problems.push_back(fmt::format("the restored guest is {}, not stopped", status));
  }
  if (auto lock = text("lock"); !lock.empty()) {
    problems.push_back(fmt::format("the restored guest is still locked ({})", lock));
  }
  const char* name_key = expected.type == config::GuestType::qemu ? "name" : "hostname";
  if (!expected.name.empty() && text(name_key) != expected.name) {
    problems.push_back(fmt::format("{} is \"{}\", the archive has \"{}\"", name_key, text(name_key),
                                   expected.name));
  }
  if (expected.disks.empty()) problems.push_back("the archive holds no disk to restore");
  // New volumes are named for the new VMID ("vm-9999-disk-0", "9999/vm-9999-disk-0.qcow2",
  // "subvol-9999-disk-0").
  const std::string owned = fmt::format("-{}-disk-", expected.scratch_vmid);
  for (const auto& key : expected.disks) {
    const std::string value = text(key.c_str());
    const auto volume =
        backed_up_volume(config::to_string(expected.type), key, value).value_or(std::string());
    if (volume.empty()) {
      problems.push_back(fmt::format("disk {} of the archive was not restored", key));
    } else if (volume.rfind(expected.storage + ":", 0) != 0) {
      problems.push_back(fmt::format("disk {} was restored to {}, not to storage {}", key, volume,
                                     expected.storage));
    } else if (volume.find(owned) == std::string::npos) {
      problems.push_back(fmt::format("disk {} is {}, not a volume of guest {}", key, volume,
                                     expected.scratch_vmid));
    }
  }
  return problems;
}

}  // namespace pvt::backup
