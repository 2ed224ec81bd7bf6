#include "tunnel/control_api.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace pvt::tunnel {
namespace {

std::string json_error(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump();
}

// Compares without an early exit, so response timing does not reveal how much of a guess was
// right (the length is not secret).
bool same_secret(std::string_view given, std::string_view token) {
  if (given.size() != token.size() || token.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i] ^ token[i]);
  }
  return diff == 0;
}

}  // namespace

ControlChannel::ControlChannel() : wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

ControlChannel::~ControlChannel() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ControlChannel::publish(const WorkerStatus& status) {
  std::lock_guard lock(mutex_);
  status_ = status;
}

WorkerStatus ControlChannel::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::vector<ControlChannel::Pending> ControlChannel::take() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
  std::lock_guard lock(mutex_);
  return std::exchange(queue_, {});
}

std::optional<ControlReply> ControlChannel::request(ControlCommand command,
                                                    std::chrono::milliseconds timeout) {
  std::future<ControlReply> answer;
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(Pending{command, {}});
    answer = queue_.back().reply.get_future();
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  if (answer.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return answer.get();
}

ControlServer::ControlServer(ControlChannel& channel, std::string token)
    : channel_(channel), token_(std::move(token)), server_(std::make_unique<httplib::Server>()) {}

ControlServer::~ControlServer() { stop(); }

Result<void> ControlServer::start(const config::HostPort& listen) {
  httplib::Server& s = *server_;
  // One thread answers a status API used by a person or a scraper now and then; every thread
  // costs resident stack and allocator memory for the life of the worker.
  s.new_task_queue = [] { return new httplib::ThreadPool(1); };
  s.set_keep_alive_max_count(10);
  s.set_read_timeout(5, 0);
  s.set_write_timeout(5, 0);
  s.set_payload_max_length(4096);

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const std::string auth = req.get_header_value("Authorization");
    const std::string_view prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) != 0 ||
        !same_secret(std::string_view(auth).substr(prefix.size()), token_)) {
      res.status = 401;
      res.set_header("WWW-Authenticate", "Bearer");
      res.set_content(json_error("missing or wrong bearer token (control_token_file)"),
                      "application/json");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  s.Get("/v1/status", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(worker_status_json(channel_.status()), "application/json");
  });
  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(worker_metrics(channel_.status()), "text/plain; version=0.0.4");
  });

  const std::pair<const char*, ControlCommand> commands[] = {
      {"/v1/drain", ControlCommand::drain},
      {"/v1/resume", ControlCommand::resume},
      {"/v1/reconnect", ControlCommand::reconnect}};
  for (const auto& [path, command] : commands) {
    s.Post(path, [this, command = command](const httplib::Request& req, httplib::Response& res) {
      if (!req.body.empty()) {
        auto body = nlohmann::json::parse(req.body, nullptr, false);
        if (body.is_discarded() || !body.is_object()) {
          res.status = 400;
          res.set_content(json_error("the body must be empty or a JSON object"),
                          "application/json");
          return;
        }
      }
      auto reply = channel_.request(command, std::chrono::seconds(5));
      if (!reply) {
        res.status = 503;
        res.set_content(json_error("the worker's event loop did not answer within 5 s"),
                        "application/json");
        return;
      }
      res.status = reply->http_status;
      res.set_content(reply->body, "application/json");
    });
    s.Get(path, [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", "POST");
      res.set_content(json_error("use POST"), "application/json");
    });
  }
  for (const char* path : {"/v1/status", "/metrics"}) {
    s.Post(path, [](const httplib::Request&, httplib::Response& res) {
      res.status = 405;
      res.set_header("Allow", "GET");
      res.set_content(json_error("use GET"), "application/json");
    });
  }
  s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = fmt::format("bad request (HTTP {})", res.status);
    if (res.status == 404) {
      message = fmt::format("no such endpoint: {} {}", req.method, req.path);
    } else if (res.status == 400 && req.method == "POST" && !req.has_header("Content-Length")) {
      // cpp-httplib needs the length of every POST body, even an empty one.
      message = "POST needs a Content-Length header: send an empty body (curl -d '')";
    }
    res.set_content(json_error(message), "application/json");
  });

  if (!s.bind_to_port(listen.host, listen.port)) {
    return fail(
        fmt::format("cannot listen on {} for the control API (control_listen): address "
                    "in use or not available",
                    listen.str()));
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return {};
}

void ControlServer::stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pvt::tunnel
