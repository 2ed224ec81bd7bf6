#include "worker_client/worker_client.h"

#include <fmt/format.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <utility>

namespace pvt::tunnel {
namespace {

// httplib's own names ("Connection", "Read") say too little to act on.
std::string why_unreachable(httplib::Error e, std::chrono::milliseconds timeout) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or the address cannot be reached (is the worker running, and "
             "does control_listen match control_url?)";
    case httplib::Error::ConnectionTimeout:
      return fmt::format(
          "connection timed out after {} ms (a firewall dropping packets, or the "
          "guest is down)",
          timeout.count());
    case httplib::Error::Read:
      // A read that ran out of time is cut by the watchdog and reported as such; this one ended
      // before the deadline.
      return "the connection was closed before an answer";
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS handshake failed (" + httplib::to_string(e) + ")";
    default:
      return httplib::to_string(e);
  }
}

struct Answer {
  int status = 0;
  std::string body;
};

enum class Retry { once, never };

constexpr std::chrono::seconds kPastTheDeadline{1};

// One request (GET, or POST with an empty body) within `timeout` in all: httplib's timeouts are
// per read, so a worker (or anything at that address) that trickles its answer would hold the
// caller past its time limit; a watchdog stops the request at the deadline.
Result<Answer> exchange(const std::string& url, const std::string& token,
                        std::chrono::milliseconds timeout, const std::string& method,
                        const std::string& path, Retry retry) {
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      return fail(
          fmt::format("{}: cannot reach the worker: no answer within {} ms", url, timeout.count()));
    }
    httplib::Client client(url);
    if (!client.is_valid()) return fail(fmt::format("invalid control_url {}", url));
    client.set_connection_timeout(left);
    // Reads and writes end at the deadline by the watchdog, not by httplib's timeouts: a read
    // timeout a moment before the deadline would look like a connection closed early, and be
    // tried again (a command sent twice).
    client.set_read_timeout(left + kPastTheDeadline);
    client.set_write_timeout(left + kPastTheDeadline);
    client.set_bearer_token_auth(token.c_str());
    std::mutex mutex;
    std::condition_variable answered;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock lock(mutex);
      if (!answered.wait_until(lock, deadline, [&] { return done; })) client.stop();
    });
    // An empty POST goes out with "Content-Length: 0", which the worker's server requires of a
    // body it is to wait for (none at all is an empty body too).
    auto res = method == "POST" ? client.Post(path.c_str(), std::string(), "application/json")
                                : client.Get(path.c_str());
    {
      std::lock_guard lock(mutex);
      done = true;
    }
    answered.notify_one();
    watchdog.join();
    if (!res) {
      const bool cut = steady_clock::now() >= deadline;
      // Closed before any answer (a busy control API gives way to a request that has arrived,
      // and may close one whose client was slow to send): once more, within the time left.
      const bool closed_early =
          res.error() == httplib::Error::Read || res.error() == httplib::Error::Write;
      if (retry == Retry::once && attempt == 1 && closed_early && !cut) continue;
      if (cut) {
        return fail(fmt::format("{}: cannot reach the worker: no complete answer within {} ms", url,
                                timeout.count()));
      }
      return fail(fmt::format("{}: cannot reach the worker: {}", url,
                              why_unreachable(res.error(), timeout)));
    }
    if (res->status == 401) return fail(fmt::format("{}: token rejected (401)", url));
    return Answer{res->status, std::move(res->body)};
  }
}

// The worker's {"error": "..."}, when the body is one.
std::optional<std::string> json_error(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find("error");
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

WorkerClient::WorkerClient(std::string control_url, std::string token,
                           std::chrono::milliseconds timeout)
    : url_(std::move(control_url)), token_(std::move(token)), timeout_(timeout) {}

Result<WorkerStatus> WorkerClient::status() {
  auto answer = exchange(url_, token_, timeout_, "GET", "/v1/status", Retry::once);
  if (!answer) return tl::unexpected(answer.error());
  if (answer->status != 200) {
    return fail(fmt::format("{}/v1/status answered HTTP {}", url_, answer->status));
  }
  auto status = parse_worker_status(answer->body);
  if (!status) return fail(fmt::format("{}/v1/status: {}", url_, status.error().message));
  return status;
}

Result<void> WorkerClient::command(const char* path) {
  // A connection closed before the answer may have carried a command the worker has taken
  // already: drain and resume are the same done twice, a second reconnect is not (a new session
  // once more). The caller sees the status next and asks again if it must.
  const Retry retry = std::string_view(path) == "/v1/reconnect" ? Retry::never : Retry::once;
  auto answer = exchange(url_, token_, timeout_, "POST", path, retry);
  if (!answer) return tl::unexpected(answer.error());
  if (answer->status == 200) return {};
  if (auto error = json_error(answer->body)) {
    return fail(fmt::format("{}{} answered HTTP {}: {}", url_, path, answer->status, *error));
  }
  return fail(fmt::format("{}{} answered HTTP {} (not the worker's JSON error)", url_, path,
                          answer->status));
}

Result<void> WorkerClient::drain() { return command("/v1/drain"); }
Result<void> WorkerClient::resume() { return command("/v1/resume"); }
Result<void> WorkerClient::reconnect() { return command("/v1/reconnect"); }

Result<WorkerStatus> fetch_worker_status(const std::string& control_url, const std::string& token,
                                         std::chrono::milliseconds timeout) {
  return WorkerClient(control_url, token, timeout).status();
}

}  // namespace pvt::tunnel
