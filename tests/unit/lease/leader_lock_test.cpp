// The leader lock on a plain directory: one holder, renewal, expiry, takeover, and no race when
// many controllers try to take over an expired lock at once. Time is passed in (the lock's mtime
// is compared with it), so nothing here sleeps.
#include "controller/lease/leader_lock.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace pvt::lease {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

// Whole seconds: utime() keeps no more.
const TimePoint kT0 = TimePoint(seconds(1795000000));

struct LeaderLockTest : ::testing::Test {
  void SetUp() override {
    dir = fs::temp_directory_path() /
          ("pvt-lock-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  LeaderLockOptions options(const std::string& owner) const {
    return LeaderLockOptions{dir.string(), seconds(120), owner};
  }
  bool update(LeaderLock& lock, TimePoint now) {
    auto r = lock.update(now);
    EXPECT_TRUE(r) << r.error().message;
    return r && *r;
  }
  inline static int counter = 0;
  fs::path dir;
};

TEST_F(LeaderLockTest, OneHoldsTheOtherFollowsAndRenewalKeepsIt) {
  LeaderLock a(options("pve1:1"));
  LeaderLock b(options("pve2:2"));
  EXPECT_TRUE(update(a, kT0));
  EXPECT_TRUE(fs::is_directory(dir / "pvectl-tunnel"));
  EXPECT_FALSE(update(b, kT0 + seconds(1)));
  EXPECT_NE(b.why().find("held by pve1:1"), std::string::npos) << b.why();
  // Renewed every cycle, never expires for the follower.
  for (int cycle = 1; cycle <= 60; ++cycle) {
    const auto now = kT0 + seconds(10 * cycle);
    EXPECT_TRUE(update(a, now)) << cycle;
    EXPECT_FALSE(update(b, now)) << cycle;
  }
}

TEST_F(LeaderLockTest, AnExpiredLockIsTakenOverAndTheOldHolderStops) {
  LeaderLock a(options("pve1:1"));
  LeaderLock b(options("pve2:2"));
  ASSERT_TRUE(update(a, kT0));
  // a stalls: no renewal for longer than the lease.
  EXPECT_FALSE(update(b, kT0 + seconds(120)));
  EXPECT_TRUE(update(b, kT0 + seconds(121)));
  // a wakes up: the lease ran out under it, it holds nothing.
  EXPECT_FALSE(update(a, kT0 + seconds(125)));
  EXPECT_FALSE(a.held());
  // ...and does not get it back while b renews.
  EXPECT_TRUE(update(b, kT0 + seconds(130)));
  EXPECT_FALSE(update(a, kT0 + seconds(131)));
}

TEST_F(LeaderLockTest, ATakeoverWithinTheHoldersLeaseIsNoticedAtItsNextRenewal) {
  LeaderLock a(options("pve1:1"));
  ASSERT_TRUE(update(a, kT0));
  // Someone else removed and took the lock (an operator, or a holder whose clock ran ahead).
  fs::remove_all(dir / "pvectl-tunnel");
  LeaderLock b(options("pve2:2"));
  ASSERT_TRUE(update(b, kT0 + seconds(5)));
  EXPECT_FALSE(update(a, kT0 + seconds(10)));
  EXPECT_NE(a.why().find("held by pve2:2"), std::string::npos) << a.why();
}

TEST_F(LeaderLockTest, AFailedRenewalLosesTheLockAtOnce) {
  LeaderLock a(options("pve1:1"));
  ASSERT_TRUE(update(a, kT0));
  fs::remove_all(dir / "pvectl-tunnel");  // as pmxcfs refusing the utime: the renewal fails
  EXPECT_FALSE(update(a, kT0 + seconds(10)));
  EXPECT_FALSE(a.held());
}

TEST_F(LeaderLockTest, ReleaseLetsTheNextOneInAtOnce) {
  LeaderLock a(options("pve1:1"));
  LeaderLock b(options("pve2:2"));
  ASSERT_TRUE(update(a, kT0));
  a.release();
  EXPECT_FALSE(fs::exists(dir / "pvectl-tunnel"));
  EXPECT_TRUE(update(b, kT0 + seconds(1)));
}

TEST_F(LeaderLockTest, ALockDirThatIsNotThereIsAnError) {
  LeaderLock a(LeaderLockOptions{(dir / "missing").string(), seconds(120), "pve1:1"});
  auto r = a.update(kT0);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("is not a directory"), std::string::npos);
}

// Eight controllers see the same expired lock and try to take it over at the same moment: the
// takeover must not race (exactly one holds it afterwards).
TEST_F(LeaderLockTest, ManyContendersForAnExpiredLockExactlyOneWins) {
  for (int round = 0; round < 200; ++round) {
    {
      LeaderLock old(options("dead:0"));
      ASSERT_TRUE(update(old, kT0));
    }
    const auto now = kT0 + seconds(121 + round);
    const fs::path go = dir / ("go-" + std::to_string(round));
    std::vector<pid_t> children;
    for (int i = 0; i < 12; ++i) {
      const pid_t pid = ::fork();
      ASSERT_GE(pid, 0);
      if (pid == 0) {
        while (!fs::exists(go)) std::this_thread::yield();
        LeaderLock lock(options("contender:" + std::to_string(i)));
        auto r = lock.update(now);
        ::_exit(!r ? 2 : (*r ? 1 : 0));
      }
      children.push_back(pid);
    }
    std::ofstream(go.string()).put('x');
    int winners = 0;
    for (pid_t pid : children) {
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      ASSERT_TRUE(WIFEXITED(status));
      ASSERT_NE(WEXITSTATUS(status), 2);
      winners += WEXITSTATUS(status);
    }
    EXPECT_EQ(winners, 1) << "round " << round;
    fs::remove(go);
    fs::remove_all(dir / "pvectl-tunnel");
  }
}

}  // namespace
}  // namespace pvt::lease
