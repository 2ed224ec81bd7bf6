#include "tunnel/control_api.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/bearer_token.h"

namespace pvt::tunnel {
namespace {

// How long a POST waits for the event loop to take its command before it is withdrawn and
// answered 503. The loop answers within one pass; only a loop stuck elsewhere takes this long.
constexpr std::chrono::seconds kCommandTimeout{5};

std::string json_error(std::string_view message) {
  return nlohmann::json{{"error", message}}.dump();
}

http::Response json_response(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
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

void ControlChannel::answer(uint64_t id, ControlReply reply) {
  std::lock_guard lock(mutex_);
  answers_[id] = std::move(reply);
  // Under the lock, so that on_answer({}) returns only once no call into the server is running.
  if (notify_) notify_();
}

uint64_t ControlChannel::submit(ControlCommand command) {
  uint64_t id = 0;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    queue_.push_back(Pending{id, command});
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  return id;
}

std::optional<ControlReply> ControlChannel::collect(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it = answers_.find(id);
  if (it == answers_.end()) return std::nullopt;
  ControlReply reply = std::move(it->second);
  answers_.erase(it);
  return reply;
}

bool ControlChannel::withdraw(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto it =
      std::find_if(queue_.begin(), queue_.end(), [&](const Pending& p) { return p.id == id; });
  if (it == queue_.end()) return false;
  queue_.erase(it);
  return true;
}

void ControlChannel::on_answer(std::function<void()> notify) {
  std::lock_guard lock(mutex_);
  notify_ = std::move(notify);
}

ControlServer::ControlServer(ControlChannel& channel, std::string token)
    : channel_(channel), token_(std::move(token)), server_("control API") {}

ControlServer::~ControlServer() { stop(); }

Result<void> ControlServer::start(const config::HostPort& listen) {
  server_.set_gate([this](const http::Request& req) -> std::optional<http::Response> {
    if (!http::bearer_matches(req, token_)) {
      http::Response refusal =
          json_response(401, json_error("missing or wrong bearer token (control_token_file)"));
      refusal.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refusal;
    }
    return std::nullopt;
  });

  server_.route("GET", "/v1/status", [this](const http::Request&) -> http::Reply {
    return json_response(200, worker_status_json(channel_.status()));
  });
  server_.route("GET", "/metrics", [this](const http::Request&) -> http::Reply {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = worker_metrics(channel_.status());
    return r;
  });
  const std::pair<const char*, ControlCommand> commands[] = {
      {"/v1/drain", ControlCommand::drain},
      {"/v1/resume", ControlCommand::resume},
      {"/v1/reconnect", ControlCommand::reconnect}};
  for (const auto& [path, command] : commands) {
    server_.route("POST", path, [this, command = command](const http::Request& req) {
      return this->command(command, req);
    });
  }

  auto bound = server_.listen(listen.host, listen.port);
  if (!bound) {
    return fail(
        fmt::format("cannot listen on {} for the control API (control_listen): address "
                    "in use or not available ({})",
                    listen.str(), bound.error().message));
  }
  channel_.on_answer([this] { server_.wake(); });
  thread_ = std::thread([this] { server_.run(); });
  return {};
}

http::Reply ControlServer::command(ControlCommand command, const http::Request& req) {
  if (!req.body.empty()) {
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return json_response(400, json_error("the body must be empty or a JSON object"));
    }
  }
  // The server thread never waits here: the loop's answer is collected as it comes, while other
  // clients (a status scrape) are served.
  const uint64_t id = channel_.submit(command);
  const auto give_up = http::Clock::now() + kCommandTimeout;
  return http::Deferred{
      [this, id, give_up](http::Clock::time_point now) -> std::optional<http::Response> {
        if (auto reply = channel_.collect(id)) {
          return json_response(reply->http_status, std::move(reply->body));
        }
        if (now < give_up) return std::nullopt;
        // A command answered 503 must never run later; one the loop has taken runs, so its
        // answer is the truth and is waited for.
        if (!channel_.withdraw(id)) return std::nullopt;
        return json_response(503, json_error("the worker's event loop did not answer within 5 s"));
      }};
}

void ControlServer::stop() {
  channel_.on_answer({});
  server_.stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace pvt::tunnel
