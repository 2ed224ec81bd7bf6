// Where the planned-maintenance flags live: files on the cluster filesystem in production
// (MaintenanceFlags), memory shared by the controllers of a simulated scenario.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/result.h"

namespace pvt::maintenance {

struct Flag {
  std::string since;  // RFC 3339 UTC
  std::string by;     // who asked (the API client's description)
};

class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;
  // Idempotent: starting an active maintenance keeps its first `since`.
  virtual Result<void> start(const std::string& tunnel, const std::string& by,
                             std::chrono::system_clock::time_point now) = 0;
  // Idempotent: stopping one that is not active is fine.
  virtual Result<void> stop(const std::string& tunnel) = 0;
  // The active ones, by tunnel.
  virtual Result<std::map<std::string, Flag>> active() const = 0;
};

}  // namespace pvt::maintenance
