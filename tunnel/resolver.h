// Name resolution off the event loop. getaddrinfo blocks for the resolver's whole timeout when
// DNS is down (typical at boot), and the loop must keep answering the control API, signals and
// the systemd watchdog meanwhile, so each lookup runs on its own short-lived thread.
#pragma once

#include <sys/socket.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace pvt::tunnel {

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
  std::string text() const;  // "192.0.2.1:22", "[2001:db8::1]:22"
};

// IPv4 and IPv6 addresses of host:port in the order the system prefers (RFC 6724 via gai.conf).
Result<std::vector<Address>> resolve(const std::string& host, int port);

class AsyncResolver {
 public:
  void start(const std::string& host, int port);
  bool running() const { return pending_.valid(); }
  // The answer once it is there; nullopt while the lookup is still running.
  std::optional<Result<std::vector<Address>>> poll();

 private:
  // A plain struct, not Result: g++ 12 warns falsely (free-nonheap-object) on a future of
  // tl::expected.
  struct Answer {
    std::vector<Address> addresses;
    std::string error;
  };
  std::future<Answer> pending_;
};

}  // namespace pvt::tunnel
