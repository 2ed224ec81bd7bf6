// Small text helpers shared by the PVE models and the simulator.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pvt::text {

// "110, 210,,x" -> {"110", "210", "x"}: the list form Proxmox uses in properties (vmid lists,
// content types, node lists); blanks are dropped, empty items skipped.
std::vector<std::string> split_list(std::string_view text, char sep = ',');

}  // namespace pvt::text
