// The worker's control and status API (README.md, "Operating it": GET /v1/status and /metrics,
// POST /v1/drain, /v1/resume, /v1/reconnect), served by cpp-httplib on its own threads.
// The event loop owns all SSH state; the API threads only read the last published status and
// queue commands, which the loop answers (the loop is woken through an eventfd). Every request
// needs the bearer token; bad requests get a 4xx with a JSON error.
#pragma once

#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "tunnel/worker_status.h"

namespace httplib {
class Server;
}

namespace pvt::tunnel {

enum class ControlCommand { drain, resume, reconnect };

struct ControlReply {
  int http_status = 200;
  std::string body;  // JSON
};

// What the loop and the API threads share.
class ControlChannel {
 public:
  ControlChannel();
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

  // Loop side.
  void publish(const WorkerStatus& status);
  struct Pending {
    ControlCommand command;
    std::promise<ControlReply> reply;
  };
  std::vector<Pending> take();
  int wake_fd() const { return wake_fd_; }  // readable while commands wait

  // API side.
  WorkerStatus status() const;
  // Queues a command and waits for the loop's answer; nullopt if the loop did not answer.
  std::optional<ControlReply> request(ControlCommand command, std::chrono::milliseconds timeout);

 private:
  mutable std::mutex mutex_;
  WorkerStatus status_;
  std::vector<Pending> queue_;
  int wake_fd_ = -1;
};

class ControlServer {
 public:
  ControlServer(ControlChannel& channel, std::string token);
  ~ControlServer();

  // Binds at once (so a taken port is an error at start, not later), then serves on a thread.
  Result<void> start(const config::HostPort& listen);
  void stop();

 private:
  ControlChannel& channel_;
  std::string token_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace pvt::tunnel
