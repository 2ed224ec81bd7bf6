#include "common/http_server.h"

#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <iterator>
#include <nlohmann/json.hpp>

namespace pvt::http {
namespace {

// One read per ready connection and pass: every client gets its turn, and what a connection can
// have read past a complete request (pipelined bytes) is at most this.
constexpr size_t kReadChunkBytes = 8 * 1024;
// Accepts per pass, so a burst of connections cannot starve the ones already open.
constexpr int kAcceptsPerPass = 64;
// Connections not yet accepted wait in the kernel and cost the process no descriptor. A burst
// of them waits here while the loop drains it; once the queue is full the kernel drops new SYNs,
// which a client sends again only after a second.
constexpr int kListenBacklog = 256;
// Repeated trouble (a full server, no descriptors) is logged once per this, with a count.
constexpr std::chrono::seconds kLogEvery{10};

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

bool retry_later(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

Response error_response(int status, std::string_view message) {
  Response r;
  r.status = status;
  // Replace, never throw, should a message ever carry invalid UTF-8.
  r.body = nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                   nlohmann::json::error_handler_t::replace);
  return r;
}

struct Server::Connection {
  enum class Phase {
    reading,    // waits for (the rest of) a request
    handling,   // a deferred answer is being prepared
    writing,    // a response goes out
    lingering,  // answered and half-closed; drops what the client still sends
  };

  Connection(int socket, const RequestLimits& limits) : fd(socket), parser(limits) {}

  int fd;
  Phase phase = Phase::reading;
  RequestParser parser;
  bool served_one = false;  // the first request's deadline runs from accept
  bool keep_alive = false;
  bool close_after = false;
  Clock::time_point deadline{};
  Clock::time_point waiting_since{};  // for make_room(): who has waited longest for its client
  std::string pending;                // read past the end of the request being answered
  std::string out;
  size_t out_sent = 0;
  size_t lingered = 0;
  Deferred deferred;
};

uint64_t Server::Throttle::note(Clock::time_point now) {
  ++count_;
  if (now < next_) return 0;
  next_ = now + kLogEvery;
  return std::exchange(count_, 0);
}

Server::Server(std::string name, ServerLimits limits)
    : name_(std::move(name)),
      limits_(limits),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      read_buffer_(kReadChunkBytes) {}

Server::~Server() {
  for (auto& c : connections_) close_connection(*c);
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Server::route(std::string method, std::string path, Handler handler) {
  routes_.push_back(Route{std::move(method), std::move(path), std::move(handler)});
}

void Server::set_gate(Gate gate) { gate_ = std::move(gate); }

Result<void> Server::listen(const std::string& host, uint16_t port) {
  if (wake_fd_ < 0) return fail(fmt::format("cannot create an eventfd: {}", std::strerror(errno)));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    return fail(fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
  }
  std::string why = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    // A restarted worker can listen again while the old connections sit in TIME_WAIT.
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, kListenBacklog) != 0) {
      why = std::strerror(errno);
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  freeaddrinfo(found);
  if (listen_fd_ < 0) return fail(fmt::format("cannot listen on {} port {}: {}", host, port, why));
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len) == 0) {
    if (bound.ss_family == AF_INET) {
      port_ = ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
    } else if (bound.ss_family == AF_INET6) {
      port_ = ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
    }
  }
  return {};
}

void Server::stop() {
  stopping_.store(true);
  wake();
}

void Server::wake() {
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

ServerStats Server::stats() const {
  ServerStats s;
  s.open_connections = open_.load();
  s.accepted = accepted_.load();
  s.refused = refused_.load();
  s.evicted = evicted_.load();
  s.timed_out = timed_out_.load();
  s.accept_failures = accept_failures_.load();
  s.gate_calls = gate_calls_.load();
  s.peak_connection_bytes = peak_connection_bytes_.load();
  return s;
}

size_t Server::open_count() const {
  return static_cast<size_t>(std::count_if(connections_.begin(), connections_.end(),
                                           [](const auto& c) { return c->fd >= 0; }));
}

void Server::run() {
  using Phase = Connection::Phase;
  std::vector<pollfd> fds;
  std::vector<Connection*> polled;
  while (!stopping_.load() && listen_fd_ >= 0) {
    Clock::time_point now = Clock::now();
    fds.clear();
    polled.clear();
    std::optional<Clock::time_point> next;
    auto consider = [&](Clock::time_point t) {
      if (!next || t < *next) next = t;
    };
    fds.push_back({wake_fd_, POLLIN, 0});
    const bool listening = now >= accept_paused_until_;
    fds.push_back({listening ? listen_fd_ : -1, POLLIN, 0});
    if (!listening) consider(accept_paused_until_);
    for (auto& c : connections_) {
      short events = 0;
      if (c->phase == Phase::reading || c->phase == Phase::lingering) events |= POLLIN;
      if (c->out_sent < c->out.size()) events |= POLLOUT;
      // Not polled at all while its answer is prepared: a client that hung up would report
      // POLLHUP on every pass and spin the loop.
      fds.push_back({events != 0 ? c->fd : -1, events, 0});
      polled.push_back(c.get());
      consider(c->phase == Phase::handling ? now + kDeferredPollMs : c->deadline);
    }
    int timeout_ms = -1;
    if (next) {
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, INT_MAX));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("{}: poll failed: {}; no longer serving", name_, std::strerror(errno));
      break;
    }
    now = Clock::now();
    if (fds[0].revents != 0) {
      uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof count);
    }
    if (stopping_.load()) break;
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[i + 2].revents != 0 && polled[i]->fd >= 0) {
        service(*polled[i], fds[i + 2].revents, now);
      }
    }
    if (fds[1].revents != 0) accept_ready(now);
    for (auto& c : connections_) {
      if (c->fd >= 0 && c->phase == Phase::handling) poll_deferred(*c, now);
    }
    for (auto& c : connections_) {
      if (c->fd >= 0 && c->phase != Phase::handling && now >= c->deadline) expire(*c, now);
    }
    std::erase_if(connections_, [](const auto& c) { return c->fd < 0; });
    open_.store(connections_.size());
  }
  for (auto& c : connections_) close_connection(*c);
  connections_.clear();
  open_.store(0);
}

void Server::accept_ready(Clock::time_point now) {
  for (int i = 0; i < kAcceptsPerPass; ++i) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (err == EINTR || err == ECONNABORTED) continue;
      ++accept_failures_;
      accept_paused_until_ = now + limits_.accept_pause;
      if (const uint64_t n = accept_log_.note(now)) {
        spdlog::warn("{}: accept() failed ({} time(s) since the last report): {}{}; pausing {} ms",
                     name_, n, std::strerror(err),
                     err == EMFILE || err == ENFILE ? " (out of file descriptors)" : "",
                     limits_.accept_pause.count());
      }
      return;
    }
    if (open_count() >= limits_.connections_max && !make_room(now)) {
      ++refused_;  // before the close, which the client may see at once
      ::close(fd);
      if (const uint64_t n = full_log_.note(now)) {
        spdlog::warn(
            "{}: {} connection(s) closed at once since the last report: all {} connections "
            "(the limit) were being answered",
            name_, n, limits_.connections_max);
      }
      continue;
    }
    ++accepted_;
    // Responses go out in one write each; no reason to let Nagle hold the tail of one.
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Connection>(fd, limits_.request);
    c->deadline = now + limits_.request_deadline;
    c->waiting_since = now;
    Connection& added = *c;
    connections_.push_back(std::move(c));
    // A client's request is usually there already: reading it now makes the connection busy
    // before a newer connection could take its place.
    read_some(added, now);
  }
}

bool Server::make_room(Clock::time_point now) {
  using Phase = Connection::Phase;
  // Answered and lingering first; then connections that have sent nothing of a request, then
  // those whose request is incomplete, the longest waiting first. A connection being answered is
  // never closed for a newcomer.
  auto rank = [](const Connection& c) {
    if (c.phase == Phase::lingering) return 0;
    if (c.phase != Phase::reading) return -1;
    return c.parser.started() ? 2 : 1;
  };
  std::vector<Connection*> candidates;
  for (auto& c : connections_) {
    if (c->fd >= 0 && rank(*c) >= 0) candidates.push_back(c.get());
  }
  std::sort(candidates.begin(), candidates.end(), [&](const Connection* a, const Connection* b) {
    return std::pair(rank(*a), a->waiting_since) < std::pair(rank(*b), b->waiting_since);
  });
  for (Connection* c : candidates) {
    const bool answered = c->phase == Phase::lingering;
    // A last look: a request that came since the last read (a client that connected and sent in
    // the middle of a burst of others) makes the connection one to answer, not to close.
    if (!answered && read_some(*c, now) > 0) {
      if (c->fd < 0) return true;
      continue;
    }
    if (c->fd < 0) return true;  // it had ended
    if (!answered) ++evicted_;   // before the close, which the client may see at once
    close_connection(*c);
    if (answered) return true;
    if (const uint64_t n = evict_log_.note(now)) {
      spdlog::warn(
          "{}: {} connection(s) waiting for their clients closed to make room for newer ones "
          "since the last report ({} connections at most)",
          name_, n, limits_.connections_max);
    }
    return true;
  }
  return false;
}

void Server::service(Connection& c, short revents, Clock::time_point now) {
  using Phase = Connection::Phase;
  if ((revents & (POLLOUT | POLLERR | POLLHUP)) != 0 && c.out_sent < c.out.size()) {
    write_some(c, now);
    if (c.fd < 0) return;
  }
  if ((revents & (POLLIN | POLLERR | POLLHUP)) != 0 &&
      (c.phase == Phase::reading || c.phase == Phase::lingering)) {
    read_some(c, now);
  }
}

size_t Server::read_some(Connection& c, Clock::time_point now) {
  const ssize_t n = ::recv(c.fd, read_buffer_.data(), read_buffer_.size(), 0);
  if (n < 0) {
    if (!retry_later(errno)) close_connection(c);
    return 0;
  }
  // End of input before a request was complete: nobody is left to read an answer.
  if (n == 0) {
    close_connection(c);
    return 0;
  }
  const auto got = static_cast<size_t>(n);
  if (c.phase == Connection::Phase::lingering) {
    c.lingered += got;
    if (c.lingered >= limits_.linger_max_bytes) close_connection(c);
    return got;
  }
  consume(c, std::string_view(read_buffer_.data(), got), now);
  return got;
}

void Server::consume(Connection& c, std::string_view data, Clock::time_point now) {
  using Event = RequestParser::Event;
  while (c.fd >= 0 && c.phase == Connection::Phase::reading) {
    const bool was_started = c.parser.started();
    const auto progress = c.parser.feed(data);
    data.remove_prefix(progress.consumed);
    if (!was_started && c.parser.started() && c.served_one) {
      c.deadline = now + limits_.request_deadline;
    }
    switch (progress.event) {
      case Event::need_more:
        note_held(c);
        return;
      case Event::failed: {
        const ParseError& e = c.parser.error();
        respond(c, error_response(e.status, e.message), true, now);
        return;
      }
      case Event::headers_complete: {
        const Request& r = c.parser.request();
        if (gate_) {
          ++gate_calls_;
          if (auto refusal = gate_(r)) {
            respond(c, *refusal, true, now);
            return;
          }
        }
        if (r.expects_continue() && r.content_length > 0) c.out += "HTTP/1.1 100 Continue\r\n\r\n";
        break;  // on to the body
      }
      case Event::complete:
        c.pending.assign(data);
        note_held(c);
        dispatch(c, now);
        return;
    }
  }
}

void Server::dispatch(Connection& c, Clock::time_point now) {
  const Request& r = c.parser.request();
  c.keep_alive = r.keep_alive();
  const Route* match = nullptr;
  std::string allow;
  for (const auto& route : routes_) {
    const bool prefix = !route.path.empty() && route.path.back() == '*';
    if (prefix ? r.path.compare(0, route.path.size() - 1, route.path, 0, route.path.size() - 1) != 0
               : route.path != r.path) {
      continue;
    }
    if (route.method == r.method) {
      match = &route;
      break;
    }
    if (allow.find(route.method) == std::string::npos) {
      if (!allow.empty()) allow += ", ";
      allow += route.method;
    }
  }
  if (match == nullptr) {
    if (allow.empty()) {
      respond(c, error_response(404, fmt::format("no such endpoint: {} {}", r.method, r.path)),
              false, now);
      return;
    }
    Response wrong = error_response(405, fmt::format("use {}", allow));
    wrong.headers.emplace_back("Allow", allow);
    respond(c, wrong, false, now);
    return;
  }
  Reply reply;
  try {
    reply = match->handler(r);
  } catch (const std::exception& e) {
    // A handler's bug answers this one request with a 500; it must not end the server thread.
    spdlog::error("{}: {} {} failed: {}", name_, r.method, r.path, e.what());
    reply = error_response(500, "internal error");
  }
  if (auto* response = std::get_if<Response>(&reply)) {
    respond(c, *response, false, now);
    return;
  }
  c.deferred = std::move(std::get<Deferred>(reply));
  c.phase = Connection::Phase::handling;
  poll_deferred(c, now);
}

void Server::poll_deferred(Connection& c, Clock::time_point now) {
  std::optional<Response> answer;
  try {
    answer = c.deferred.poll(now);
  } catch (const std::exception& e) {
    spdlog::error("{}: a deferred answer failed: {}", name_, e.what());
    answer = error_response(500, "internal error");
  }
  if (!answer) return;
  c.deferred = Deferred{};
  respond(c, *answer, false, now);
}

void Server::respond(Connection& c, const Response& r, bool close, Clock::time_point now) {
  c.close_after = close || !c.keep_alive;
  // Appended: a "100 Continue" may still be on its way out ahead of it.
  auto out = std::back_inserter(c.out);
  fmt::format_to(out, "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", r.status,
                 reason_phrase(r.status), r.content_type, r.body.size());
  for (const auto& [name, value] : r.headers) fmt::format_to(out, "{}: {}\r\n", name, value);
  if (c.close_after) c.out += "Connection: close\r\n";
  c.out += "\r\n";
  c.out += r.body;
  c.phase = Connection::Phase::writing;
  c.deadline = now + limits_.request_deadline;
  note_held(c);
}

void Server::write_some(Connection& c, Clock::time_point now) {
  const ssize_t n =
      ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
  if (n < 0) {
    if (!retry_later(errno)) close_connection(c);
    return;
  }
  c.out_sent += static_cast<size_t>(n);
  if (c.out_sent < c.out.size()) return;
  c.out = std::string();
  c.out_sent = 0;
  if (c.phase == Connection::Phase::writing) finish_response(c, now);
}

void Server::finish_response(Connection& c, Clock::time_point now) {
  using Phase = Connection::Phase;
  c.parser.reset();
  c.waiting_since = now;
  if (c.close_after) {
    // Half-close, then drop what the client still sends until it closes: closing with unread
    // input would reset the connection, and the reset can destroy the answer before the client
    // has read it.
    ::shutdown(c.fd, SHUT_WR);
    c.pending = std::string();
    c.phase = Phase::lingering;
    c.deadline = now + limits_.linger;
    c.lingered = 0;
    return;
  }
  c.served_one = true;
  c.phase = Phase::reading;
  c.deadline = now + limits_.idle_timeout;
  if (!c.pending.empty()) {
    const std::string next = std::exchange(c.pending, std::string());
    consume(c, next, now);
  }
}

void Server::expire(Connection& c, Clock::time_point now) {
  using Phase = Connection::Phase;
  if (c.phase == Phase::lingering) {
    close_connection(c);
    return;
  }
  ++timed_out_;
  if (c.phase == Phase::reading && c.parser.started()) {
    spdlog::debug("{}: a request was not complete within {} ms; answering 408", name_,
                  limits_.request_deadline.count());
    respond(c,
            error_response(408, fmt::format("the request was not complete within {} ms",
                                            limits_.request_deadline.count())),
            true, now);
    return;
  }
  // Idle, or a response the client does not read: nothing more to say to it.
  close_connection(c);
}

void Server::close_connection(Connection& c) {
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.out = std::string();
  c.pending = std::string();
  c.deferred = Deferred{};
  c.parser.reset();
}

void Server::note_held(const Connection& c) {
  const size_t held = c.parser.held_bytes() + c.pending.size() + c.out.size();
  size_t peak = peak_connection_bytes_.load();
  while (held > peak && !peak_connection_bytes_.compare_exchange_weak(peak, held)) {
  }
}

}  // namespace pvt::http
