// A worker status with every field set (and a name that needs escaping), for the tests of its
// JSON and of the metrics the worker serves.
#pragma once

#include "worker_client/worker_status.h"

namespace pvt::testing {

inline tunnel::WorkerStatus sample_worker_status() {
  tunnel::WorkerStatus s;
  s.name = "tunnel\"1";
  s.state = "drained";
  s.since = "2026-11-24T19:00:00Z";
  s.vps = "vps.example.net:22";
  s.reconnects = 4;
  s.last_error = "the VPS refused the remote forward";
  s.probe = {false, std::nullopt, "2026-11-24T19:00:05Z"};
  s.channels_open = 2;
  s.bytes_in = 10;
  s.bytes_out = 20;
  s.role = "backup";
  s.local = "127.0.0.1:18080";
  s.drain_requested = true;
  s.forward_refusals = 3;
  return s;
}

}  // namespace pvt::testing
