// The `startup` property of a Proxmox guest ("order=1,up=30,down=60"): setting the configured
// order must keep what the administrator set for up= and down=.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pvt::planner {

// `current` with its order set to `order`; the other parts kept in their place, an order added
// first when there was none. nullopt when `current` cannot be read (then it is not touched).
std::optional<std::string> with_startup_order(std::optional<std::string_view> current, int order);

// Whether `current` has order=`order` (a bare number is an order too).
bool has_startup_order(std::optional<std::string_view> current, int order);

}  // namespace pvt::planner
