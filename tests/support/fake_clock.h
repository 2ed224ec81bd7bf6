// Virtual time for tests, in the style of pve-ha-manager's simulated environment: nothing waits,
// sleep_for only moves the clock. A pve::Client, the task follower and an in-process Simulator
// given the same FakeClock run scenarios of hours in milliseconds.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace pvt {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(time_point start = time_point{}) : now_(start) {}
  time_point now() const override { return now_; }
  // The same instant on the steady time line (its epoch is the wall clock's).
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::time_point{now_.time_since_epoch()};
  }
  void sleep_for(duration d) override { now_ += d; }
  void advance(duration d) { now_ += d; }

 private:
  time_point now_;
};

}  // namespace pvt
