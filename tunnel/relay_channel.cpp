#include "tunnel/relay_channel.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace pvt::tunnel {
namespace {

// Reads from the local socket in chunks of at most this (one SSH packet is 32 KiB).
constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

char* RelayChannel::Buffer::room(size_t& length) {
  if (block_ == nullptr) block_ = static_cast<char*>(pool_.allocate(pool_.block_size()));
  if (block_ == nullptr) {
    length = 0;
    return nullptr;
  }
  if (head_ > 0 && pool_.block_size() - tail_ < kReadChunk) {
    std::memmove(block_, block_ + head_, size());
    tail_ -= head_;
    head_ = 0;
  }
  length = pool_.block_size() - tail_;
  return block_ + tail_;
}

void RelayChannel::Buffer::consume(size_t n) {
  head_ += n;
  if (head_ == tail_) release();
}

void RelayChannel::Buffer::release() {
  if (block_ != nullptr) pool_.release(block_);
  block_ = nullptr;
  head_ = tail_ = 0;
}

RelayChannel::RelayChannel(LIBSSH2_CHANNEL* channel, const config::HostPort& target,
                           BlockPool& buffers, Clock::time_point now)
    : channel_(channel), to_local_(buffers), to_vps_(buffers), activity_(now) {
  sockaddr_storage addr{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (inet_pton(AF_INET, target.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(target.port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, target.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(target.port);
    len = sizeof *v6;
  } else {
    // A host name: resolved here, once per connection; `local` is normally an address.
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (getaddrinfo(target.host.c_str(), std::to_string(target.port).c_str(), &hints, &found) !=
            0 ||
        found == nullptr) {
      abort(fmt::format("cannot resolve the local target {}", target.str()));
      return;
    }
    std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
    len = found->ai_addrlen;
    freeaddrinfo(found);
  }
  fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    abort(fmt::format("cannot create a socket: {}", std::strerror(errno)));
    return;
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0) {
    connecting_ = false;
  } else if (errno != EINPROGRESS) {
    abort(fmt::format("local target {} refused the connection: {}", target.str(),
                      std::strerror(errno)));
  }
}

RelayChannel::~RelayChannel() {
  if (fd_ >= 0) ::close(fd_);
}

LIBSSH2_CHANNEL* RelayChannel::release_channel() {
  LIBSSH2_CHANNEL* c = channel_;
  channel_ = nullptr;
  return c;
}

void RelayChannel::abort(const std::string& why) {
  if (error_.empty()) error_ = why;
  finished_ = true;
}

pollfd RelayChannel::local_events() const {
  pollfd p{fd_, 0, 0};
  if (finished_ || fd_ < 0) return p;
  if (connecting_) {
    p.events = POLLOUT;
    return p;
  }
  if (!local_eof_ && !to_vps_.full()) p.events |= POLLIN;
  if (to_local_.size() > 0) p.events |= POLLOUT;
  return p;
}

bool RelayChannel::finish_connect() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == EINPROGRESS || err == EALREADY) return false;
  if (err != 0) {
    abort(fmt::format("local target refused the connection: {}", std::strerror(err)));
    return true;
  }
  connecting_ = false;
  return true;
}

std::optional<RelayChannel::Clock::time_point> RelayChannel::idle_at() const {
  if (finished_ || connecting_ || (vps_eof_ && local_eof_)) return std::nullopt;
  if (to_local_.size() > 0 || to_vps_.size() > 0 || pending_write_ != 0) return std::nullopt;
  return activity_.idle_at();
}

void RelayChannel::close_idle() {
  if (finished_) return;
  vps_eof_ = true;
  local_eof_ = true;
}

bool RelayChannel::pump(short revents, RelayTotals& totals, Clock::time_point now) {
  if (finished_) return false;
  bool progress = false;
  if (connecting_) {
    if ((revents & (POLLOUT | POLLERR | POLLHUP)) == 0) return false;
    progress = finish_connect();
    if (connecting_ || finished_) return progress;
  }
  progress |= vps_to_local(totals, now);
  if (!finished_) progress |= local_to_vps(revents, totals, now);
  check_done();
  return progress;
}

bool RelayChannel::vps_to_local(RelayTotals& totals, Clock::time_point now) {
  bool progress = false;
  // Read from the channel only what the buffer can hold: what we leave unread keeps the SSH
  // window closed, which is the back-pressure towards the VPS.
  while (!vps_eof_ && !to_local_.full()) {
    if (libssh2_poll_channel_read(channel_, 0) == 0 && libssh2_channel_eof(channel_) == 0) break;
    size_t room = 0;
    char* at = to_local_.room(room);
    if (at == nullptr) break;
    const ssize_t n = libssh2_channel_read_ex(channel_, 0, at, room);
    if (n > 0) {
      to_local_.produced(static_cast<size_t>(n));
      activity_.from_vps(now);
      progress = true;
      continue;
    }
    if (n == LIBSSH2_ERROR_EAGAIN) break;
    if (n == 0) {
      vps_eof_ = true;
      progress = true;
      break;
    }
    abort(fmt::format("reading the SSH channel failed (libssh2 error {})", n));
    return true;
  }
  while (to_local_.size() > 0) {
    const ssize_t n = ::send(fd_, to_local_.front(), to_local_.size(), MSG_NOSIGNAL);
    if (n > 0) {
      totals.from_vps += static_cast<uint64_t>(n);
      to_local_.consume(static_cast<size_t>(n));
      activity_.sent(now);
      progress = true;
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) break;
    abort(fmt::format("writing to the local target failed: {}", std::strerror(errno)));
    return true;
  }
  if (vps_eof_ && to_local_.size() == 0 && !local_shut_) {
    ::shutdown(fd_, SHUT_WR);
    local_shut_ = true;
    progress = true;
  }
  return progress;
}

bool RelayChannel::local_to_vps(short revents, RelayTotals& totals, Clock::time_point now) {
  bool progress = false;
  if (!local_eof_ && (revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
    while (!to_vps_.full()) {
      size_t room = 0;
      char* at = to_vps_.room(room);
      if (at == nullptr) break;
      const size_t want = std::min(kReadChunk, room);
      const ssize_t n = ::recv(fd_, at, want, 0);
      if (n > 0) {
        to_vps_.produced(static_cast<size_t>(n));
        activity_.from_local(now);
        progress = true;
        if (static_cast<size_t>(n) < want) break;
        continue;
      }
      if (n == 0) {
        local_eof_ = true;
        progress = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      abort(fmt::format("reading from the local target failed: {}", std::strerror(errno)));
      return true;
    }
  }
  while (to_vps_.size() > 0) {
    // A write that returned EAGAIN must be repeated with the same arguments (libssh2).
    const size_t len = pending_write_ != 0 ? pending_write_ : to_vps_.size();
    const ssize_t n = libssh2_channel_write_ex(channel_, 0, to_vps_.front(), len);
    if (n > 0) {
      pending_write_ = 0;
      totals.to_vps += static_cast<uint64_t>(n);
      to_vps_.consume(static_cast<size_t>(n));
      activity_.sent(now);
      progress = true;
      continue;
    }
    if (n == LIBSSH2_ERROR_EAGAIN) {
      pending_write_ = len;
      break;
    }
    if (n == 0) break;  // the VPS's window is closed: wait for its adjustment
    abort(fmt::format("writing to the SSH channel failed (libssh2 error {})", n));
    return true;
  }
  if (local_eof_ && to_vps_.size() == 0 && !eof_sent_) {
    const int rc = libssh2_channel_send_eof(channel_);
    if (rc == 0) {
      eof_sent_ = true;
      progress = true;
    } else if (rc != LIBSSH2_ERROR_EAGAIN) {
      abort(fmt::format("sending EOF on the SSH channel failed (libssh2 error {})", rc));
      return true;
    }
  }
  return progress;
}

void RelayChannel::check_done() {
  if (local_shut_ && eof_sent_) finished_ = true;
}

}  // namespace pvt::tunnel
