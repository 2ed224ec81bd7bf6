// `pvectl-tunnel tunnel` (the worker, foreground) and `pvectl-tunnel tunnel status`.
#pragma once

#include <string>

#include "common/config.h"

namespace pvt::cli {

struct TunnelArgs {
  std::string config_path = config::kDefaultPath;
  std::string name;
  bool accept_new_hostkey = false;
};

struct TunnelStatusArgs {
  std::string config_path = config::kDefaultPath;
  std::string name;
  std::string format = "text";
};

int run_tunnel(const TunnelArgs& args);
int run_tunnel_status(const TunnelStatusArgs& args);

}  // namespace pvt::cli
