// The controller's HTTP face (README, "The controller"): GET /healthz, /v1/status (JSON),
// /metrics (Prometheus) and / (one HTML page), open to read like any monitoring endpoint and
// bound to loopback by default; POST /v1/maintenance/{tunnel}/start|stop only with the bearer
// token of [controller] token_file. Served by the bounded HTTP server on a thread of its own, so
// that no client can hold up the cycle: handlers read the status the last cycle published.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/http_server.h"
#include "controller/loop/controller.h"

namespace pvt::controller {

class StatusServer {
 public:
  // `token` empty: POST endpoints are refused. /healthz fails when no cycle has ended for
  // `stale_after` (the loop is stuck). `on_maintenance` runs (on the server thread) after a
  // flag changed, to wake the loop.
  StatusServer(Controller& controller, std::string token, std::chrono::seconds stale_after,
               int refresh_s, std::function<void()> on_maintenance);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  Result<void> start(const config::HostPort& listen);
  void stop();
  uint16_t port() const { return server_.port(); }
  // From the loop, after each cycle.
  void cycle_done();

 private:
  http::Reply maintenance(const std::string& tunnel, bool start, const http::Request& req);
  http::Reply healthz() const;

  Controller& controller_;
  std::string token_;
  std::chrono::seconds stale_after_;
  int refresh_s_;
  std::function<void()> on_maintenance_;
  http::Server server_;
  std::thread thread_;
  std::atomic<int64_t> last_cycle_ms_{-1};  // steady clock, milliseconds
};

}  // namespace pvt::controller
