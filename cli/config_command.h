// `pvectl-tunnel config validate`.
#pragma once

#include <optional>
#include <string>

#include "common/config.h"

namespace pvt::cli {

struct ConfigValidateArgs {
  std::string config_path = config::kDefaultPath;
  std::optional<std::string> for_command;  // nullopt: inferred from the sections present
};

int run_config_validate(const ConfigValidateArgs& args);

}  // namespace pvt::cli
