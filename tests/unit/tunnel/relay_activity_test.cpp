#include "tunnel/relay_activity.h"

#include <gtest/gtest.h>

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using TP = RelayActivity::Clock::time_point;

const TP t0{std::chrono::hours(1)};

TEST(RelayActivity, AConnectionNobodySpokeOnIsIdleAfterTheQuietPeriod) {
  RelayActivity a(t0);
  EXPECT_EQ(a.idle_at(), t0 + kDrainQuietPeriod);
}

TEST(RelayActivity, ARequestWaitingForItsAnswerIsNeverIdle) {
  RelayActivity a(t0);
  a.from_vps(t0 + milliseconds(10));
  EXPECT_EQ(a.idle_at(), std::nullopt);
  // Writing the request to the target does not answer it.
  a.sent(t0 + milliseconds(20));
  EXPECT_EQ(a.idle_at(), std::nullopt);
}

TEST(RelayActivity, AnAnsweredRequestIsIdleAQuietPeriodAfterTheLastByteMoved) {
  RelayActivity a(t0);
  a.from_vps(t0 + milliseconds(10));
  a.sent(t0 + milliseconds(11));
  a.from_local(t0 + milliseconds(300));
  EXPECT_EQ(a.idle_at(), t0 + milliseconds(300) + kDrainQuietPeriod);
  // The answer still going out to the VPS is activity: the quiet period starts again.
  a.sent(t0 + milliseconds(900));
  EXPECT_EQ(a.idle_at(), t0 + milliseconds(900) + kDrainQuietPeriod);
  // More of a streaming answer moves it again.
  a.from_local(t0 + milliseconds(1500));
  EXPECT_EQ(a.idle_at(), t0 + milliseconds(1500) + kDrainQuietPeriod);
}

TEST(RelayActivity, TheNextRequestOnAKeptAliveConnectionIsInFlightAgain) {
  RelayActivity a(t0);
  a.from_vps(t0 + milliseconds(10));
  a.from_local(t0 + milliseconds(20));
  ASSERT_TRUE(a.idle_at());
  a.from_vps(t0 + milliseconds(5000));
  EXPECT_EQ(a.idle_at(), std::nullopt);
  a.from_local(t0 + milliseconds(5100));
  EXPECT_EQ(a.idle_at(), t0 + milliseconds(5100) + kDrainQuietPeriod);
}

}  // namespace
}  // namespace pvt::tunnel
