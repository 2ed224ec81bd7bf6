#include "controller/maintenance/maintenance_flags.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/atomic_file.h"
#include "common/small_file.h"
#include "common/utc_time.h"

namespace pvt::maintenance {
namespace {

namespace fs = std::filesystem;

constexpr size_t kFlagMax = 4096;  // bytes of one flag file

// Tunnel names come from the config (letters, digits, '-', '_', '.'); anything that could name
// another path is refused here too, since the name arrives through an API.
bool safe_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return false;
  }
  return true;
}

}  // namespace

MaintenanceFlags::MaintenanceFlags(std::string state_dir)
    : dir_((fs::path(state_dir) / "maintenance").string()) {}

Result<void> MaintenanceFlags::start(const std::string& tunnel, const std::string& by,
                                     std::chrono::system_clock::time_point now) {
  if (!safe_name(tunnel)) return fail(fmt::format("not a tunnel name: \"{}\"", tunnel));
  auto current = active();
  if (!current) return tl::unexpected(current.error());
  if (current->count(tunnel)) return {};
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return fail(fmt::format("cannot create {}: {}", dir_, ec.message()));
  const nlohmann::json flag = {{"since", format_utc(now)}, {"by", by}};
  return write_file_atomically((fs::path(dir_) / tunnel).string(), flag.dump() + "\n", 0600);
}

Result<void> MaintenanceFlags::stop(const std::string& tunnel) {
  if (!safe_name(tunnel)) return fail(fmt::format("not a tunnel name: \"{}\"", tunnel));
  std::error_code ec;
  fs::remove(fs::path(dir_) / tunnel, ec);
  if (ec)
    return fail(fmt::format("cannot remove the maintenance flag of {}: {}", tunnel, ec.message()));
  return {};
}

Result<std::map<std::string, Flag>> MaintenanceFlags::active() const {
  std::map<std::string, Flag> out;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return out;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    // Temporary files of a write in progress, and anything else that is no flag.
    if (!safe_name(name) || name.find(".tmp.") != std::string::npos) continue;
    Flag f;
    if (auto text = read_small_file(entry.path().string(), kFlagMax)) {
      auto j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object()) {
        f.since = j.value("since", "");
        f.by = j.value("by", "");
      }
    }
    out.emplace(name, std::move(f));
  }
  if (ec) return fail(fmt::format("cannot list {}: {}", dir_, ec.message()));
  return out;
}

}  // namespace pvt::maintenance
