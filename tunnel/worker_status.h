// The worker's GET /v1/status answer (name, state, since, vps, forward, reconnects, last_error,
// probe, channels_open, bytes_in, bytes_out), as check and the controller read it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace pvt::tunnel {

struct ProbeResult {
  std::optional<bool> ok;  // nullopt: no probe has run yet
  std::optional<int64_t> latency_ms;
  std::optional<std::string> at;  // RFC 3339 UTC
};

struct WorkerStatus {
  std::string name;
  std::string state;  // resolving, connecting, authenticating, forward-pending, serving,
                      // draining, drained, backoff, stopping
  std::string since;  // RFC 3339 UTC
  std::string vps;
  std::optional<std::string> forward;  // "127.0.0.1:29000" when bound, null otherwise
  int64_t reconnects = 0;
  std::optional<std::string> last_error;
  ProbeResult probe;
  int64_t channels_open = 0;
  int64_t bytes_in = 0;
  int64_t bytes_out = 0;
  // Beyond the fields above, for people and dashboards; parse_worker_status does not require them.
  std::string role;
  std::string local;
  bool drain_requested = false;
  int64_t forward_refusals = 0;
  int64_t ssh_heap_bytes = 0;  // what libssh2 holds (flat over an idle run, or something leaks)
};

// The /v1/status body the worker serves (parse_worker_status reads it back).
std::string worker_status_json(const WorkerStatus& s);

// GET /metrics: the same facts in the Prometheus text exposition format (version 0.0.4).
std::string worker_metrics(const WorkerStatus& s);

// Parses a /v1/status body; the error names the field that is missing or of the wrong type.
Result<WorkerStatus> parse_worker_status(const std::string& body);

// GET {control_url}/v1/status with the bearer token; the error says what failed (connect,
// HTTP status, body) without the token.
Result<WorkerStatus> fetch_worker_status(const std::string& control_url, const std::string& token,
                                         std::chrono::milliseconds timeout);

}  // namespace pvt::tunnel
