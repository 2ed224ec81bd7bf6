// Process-wide logging setup: a human format on a terminal, priority-prefixed lines for the
// journal when systemd started us.
#pragma once

#include <spdlog/spdlog.h>

namespace pvt::log {

struct Options {
  int verbosity = 0;  // -v count minus -q count, applied to `base`
  // Report commands default to warnings (stdout is their output); daemons to info.
  spdlog::level::level_enum base = spdlog::level::warn;
  const char* ident = "pvectl-tunnel";  // the logger's name (the journal takes the unit's)
};

// Installs the default logger. Logs go to stderr so stdout stays the command's output (reports,
// JSON) and can be piped; under systemd (JOURNAL_STREAM set to our stderr) each line carries its
// syslog priority as a "<N>" prefix instead of time and level, which journald keeps as PRIORITY
// (see common/journal_stream_sink.h).
void setup(const Options& options);

// True when stderr is connected to the journal (systemd's JOURNAL_STREAM matches stderr).
bool stderr_is_journal();

}  // namespace pvt::log
