// Reading fields the way the Proxmox VE API sends them: numbers sometimes as strings,
// booleans as 0/1 (or "0"/"1", or true/false), absent keys meaning the default. A value that
// cannot mean what the field needs is a malformed-answer error naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "pve/models.h"

namespace pvt::pve::fields {

ApiError malformed(const std::string& what);

ApiResult<std::optional<int64_t>> opt_int(const Json& obj, const char* key);
ApiResult<std::optional<double>> opt_number(const Json& obj, const char* key);
ApiResult<std::optional<bool>> opt_bool(const Json& obj, const char* key);
ApiResult<std::optional<std::string>> opt_string(const Json& obj, const char* key);

ApiResult<int64_t> req_int(const Json& obj, const char* key);
ApiResult<std::string> req_string(const Json& obj, const char* key);

}  // namespace pvt::pve::fields
