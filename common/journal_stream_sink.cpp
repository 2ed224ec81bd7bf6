#include "common/journal_stream_sink.h"

#include <cerrno>
#include <string_view>

namespace pvt::log {

int syslog_priority(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return 7;
    case spdlog::level::info:
      return 6;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::err:
      return 3;
    case spdlog::level::critical:
      return 2;
    default:
      return 6;
  }
}

void JournalStreamSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  std::string_view text(formatted.data(), formatted.size());
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  const char prefix[] = {'<', static_cast<char>('0' + syslog_priority(msg.level)), '>'};
  spdlog::memory_buf_t out;
  for (;;) {
    const size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    out.append(prefix, prefix + sizeof prefix);
    out.append(line.data(), line.data() + line.size());
    out.push_back('\n');
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  // One write for the whole message, so lines of concurrent writers to the same stream do not
  // interleave; a failing stream (journald gone) loses the message, as stderr would.
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace pvt::log
