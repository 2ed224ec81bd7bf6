// A small HTTP/1.1 server for loopback control and status APIs: one thread, one poll() loop,
// non-blocking sockets. It exists because a general-purpose server on a thread pool lets one slow
// or idle client hold a thread, and lets a client grow the process with headers it has not been
// authenticated for. Here nothing a client does can block the loop, and everything a client can
// make it spend is capped and checked while reading, before authentication: time (a deadline for
// each whole request and each response), descriptors (a connection cap) and memory (the
// parser's limits; a connection never holds more than those plus one read's worth).
//
// Handlers are plain functions called on the server's thread; one whose answer depends on another
// thread returns a Deferred, which the loop polls without blocking (wake() from that thread makes
// it look at once).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "common/http_request_parser.h"
#include "common/result.h"

namespace pvt::http {

using Clock = std::chrono::steady_clock;

// A request sent by a program arrives in one go; 2 s is generous for any real client on the same
// host and short enough that a trickling one holds a connection only briefly.
inline constexpr std::chrono::milliseconds kRequestDeadlineMs{2000};
// Between two requests on a kept-alive connection.
inline constexpr std::chrono::milliseconds kIdleTimeoutMs{5000};
// A control API has a handful of users (a person, a scraper, the controller); every connection
// is a descriptor the process needs for its real work.
inline constexpr size_t kConnectionsMax = 16;
// After accept() ran out of descriptors: retrying at once would spin, since the listener stays
// readable until the backlog is drained.
inline constexpr std::chrono::milliseconds kAcceptPauseMs{100};
// After an error answer, what the client still sends is read and dropped for this long (and up
// to kLingerMaxBytes), so that closing does not reset the connection before the client has read
// the answer.
inline constexpr std::chrono::milliseconds kLingerMs{1000};
inline constexpr size_t kLingerMaxBytes = 64 * 1024;

struct ServerLimits {
  // From accept (or from the first byte of a later request on the same connection) until the
  // request is complete; and from a response's start until it is sent.
  std::chrono::milliseconds request_deadline = kRequestDeadlineMs;
  std::chrono::milliseconds idle_timeout = kIdleTimeoutMs;
  // Open connections at most. When full, a new connection takes the place of one that waits for
  // its client (idle before anything else, then with its request incomplete; the longest waiting
  // first); when all are being answered, the new one is closed at once.
  size_t connections_max = kConnectionsMax;
  std::chrono::milliseconds accept_pause = kAcceptPauseMs;
  std::chrono::milliseconds linger = kLingerMs;
  size_t linger_max_bytes = kLingerMaxBytes;
  RequestLimits request;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the framing ones
};

// {"error": message} with `status`.
Response error_response(int status, std::string_view message);

// An answer that is not ready when the handler returns. The server calls `poll` on its own thread
// until it returns a response: after every wake(), and every kDeferredPollMs in between. `poll`
// must not block; it owns its own timeout (the server sets none while it waits).
struct Deferred {
  std::function<std::optional<Response>(Clock::time_point now)> poll;
};
inline constexpr std::chrono::milliseconds kDeferredPollMs{100};

using Reply = std::variant<Response, Deferred>;
using Handler = std::function<Reply(const Request&)>;
// Runs once a request's header section is complete, before its body is read: a response refuses
// the request (and the connection is closed after it), nullopt lets it through.
using Gate = std::function<std::optional<Response>(const Request&)>;

// What the server has done, for tests and logs.
struct ServerStats {
  size_t open_connections = 0;
  uint64_t accepted = 0;
  uint64_t refused = 0;          // closed at once: full, nothing to make room
  uint64_t evicted = 0;          // closed to make room for a newer one
  uint64_t timed_out = 0;        // request or response deadline, or idle timeout
  uint64_t accept_failures = 0;  // accept() errors other than "nothing to accept"
  uint64_t gate_calls = 0;
  size_t peak_connection_bytes = 0;  // the most one connection held at once (parser, buffers)
};

class Server {
 public:
  // `name` prefixes the log lines ("control API").
  explicit Server(std::string name, ServerLimits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Before run(). A path with routes answers other methods with 405 and an Allow header; any
  // other path with 404. A path ending in '*' matches every path that starts with what precedes
  // it (the handler reads the rest from the request).
  void route(std::string method, std::string path, Handler handler);
  void set_gate(Gate gate);

  // Binds and listens at once, so that a taken address is an error at start. Port 0 picks one.
  Result<void> listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }

  // Serves on the calling thread until stop().
  void run();
  // From any thread; run() returns promptly.
  void stop();
  // From any thread: a deferred answer may be ready.
  void wake();

  ServerStats stats() const;

 private:
  struct Connection;
  struct Route {
    std::string method;
    std::string path;
    Handler handler;
  };
  class Throttle {
   public:
    // How many events to report now (this one included), or 0 while a line was logged recently.
    uint64_t note(Clock::time_point now);

   private:
    Clock::time_point next_{};
    uint64_t count_ = 0;
  };

  void accept_ready(Clock::time_point now);
  bool make_room(Clock::time_point now);
  void service(Connection& c, short revents, Clock::time_point now);
  size_t read_some(Connection& c, Clock::time_point now);  // bytes read
  void consume(Connection& c, std::string_view data, Clock::time_point now);
  void dispatch(Connection& c, Clock::time_point now);
  void poll_deferred(Connection& c, Clock::time_point now);
  void respond(Connection& c, const Response& response, bool close, Clock::time_point now);
  void write_some(Connection& c, Clock::time_point now);
  void finish_response(Connection& c, Clock::time_point now);
  void expire(Connection& c, Clock::time_point now);
  void close_connection(Connection& c);
  void note_held(const Connection& c);
  size_t open_count() const;

  std::string name_;
  ServerLimits limits_;
  std::vector<Route> routes_;
  Gate gate_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<char> read_buffer_;
  Clock::time_point accept_paused_until_{};
  Throttle full_log_;
  Throttle evict_log_;
  Throttle accept_log_;

  std::atomic<size_t> open_{0};
  std::atomic<uint64_t> accepted_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> timed_out_{0};
  std::atomic<uint64_t> accept_failures_{0};
  std::atomic<uint64_t> gate_calls_{0};
  std::atomic<size_t> peak_connection_bytes_{0};
};

}  // namespace pvt::http
