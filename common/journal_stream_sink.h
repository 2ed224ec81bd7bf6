// Log lines for the journal's stdout/stderr stream, without libsystemd: each line prefixed with
// its syslog priority as "<N>" (sd-daemon(3): SD_ERR "<3>", SD_WARNING "<4>", SD_INFO "<6>",
// SD_DEBUG "<7>"), which journald turns into the entry's PRIORITY (SyslogLevelPrefix=, on by
// default). SYSLOG_IDENTIFIER and _PID come from the stream itself (the unit's
// SyslogIdentifier= or the executable's name).
#pragma once

#include <spdlog/sinks/base_sink.h>
#include <unistd.h>

#include <mutex>

namespace pvt::log {

// The syslog priority of a spdlog level, as spdlog's systemd_sink maps them: trace and debug 7,
// info 6, warn 4, err 3, critical 2.
int syslog_priority(spdlog::level::level_enum level);

// Writes each formatted message to `fd` with one write(2), every line of it prefixed "<N>" (a
// message with newlines stays at its priority on every line).
class JournalStreamSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit JournalStreamSink(int fd = STDERR_FILENO) : fd_(fd) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override {}

 private:
  int fd_;
};

}  // namespace pvt::log
