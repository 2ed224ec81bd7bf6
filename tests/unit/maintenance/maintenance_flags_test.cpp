#include "controller/maintenance/maintenance_flags.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

namespace pvt::maintenance {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;
const auto kT0 = std::chrono::system_clock::time_point(seconds(1795000000));

struct MaintenanceFlagsTest : ::testing::Test {
  void SetUp() override {
    dir = fs::temp_directory_path() / ("pvt-maint-" + std::to_string(::getpid()));
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
  fs::path dir;
};

TEST_F(MaintenanceFlagsTest, StartStopAndWhatEveryControllerSees) {
  MaintenanceFlags mine(dir.string());
  MaintenanceFlags another_node(dir.string());  // the same cluster filesystem
  ASSERT_TRUE(another_node.active());
  EXPECT_TRUE(another_node.active()->empty());  // no directory yet: none
  ASSERT_TRUE(mine.start("tunnel1", "127.0.0.1 (maintenance start)", kT0));
  auto seen = another_node.active();
  ASSERT_TRUE(seen);
  ASSERT_EQ(seen->count("tunnel1"), 1u);
  EXPECT_EQ(seen->at("tunnel1").since, "2026-11-18T11:06:40Z");
  EXPECT_EQ(seen->at("tunnel1").by, "127.0.0.1 (maintenance start)");
  // Again: the first start stays.
  ASSERT_TRUE(mine.start("tunnel1", "someone else", kT0 + seconds(60)));
  EXPECT_EQ(another_node.active()->at("tunnel1").since, "2026-11-18T11:06:40Z");
  ASSERT_TRUE(another_node.stop("tunnel1"));
  EXPECT_TRUE(mine.active()->empty());
  EXPECT_TRUE(mine.stop("tunnel1"));  // not active: fine
}

TEST_F(MaintenanceFlagsTest, NamesThatCouldReachOtherPathsAreRefused) {
  MaintenanceFlags flags(dir.string());
  for (const char* bad : {"", "..", "../etc", "a/b", "x y"}) {
    EXPECT_FALSE(flags.start(bad, "test", kT0)) << bad;
    EXPECT_FALSE(flags.stop(bad)) << bad;
  }
  EXPECT_FALSE(fs::exists(dir.parent_path() / "etc"));
}

}  // namespace
}  // namespace pvt::maintenance
