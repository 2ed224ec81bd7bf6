// The two tunnel guests of the reference deployment (examples/topology.toml): tunnel1, VM 110
// on pve1, and tunnel2, container 210 on pve2, both startup order 1; and how the simulator's
// reference token authenticates.
#pragma once

#include <string>

#include "common/config.h"

namespace pvt::testing {

inline const std::string kReferenceTokenAuth =
    "PVEAPIToken=pvectl@pve!tunnel=8d4b3c1e-2f6a-4b7d-9e0c-5a1f2b3c4d5e";

inline config::Config reference_guests() {
  config::Config cfg;
  config::Guest vm;
  vm.name = "tunnel1";
  vm.node = "pve1";
  vm.vmid = 110;
  vm.type = config::GuestType::qemu;
  vm.startup_order = 1;
  config::Guest ct = vm;
  ct.name = "tunnel2";
  ct.node = "pve2";
  ct.vmid = 210;
  ct.type = config::GuestType::lxc;
  cfg.guests = {vm, ct};
  return cfg;
}

}  // namespace pvt::testing
