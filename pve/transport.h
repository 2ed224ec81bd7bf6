// The seam between the PVE client and the network: the client speaks Requests, a Transport
// carries them (libcurl in production, canned answers in tests).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "pve/error.h"

namespace pvt::pve {

using Params = std::vector<std::pair<std::string, std::string>>;

struct Request {
  std::string method = "GET";  // GET, POST, PUT, DELETE
  std::string path;            // below /api2/json, starting with '/'; segments already escaped
  Params params;               // query string for GET/DELETE, form body for POST/PUT
  // The run's time limit: the transport gives every attempt at most the time left until then
  // (and never more than its own timeout), and tries no further endpoint once it has passed.
  std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt;
};

struct Response {
  int status = 0;        // HTTP status code
  std::string reason;    // reason phrase of the status line (Proxmox puts messages there)
  std::string body;      // raw body
  std::string endpoint;  // base URL that answered
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Any HTTP answer is a Response (status checked by the caller); only failures to get one
  // (unreachable, timeout, TLS) are ApiErrors.
  virtual Result<Response, ApiError> perform(const Request& request) = 0;
};

}  // namespace pvt::pve
