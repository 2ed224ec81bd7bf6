// Test support: a raw HTTP/1.1 client over plain sockets, for tests that must send what no
// client library would (a header line now and then, endless headers, idle connections) and see
// exactly what came back, within a deadline.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "tests/support/tcp_backend.h"

namespace pvt::testing {

struct HttpAnswer {
  int status = 0;  // 0: no whole answer came
  std::string head;
  std::string body;

  // The value of header field `name` (any case), or "" when absent.
  std::string header(std::string_view name) const {
    size_t pos = head.find("\r\n");
    while (pos != std::string::npos && pos + 2 < head.size()) {
      const size_t end = head.find("\r\n", pos + 2);
      const std::string_view line = std::string_view(head).substr(
          pos + 2, (end == std::string::npos ? head.size() : end) - pos - 2);
      const size_t colon = line.find(':');
      if (colon == name.size() &&
          std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        return std::string(value);
      }
      pos = end;
    }
    return "";
  }
};

// Milliseconds left until `deadline`, at least 0.
inline int ms_left(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now())
                        .count();
  return static_cast<int>(std::max<int64_t>(left, 0));
}

// Reads one final answer (1xx answers skipped) within `timeout`. `carry` keeps bytes that came
// after it, for the next call on the same connection.
inline HttpAnswer read_answer(int fd, std::chrono::milliseconds timeout,
                              std::string* carry = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string in = carry != nullptr ? std::exchange(*carry, std::string()) : std::string();
  while (true) {
    const size_t head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      HttpAnswer a;
      a.head = in.substr(0, head_end);
      if (a.head.size() >= 12 && a.head.compare(0, 5, "HTTP/") == 0) {
        const int status = std::atoi(a.head.c_str() + 9);
        if (status >= 100 && status < 200) {
          in.erase(0, head_end + 4);
          continue;
        }
        const std::string length = a.header("Content-Length");
        const size_t want = length.empty() ? 0 : std::stoul(length);
        if (in.size() >= head_end + 4 + want) {
          a.status = status;
          a.body = in.substr(head_end + 4, want);
          if (carry != nullptr) *carry = in.substr(head_end + 4 + want);
          return a;
        }
      }
    }
    const int left = ms_left(deadline);
    if (left == 0) return {};
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) continue;
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    in.append(buf, static_cast<size_t>(n));
  }
}

// Whether the peer closed the connection (end of input or reset) within `timeout`; what it sent
// before is dropped.
inline bool closed_within(int fd, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const int left = ms_left(deadline);
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return false;
    char buf[16384];
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return true;
  }
}

// Connects to 127.0.0.1:port within `timeout` (a server that stopped accepting leaves a
// connect() hanging for minutes); reads and writes on the socket then give up after `timeout`
// too. -1 on failure.
inline int connect_within(int port, std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int err = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    pollfd p{fd, POLLOUT, 0};
    socklen_t len = sizeof err;
    if (errno != EINPROGRESS || ::poll(&p, 1, static_cast<int>(timeout.count())) != 1 ||
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
      err = -1;
    }
  }
  if (err != 0) {
    ::close(fd);
    return -1;
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
  timeval tv{static_cast<time_t>(us / 1000000), static_cast<suseconds_t>(us % 1000000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// Connect, send `request`, read one answer, close.
inline HttpAnswer exchange_http(int port, const std::string& request,
                                std::chrono::milliseconds timeout) {
  const int fd = connect_local(port);
  if (fd < 0) return {};
  HttpAnswer a;
  if (send_all(fd, request.data(), request.size())) a = read_answer(fd, timeout);
  ::close(fd);
  return a;
}

}  // namespace pvt::testing
