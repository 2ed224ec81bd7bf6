#include "pve/error.h"

#include <fmt/format.h>

namespace pvt::pve {

const char* to_string(ErrorKind k) {
  switch (k) {
    case ErrorKind::unreachable:
      return "unreachable";
    case ErrorKind::timeout:
      return "timeout";
    case ErrorKind::tls:
      return "tls";
    case ErrorKind::unauthorized:
      return "unauthorized";
    case ErrorKind::forbidden:
      return "forbidden";
    case ErrorKind::not_found:
      return "not-found";
    case ErrorKind::bad_request:
      return "bad-request";
    case ErrorKind::node_unreachable:
      return "node-unreachable";
    case ErrorKind::server:
      return "server";
    case ErrorKind::malformed:
      return "malformed";
  }
  return "?";
}

std::string ApiError::describe() const {
  std::string where = method.empty() ? path : fmt::format("{} {}", method, path);
  std::string what = http_status != 0 ? fmt::format("{} {}", http_status, message) : message;
  for (const auto& [param, msg] : param_errors) what += fmt::format("; {}: {}", param, msg);
  if (kind == ErrorKind::tls && !fingerprint_seen.empty()) {
    what += fmt::format(" (certificate fingerprint seen: {})", fingerprint_seen);
  }
  if (where.empty()) return what;
  return fmt::format("{}: {}", where, what);
}

std::optional<MissingPrivilege> ApiError::missing_privilege() const {
  // "Permission check failed (/vms/110, VM.PowerMgmt)"; privileges may be "A|B" (any of).
  constexpr std::string_view marker = "Permission check failed (";
  auto at = message.find(marker);
  if (at == std::string::npos) return std::nullopt;
  auto start = at + marker.size();
  auto comma = message.find(", ", start);
  auto close = message.find(')', start);
  if (comma == std::string::npos || close == std::string::npos || comma > close) {
    return std::nullopt;
  }
  return MissingPrivilege{message.substr(start, comma - start),
                          message.substr(comma + 2, close - comma - 2)};
}

}  // namespace pvt::pve
