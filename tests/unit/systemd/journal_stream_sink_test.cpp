#include "common/journal_stream_sink.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "common/log.h"

namespace pvt::log {
namespace {

// The write end of a pipe for the sink; read() drains what it got.
class Pipe {
 public:
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) std::abort();
    read_ = fds[0];
    write_ = fds[1];
  }
  ~Pipe() {
    ::close(read_);
    ::close(write_);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  int write_fd() const { return write_; }
  std::string read() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_, buf, sizeof buf)) > 0;)
      out.append(buf, static_cast<size_t>(n));
    return out;
  }

 private:
  int read_ = -1;
  int write_ = -1;
};

TEST(JournalStreamSink, PrefixesEachMessageWithItsSyslogPriority) {
  Pipe pipe;
  spdlog::logger logger("test", std::make_shared<JournalStreamSink>(pipe.write_fd()));
  logger.set_pattern("%v");
  logger.set_level(spdlog::level::trace);
  logger.trace("t");
  logger.debug("d");
  logger.info("tunnel {}: serving", "web");
  logger.warn("w");
  logger.error("e");
  logger.critical("c");
  EXPECT_EQ(pipe.read(), "<7>t\n<7>d\n<6>tunnel web: serving\n<4>w\n<3>e\n<2>c\n");
}

TEST(JournalStreamSink, KeepsThePriorityOnEveryLineOfAMessage) {
  Pipe pipe;
  spdlog::logger logger("test", std::make_shared<JournalStreamSink>(pipe.write_fd()));
  logger.set_pattern("%v");
  logger.error("first\nsecond\n\nfourth");
  logger.info("");
  EXPECT_EQ(pipe.read(), "<3>first\n<3>second\n<3>\n<3>fourth\n<6>\n");
}

TEST(JournalStreamSink, MapsLevelsAsSdDaemonDefinesThem) {
  EXPECT_EQ(syslog_priority(spdlog::level::err), 3);       // SD_ERR
  EXPECT_EQ(syslog_priority(spdlog::level::warn), 4);      // SD_WARNING
  EXPECT_EQ(syslog_priority(spdlog::level::info), 6);      // SD_INFO
  EXPECT_EQ(syslog_priority(spdlog::level::debug), 7);     // SD_DEBUG
  EXPECT_EQ(syslog_priority(spdlog::level::critical), 2);  // SD_CRIT
}

// log::setup picks the sink when JOURNAL_STREAM names stderr, as systemd sets it.
TEST(JournalStreamSink, IsWhatSetupInstallsWhenStderrIsTheJournal) {
  Pipe pipe;
  const int saved_stderr = ::dup(STDERR_FILENO);
  ASSERT_GE(saved_stderr, 0);
  ASSERT_EQ(::dup2(pipe.write_fd(), STDERR_FILENO), STDERR_FILENO);
  struct stat st {};
  ASSERT_EQ(::fstat(STDERR_FILENO, &st), 0);
  const std::string stream = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", stream.c_str(), 1);
  const bool journal = stderr_is_journal();
  setup({.verbosity = 0, .base = spdlog::level::info});
  spdlog::info("hello journal");
  spdlog::debug("not at info");
  spdlog::warn("careful");
  ::unsetenv("JOURNAL_STREAM");
  setup({});
  ::dup2(saved_stderr, STDERR_FILENO);
  ::close(saved_stderr);
  EXPECT_TRUE(journal);
  EXPECT_EQ(pipe.read(), "<6>hello journal\n<4>careful\n");
}

}  // namespace
}  // namespace pvt::log
