#include "tunnel/backoff.h"

#include <algorithm>

namespace pvt::tunnel {

const char* to_string(FailureKind k) {
  switch (k) {
    case FailureKind::network:
      return "network";
    case FailureKind::network_timeout:
      return "network-timeout";
    case FailureKind::after_connect:
      return "after-connect";
    case FailureKind::credentials:
      return "credentials";
    case FailureKind::clean_close:
      return "clean-close";
  }
  return "?";
}

AuthFailureLimiter::AuthFailureLimiter(int max_failures, std::chrono::milliseconds window)
    : max_(max_failures), window_(window) {}

void AuthFailureLimiter::record(Clock::time_point at) {
  if (max_ <= 0) return;
  recent_.push_back(at);
  while (recent_.size() > static_cast<size_t>(max_)) recent_.pop_front();
}

AuthFailureLimiter::Clock::time_point AuthFailureLimiter::next_allowed(
    Clock::time_point now) const {
  // Fewer than max_ failures ever: nothing to hold back. Otherwise the attempt after the last
  // max_ failures must start after the oldest of them has left the window, so any window then
  // holds at most max_ (the attempt's own failure comes later still).
  if (max_ <= 0 || recent_.size() < static_cast<size_t>(max_)) return now;
  return std::max(now, recent_.front() + window_);
}

std::chrono::milliseconds AuthFailureLimiter::wait(Clock::time_point now) const {
  return std::chrono::ceil<std::chrono::milliseconds>(next_allowed(now) - now);
}

int AuthFailureLimiter::failures_in_window(Clock::time_point now) const {
  return static_cast<int>(std::count_if(recent_.begin(), recent_.end(), [&](Clock::time_point t) {
    return t <= now && now - t < window_;
  }));
}

Backoff::Backoff(BackoffPolicy policy, uint64_t seed)
    : policy_(policy),
      limiter_(policy.auth_failures_max, policy.auth_failure_window),
      rng_(seed),
      step_(policy.initial) {
  start_network_run();
}

void Backoff::start_network_run() {
  network_step_ = std::min(policy_.network_retry_first, policy_.network_retry);
}

std::chrono::milliseconds Backoff::jittered(std::chrono::milliseconds base,
                                            std::chrono::milliseconds cap) {
  const double spread = static_cast<double>(base.count()) * policy_.jitter;
  std::uniform_real_distribution<double> dist(-spread, spread);
  auto ms = static_cast<int64_t>(static_cast<double>(base.count()) + dist(rng_));
  return std::clamp(std::chrono::milliseconds(ms), std::chrono::milliseconds(0), cap);
}

void Backoff::on_healthy(Clock::time_point now) {
  if (!healthy_) healthy_since_ = now;
  healthy_ = true;
  last_was_clean_close_ = false;
  start_network_run();
}

std::chrono::milliseconds Backoff::on_failure(FailureKind kind, Clock::time_point now) {
  if (kind == FailureKind::credentials) limiter_.record(now);
  const auto wait = kind_wait(kind, now);
  const auto floor = limiter_.wait(now);
  limited_ = floor > wait;
  return std::max(wait, floor);
}

std::chrono::milliseconds Backoff::kind_wait(FailureKind kind, Clock::time_point now) {
  const bool was_healthy_long =
      healthy_ && now - healthy_since_ >= std::chrono::milliseconds(policy_.healthy_reset);
  healthy_ = false;
  if (was_healthy_long) step_ = policy_.initial;

  if (kind == FailureKind::network) {
    const auto base = network_step_;
    network_step_ = std::min(network_step_ * 2, policy_.network_retry);
    return jittered(base, policy_.network_retry_max);
  }
  // Unanswered connects neither start nor continue a run of refusals; anything past the TCP
  // connect ends one.
  if (kind != FailureKind::network_timeout) start_network_run();
  if (kind == FailureKind::clean_close && !last_was_clean_close_) {
    last_was_clean_close_ = true;
    return std::chrono::milliseconds(0);
  }
  if (kind == FailureKind::network_timeout) {
    return jittered(policy_.timeout_retry, policy_.network_retry_max);
  }
  auto wait = jittered(step_, policy_.max);
  step_ = std::min(step_ * 2, policy_.max);
  return wait;
}

}  // namespace pvt::tunnel
