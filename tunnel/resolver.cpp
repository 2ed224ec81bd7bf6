#include "tunnel/resolver.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>

#include <chrono>
#include <cstring>
#include <memory>

namespace pvt::tunnel {

std::string Address::text() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    return fmt::format("[{}]:{}", host, ntohs(a->sin6_port));
  }
  const auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
  inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
  return fmt::format("{}:{}", host, ntohs(a->sin_port));
}

Result<std::vector<Address>> resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0) {
    return fail(fmt::format("cannot resolve {}: {}", host, gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> guard(found, freeaddrinfo);
  std::vector<Address> out;
  for (const addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Address a;
    std::memcpy(&a.storage, ai->ai_addr, ai->ai_addrlen);
    a.length = ai->ai_addrlen;
    out.push_back(a);
  }
  if (out.empty()) return fail(fmt::format("{} has no IPv4 or IPv6 address", host));
  return out;
}

void AsyncResolver::start(const std::string& host, int port) {
  // An address literal needs no lookup, so no thread (whose stack glibc would keep cached).
  unsigned char literal[sizeof(in6_addr)];
  if (inet_pton(AF_INET, host.c_str(), literal) == 1 ||
      inet_pton(AF_INET6, host.c_str(), literal) == 1) {
    std::promise<Answer> done;
    auto r = resolve(host, port);
    done.set_value(r ? Answer{std::move(*r), {}} : Answer{{}, r.error().message});
    pending_ = done.get_future();
    return;
  }
  pending_ = std::async(std::launch::async, [host, port] {
    auto r = resolve(host, port);
    return r ? Answer{std::move(*r), {}} : Answer{{}, r.error().message};
  });
}

std::optional<Result<std::vector<Address>>> AsyncResolver::poll() {
  if (!pending_.valid()) return std::nullopt;
  if (pending_.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return std::nullopt;
  Answer a = pending_.get();
  if (!a.error.empty()) return Result<std::vector<Address>>(fail(std::move(a.error)));
  return Result<std::vector<Address>>(std::move(a.addresses));
}

}  // namespace pvt::tunnel
