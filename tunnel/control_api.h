// The worker's control and status API (README.md, "Operating it": GET /v1/status and /metrics,
// POST /v1/drain, /v1/resume, /v1/reconnect), served by the bounded HTTP server of
// common/http_server.h on a thread of its own. The event loop owns all SSH state; the API thread
// only reads the last published status and queues commands, which the loop answers (the loop is
// woken through an eventfd, the API thread through the server's wake()). Every request needs the
// bearer token; bad requests get a 4xx with a JSON error.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/http_server.h"
#include "common/result.h"
#include "tunnel/worker_status.h"

namespace pvt::tunnel {

enum class ControlCommand { drain, resume, reconnect };

struct ControlReply {
  int http_status = 200;
  std::string body;  // JSON
};

// What the loop and the API thread share.
class ControlChannel {
 public:
  ControlChannel();
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  // Loop side.
  void publish(const WorkerStatus& status);
  struct Pending {
    uint64_t id;
    ControlCommand command;
  };
  // The queued commands; from here on each one runs, and answer() must follow.
  std::vector<Pending> take();
  void answer(uint64_t id, ControlReply reply);
  int wake_fd() const { return wake_fd_; }  // readable while commands wait

  // API side.
  WorkerStatus status() const;
  // Queues a command for the loop; collect() its answer by the id returned.
  uint64_t submit(ControlCommand command);
  // The loop's answer, once (nullopt until it came).
  std::optional<ControlReply> collect(uint64_t id);
  // Gives up on a command: true when it was still queued, so it will never run; false when the
  // loop has taken it, so it runs (or ran) and its answer will come.
  bool withdraw(uint64_t id);
  // Called on the loop's thread after every answer (the API server's wake()); empty to unset.
  void on_answer(std::function<void()> notify);

 private:
  mutable std::mutex mutex_;
  WorkerStatus status_;
  std::vector<Pending> queue_;
  std::map<uint64_t, ControlReply> answers_;
  uint64_t next_id_ = 1;
  std::function<void()> notify_;
  int wake_fd_ = -1;
};

class ControlServer {
 public:
  ControlServer(ControlChannel& channel, std::string token);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds at once (so a taken port is an error at start, not later), then serves on a thread.
  Result<void> start(const config::HostPort& listen);
  void stop();

 private:
  http::Reply command(ControlCommand command, const http::Request& request);

  ControlChannel& channel_;
  std::string token_;
  http::Server server_;
  std::thread thread_;
};

}  // namespace pvt::tunnel
