// The worker's GET /v1/status answer (name, state, since, vps, forward, reconnects, last_error,
// probe, channels_open, bytes_in, bytes_out): one definition for the worker that serves it and for
// check and the controller that read it. Plain data and JSON only, so that a client needs neither
// libssh2 nor the rest of the worker. (Namespace tunnel: it is the tunnel worker's API.)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

// The worker's state as a value; `other` for a state this version does not know (a newer
// worker), which callers treat as neither serving nor drained.
enum class WorkerState {
  resolving,
  connecting,
  authenticating,
  forward_pending,
  serving,
  draining,
  drained,
  backoff,
  stopping,
  other
};
WorkerState worker_state(std::string_view state);  // "forward-pending" -> forward_pending

// Serving with its forward bound: the tunnel can carry traffic.
bool carries_traffic(const WorkerStatus& s);
// Drained or on the way there: the other tunnel carries the traffic by intent.
bool drained_or_draining(const WorkerStatus& s);

// The /v1/status body the worker serves (parse_worker_status reads it back).
std::string worker_status_json(const WorkerStatus& s);

// Parses a /v1/status body; the error names the field that is missing or of the wrong type.
Result<WorkerStatus> parse_worker_status(const std::string& body);

}  // namespace pvt::tunnel
