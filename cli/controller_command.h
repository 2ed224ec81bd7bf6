// `pvectl-tunnel controller` (the service) and `pvectl-tunnel maintenance start|stop`.
#pragma once

#include <string>

#include "common/config.h"

namespace pvt::cli {

struct ControllerArgs {
  std::string config_path = config::kDefaultPath;
  bool dry_run = false;
  bool once = false;
};

// Runs until SIGTERM/SIGINT (or one cycle with --once). Exit 0 on a clean stop, 1 when it
// cannot run (the status server cannot listen), 2 on a bad config.
int run_controller(const ControllerArgs& args);

struct MaintenanceArgs {
  std::string config_path = config::kDefaultPath;
  bool start = true;
  std::string tunnel;
  int wait_s = 60;  // start: wait until the worker is drained; 0 = do not wait
};

// Through the local controller's API. Exit 0 done, 1 refused or not drained in time, 2 bad usage
// or config.
int run_maintenance(const MaintenanceArgs& args);

}  // namespace pvt::cli
