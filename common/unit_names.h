// Names of the systemd units the project ships, for remediations, messages and docs alike: a
// remediation that names a unit that does not exist sends a person at 3 a.m. the wrong way.
#pragma once

#include <string>
#include <string_view>

namespace pvt {

// templates/systemd/pvectl-tunnel@.service: one instance per [[tunnel]], named after it.
inline constexpr std::string_view kWorkerUnitPrefix = "pvectl-tunnel@";

inline std::string worker_unit(std::string_view tunnel) {
  return std::string(kWorkerUnitPrefix) + std::string(tunnel);
}

}  // namespace pvt
