// Planned maintenance of a tunnel, as a flag every controller sees: a file per tunnel under
// <state_dir>/maintenance on the cluster filesystem, so that any controller (leader or not)
// can set it, and a restart or a hand-over to another node keeps it. While it is set, the
// leader keeps that tunnel's worker drained and does not "repair" it.
#pragma once

#include <chrono>
#include <map>
#include <string>

#include "common/result.h"
#include "controller/maintenance/maintenance_store.h"

namespace pvt::maintenance {

class MaintenanceFlags final : public MaintenanceStore {
 public:
  explicit MaintenanceFlags(std::string state_dir);

  // Idempotent: starting an active maintenance keeps its first `since`.
  Result<void> start(const std::string& tunnel, const std::string& by,
                     std::chrono::system_clock::time_point now) override;
  // Idempotent: stopping one that is not active is fine.
  Result<void> stop(const std::string& tunnel) override;
  // The active ones, by tunnel; a missing directory is none.
  Result<std::map<std::string, Flag>> active() const override;

 private:
  std::string dir_;
};

}  // namespace pvt::maintenance
