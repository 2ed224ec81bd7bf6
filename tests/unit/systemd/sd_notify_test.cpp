#include "common/sd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <random>
#include <string>

namespace pvt::sd {
namespace {

namespace fs = std::filesystem;

// Sets an environment variable for one test and puts the old value back.
class EnvVar {
 public:
  EnvVar(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      ::setenv(name, value->c_str(), 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~EnvVar() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  EnvVar(const EnvVar&) = delete;
  EnvVar& operator=(const EnvVar&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A bound AF_UNIX datagram socket, as systemd's notify socket is: at a path, or abstract when
// the name starts with '@'.
class Receiver {
 public:
  explicit Receiver(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    socklen_t len = 0;
    if (name[0] == '@') {
      std::memcpy(a.sun_path + 1, name.data() + 1, name.size() - 1);
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    } else {
      std::memcpy(a.sun_path, name.data(), name.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    }
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) == 0;
  }
  ~Receiver() { ::close(fd_); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  bool bound() const { return bound_; }
  // The next datagram, or nothing within a second.
  std::optional<std::string> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) != 1) return std::nullopt;
    std::string buf(65536, '\0');
    const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return std::nullopt;
    buf.resize(static_cast<size_t>(n));
    return buf;
  }
  bool pending() {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

class SdNotify : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "pvt-notify-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

std::string abstract_name() {
  std::random_device rd;
  return "@pvt-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

TEST_F(SdNotify, SendsTheStateAsOneDatagramToAPathSocket) {
  const std::string path = (dir_ / "notify.sock").string();
  Receiver r(path);
  ASSERT_TRUE(r.bound());
  EnvVar env("NOTIFY_SOCKET", path);
  EXPECT_TRUE(notify("READY=1\nSTATUS=serving: forward 127.0.0.1:8080"));
  EXPECT_EQ(r.receive(), "READY=1\nSTATUS=serving: forward 127.0.0.1:8080");
  EXPECT_TRUE(notify("WATCHDOG=1"));
  EXPECT_EQ(r.receive(), "WATCHDOG=1");
  EXPECT_FALSE(r.pending());
  // As sd_notify(0, ...): the variable stays for the next message.
  ASSERT_NE(std::getenv("NOTIFY_SOCKET"), nullptr);
  EXPECT_EQ(std::string(std::getenv("NOTIFY_SOCKET")), path);
}

TEST_F(SdNotify, SendsToAnAbstractSocketNamedWithAnAt) {
  const std::string name = abstract_name();
  Receiver r(name);
  ASSERT_TRUE(r.bound());
  EnvVar env("NOTIFY_SOCKET", name);
  EXPECT_TRUE(notify("STOPPING=1"));
  EXPECT_EQ(r.receive(), "STOPPING=1");
  // The name is the whole string, not a prefix: a longer name is another socket.
  EnvVar longer("NOTIFY_SOCKET", name + "x");
  EXPECT_FALSE(notify("STOPPING=1"));
  EXPECT_FALSE(r.pending());
}

TEST_F(SdNotify, ALongStateArrivesWhole) {
  const std::string path = (dir_ / "n").string();
  Receiver r(path);
  ASSERT_TRUE(r.bound());
  EnvVar env("NOTIFY_SOCKET", path);
  const std::string state = "STATUS=" + std::string(6000, 'x');
  EXPECT_TRUE(notify(state));
  EXPECT_EQ(r.receive(), state);
}

TEST_F(SdNotify, IsANoOpWithoutNotifySocket) {
  EnvVar env("NOTIFY_SOCKET", std::nullopt);
  EXPECT_FALSE(notify("READY=1"));
}

TEST_F(SdNotify, RefusesNamesItCannotAddress) {
  for (const std::string bad : {"", "@", "/", "notify.sock", "vsock:2:1234", "x/notify.sock"}) {
    EnvVar env("NOTIFY_SOCKET", bad);
    EXPECT_FALSE(notify("READY=1")) << bad;
  }
}

TEST_F(SdNotify, TooLongNamesFailWithoutTouchingMemoryBeyondTheAddress) {
  constexpr size_t kSunPath = sizeof(sockaddr_un{}.sun_path);
  // A path needs its NUL inside sun_path; an abstract name may fill it.
  for (size_t len : {kSunPath, kSunPath + 1, size_t{4096}}) {
    EnvVar env("NOTIFY_SOCKET", "/" + std::string(len - 1, 'p'));
    EXPECT_FALSE(notify("READY=1")) << len;
  }
  for (size_t len : {kSunPath + 1, size_t{4096}}) {
    EnvVar env("NOTIFY_SOCKET", "@" + std::string(len - 1, 'a'));
    EXPECT_FALSE(notify("READY=1")) << len;
  }
  // The longest abstract name still works.
  std::string longest = abstract_name();
  longest += std::string(kSunPath - longest.size(), 'z');
  Receiver r(longest);
  ASSERT_TRUE(r.bound());
  EnvVar env("NOTIFY_SOCKET", longest);
  EXPECT_TRUE(notify("READY=1"));
  EXPECT_EQ(r.receive(), "READY=1");
}

TEST_F(SdNotify, FailsWhenNobodyListensOrTheStateIsEmpty) {
  EnvVar env("NOTIFY_SOCKET", (dir_ / "nobody.sock").string());
  EXPECT_FALSE(notify("READY=1"));
  const std::string path = (dir_ / "notify.sock").string();
  Receiver r(path);
  EnvVar bound("NOTIFY_SOCKET", path);
  EXPECT_FALSE(notify(""));
  EXPECT_FALSE(r.pending());
}

TEST_F(SdNotify, NeverBlocksOnAFullQueue) {
  const std::string path = (dir_ / "notify.sock").string();
  Receiver r(path);  // never read from
  ASSERT_TRUE(r.bound());
  EnvVar env("NOTIFY_SOCKET", path);
  const auto start = std::chrono::steady_clock::now();
  int sent = 0;
  while (sent < 100000 && notify("WATCHDOG=1")) ++sent;
  EXPECT_GT(sent, 0);
  EXPECT_LT(sent, 100000);  // the queue filled up and the send failed instead of waiting
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(WatchdogInterval, ReadsWatchdogUsecForThisProcess) {
  EnvVar usec("WATCHDOG_USEC", "400000");
  {
    EnvVar pid("WATCHDOG_PID", std::nullopt);
    EXPECT_EQ(watchdog_interval(), std::chrono::microseconds(400000));
  }
  {
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid()));
    EXPECT_EQ(watchdog_interval(), std::chrono::microseconds(400000));
  }
  {
    // Meant for another process (the variable was inherited): not ours to answer.
    EnvVar pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
    EXPECT_EQ(watchdog_interval(), std::nullopt);
  }
  {
    EnvVar pid("WATCHDOG_PID", "x");
    EXPECT_EQ(watchdog_interval(), std::nullopt);
  }
}

TEST(WatchdogInterval, IsOffWhenUnsetZeroInfiniteOrNotANumber) {
  EnvVar pid("WATCHDOG_PID", std::nullopt);
  {
    EnvVar usec("WATCHDOG_USEC", std::nullopt);
    EXPECT_EQ(watchdog_interval(), std::nullopt);
  }
  for (const char* bad : {"", "0", "-1", "12x", "x", " 5", "18446744073709551615"}) {
    EnvVar usec("WATCHDOG_USEC", bad);
    EXPECT_EQ(watchdog_interval(), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace pvt::sd
