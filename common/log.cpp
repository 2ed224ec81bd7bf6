#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "common/journal_stream_sink.h"

namespace pvt::log {

bool stderr_is_journal() {
  // systemd sets JOURNAL_STREAM=<dev>:<inode> of the stream it connected; compare with stderr's,
  // so a child whose stderr was redirected elsewhere does not log to the journal.
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  struct stat st {};
  if (fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == dev &&
         static_cast<unsigned long long>(st.st_ino) == ino;
}

void setup(const Options& options) {
  std::shared_ptr<spdlog::logger> logger;
  if (stderr_is_journal()) {
    // Priorities as "<N>" line prefixes on the stream journald already reads; the unit names
    // the SYSLOG_IDENTIFIER.
    auto sink = std::make_shared<JournalStreamSink>(STDERR_FILENO);
    logger = std::make_shared<spdlog::logger>(options.ident, sink);
    logger->set_pattern("%v");
  } else {
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    logger = std::make_shared<spdlog::logger>(options.ident, sink);
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
  }
  // Each -v is one level more detail, each -q one less, between trace and critical.
  int level = static_cast<int>(options.base) - options.verbosity;
  if (level < spdlog::level::trace) level = spdlog::level::trace;
  if (level > spdlog::level::critical) level = spdlog::level::critical;
  logger->set_level(static_cast<spdlog::level::level_enum>(level));
  spdlog::set_default_logger(logger);
}

}  // namespace pvt::log
