#include "common/sd_notify.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace pvt::sd {
namespace {

// An unsigned decimal number filling `text` entirely, or nothing.
std::optional<unsigned long long> parse_unsigned(std::string_view text) {
  unsigned long long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace

bool notify(std::string_view state) {
  if (state.empty()) return false;
  const char* env = std::getenv("NOTIFY_SOCKET");
  if (env == nullptr) return false;
  const std::string_view name(env);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  socklen_t addr_len = 0;
  if (name.size() >= 2 && name[0] == '/') {
    // A path: NUL-terminated inside sun_path, the NUL counted in the length (as systemd does).
    if (name.size() >= sizeof addr.sun_path) return false;
    std::memcpy(addr.sun_path, name.data(), name.size());
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
  } else if (name.size() >= 2 && name[0] == '@') {
    // Abstract: a leading NUL instead of '@', no terminator; every byte of the name counts.
    if (name.size() > sizeof addr.sun_path) return false;
    addr.sun_path[0] = '\0';
    std::memcpy(addr.sun_path + 1, name.data() + 1, name.size() - 1);
    addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  } else {
    return false;
  }
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t sent = -1;
  do {
    sent = ::sendto(fd, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                    reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (sent < 0 && errno == EINTR);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  return sent == static_cast<ssize_t>(state.size());
}

std::optional<std::chrono::microseconds> watchdog_interval() {
  const char* usec_env = std::getenv("WATCHDOG_USEC");
  if (usec_env == nullptr) return std::nullopt;
  const auto usec = parse_unsigned(usec_env);
  // systemd's "infinity" (UINT64_MAX) means no watchdog, as does 0.
  if (!usec || *usec == 0 || *usec >= static_cast<unsigned long long>(INT64_MAX)) {
    return std::nullopt;
  }
  if (const char* pid_env = std::getenv("WATCHDOG_PID"); pid_env != nullptr) {
    const auto pid = parse_unsigned(pid_env);
    if (!pid || *pid != static_cast<unsigned long long>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(static_cast<int64_t>(*usec));
}

}  // namespace pvt::sd
