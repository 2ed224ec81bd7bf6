// Time as an injected dependency: real code uses SystemClock, tests move a FakeClock
// (tests/support/fake_clock.h).
#pragma once

#include <chrono>

namespace pvt {

class Clock {
 public:
  using time_point = std::chrono::system_clock::time_point;
  using duration = std::chrono::milliseconds;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Steady time for timeouts and backoff; unaffected by wall-clock steps.
  virtual std::chrono::steady_clock::time_point steady_now() const = 0;
  virtual void sleep_for(duration d) = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point steady_now() const override {
    return std::chrono::steady_clock::now();
  }
  void sleep_for(duration d) override;
};

}  // namespace pvt
