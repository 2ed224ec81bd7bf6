// The tunnel worker's control API from the other side: what `tunnel status`, `check` and the
// controller call. Every call ends within its time limit whatever the other end does (a worker
// that trickles its answer included), and no error message or log line carries the token.
#pragma once

#include <chrono>
#include <string>

#include "common/result.h"
#include "worker_client/worker_status.h"

namespace pvt::tunnel {

// One worker's control API, as the controller drives it; tests put a fake in its place.
class WorkerControl {
 public:
  virtual ~WorkerControl() = default;
  // GET /v1/status.
  virtual Result<WorkerStatus> status() = 0;
  // POST /v1/drain, /v1/resume, /v1/reconnect: ok once the worker's loop has taken the command
  // (draining runs on after the answer: status() shows "draining", then "drained").
  virtual Result<void> drain() = 0;
  virtual Result<void> resume() = 0;
  virtual Result<void> reconnect() = 0;
};

class WorkerClient final : public WorkerControl {
 public:
  // `control_url` as in the config ("http://127.0.0.1:9190"); each call, retry included, ends
  // within `timeout`.
  WorkerClient(std::string control_url, std::string token, std::chrono::milliseconds timeout);

  Result<WorkerStatus> status() override;
  Result<void> drain() override;
  Result<void> resume() override;
  Result<void> reconnect() override;

 private:
  // A POST with an empty body: 200 is ok, 401 "token rejected", anything else the worker's
  // {"error": ...}.
  Result<void> command(const char* path);

  std::string url_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

// GET {control_url}/v1/status with the bearer token (WorkerClient::status); the error says what
// failed (connect, HTTP status, body) without the token.
Result<WorkerStatus> fetch_worker_status(const std::string& control_url, const std::string& token,
                                         std::chrono::milliseconds timeout);

}  // namespace pvt::tunnel
