#include "tunnel/http_probe.h"

#include <fmt/format.h>

#include <charconv>

namespace pvt::tunnel {

std::string probe_request(std::string_view path, std::string_view host) {
  return fmt::format(
      "GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: pvectl-tunnel-probe\r\nConnection: close\r\n\r\n",
      path, host);
}

std::optional<int> parse_status_line(std::string_view line) {
  // "HTTP/1.1 200 OK": version, one space, three digits, then a space or the end.
  if (line.substr(0, 5) != "HTTP/") return std::nullopt;
  const size_t space = line.find(' ');
  if (space == std::string_view::npos || line.size() < space + 4) return std::nullopt;
  const std::string_view code = line.substr(space + 1, 3);
  if (line.size() > space + 4 && line[space + 4] != ' ') return std::nullopt;
  int value = 0;
  auto [ptr, ec] = std::from_chars(code.data(), code.data() + code.size(), value);
  if (ec != std::errc() || ptr != code.data() + code.size() || value < 100 || value > 599) {
    return std::nullopt;
  }
  return value;
}

HttpProbe::HttpProbe(LIBSSH2_CHANNEL* channel, std::string request, Clock::time_point started,
                     Clock::time_point deadline)
    : channel_(channel), request_(std::move(request)), started_(started), deadline_(deadline) {}

ProbeOutcome HttpProbe::finish(bool ok, std::string message, Clock::time_point now) const {
  return ProbeOutcome{ok, std::chrono::duration_cast<std::chrono::milliseconds>(now - started_),
                      std::move(message)};
}

std::optional<ProbeOutcome> HttpProbe::pump(Clock::time_point now) {
  while (sent_ < request_.size()) {
    const size_t len = pending_write_ != 0 ? pending_write_ : request_.size() - sent_;
    const ssize_t n = libssh2_channel_write_ex(channel_, 0, request_.data() + sent_, len);
    if (n == LIBSSH2_ERROR_EAGAIN || n == 0) {
      pending_write_ = n == 0 ? 0 : len;
      break;
    }
    if (n < 0) return finish(false, fmt::format("sending the probe failed (libssh2 {})", n), now);
    pending_write_ = 0;
    sent_ += static_cast<size_t>(n);
  }
  char buf[512];
  while (response_.find("\r\n") == std::string::npos && response_.size() < 4096) {
    const ssize_t n = libssh2_channel_read_ex(channel_, 0, buf, sizeof buf);
    if (n > 0) {
      response_.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == LIBSSH2_ERROR_EAGAIN) break;
    if (n == 0) {
      if (libssh2_channel_eof(channel_) == 0) break;
      return finish(false,
                    response_.empty() ? "the connection closed without an answer (is the local "
                                        "target down?)"
                                      : "the answer is not HTTP",
                    now);
    }
    return finish(false, fmt::format("reading the probe answer failed (libssh2 {})", n), now);
  }
  const size_t eol = response_.find("\r\n");
  if (eol != std::string::npos || response_.size() >= 4096) {
    const auto status = parse_status_line(std::string_view(response_).substr(0, eol));
    if (!status) return finish(false, "the answer is not HTTP", now);
    const bool ok = *status >= 200 && *status < 400;
    return finish(ok, fmt::format("HTTP {}", *status), now);
  }
  if (now >= deadline_) {
    return finish(
        false,
        fmt::format(
            "no answer within {} ms",
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - started_).count()),
        now);
  }
  return std::nullopt;
}

}  // namespace pvt::tunnel
