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
    case FailureKind::clean_close:
      return "clean-close";
  }
  return "?";
}

Backoff::Backoff(BackoffPolicy policy, uint64_t seed)
    : policy_(policy), rng_(seed), step_(policy.initial) {}

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
}

std::chrono::milliseconds Backoff::on_failure(FailureKind kind, Clock::time_point now) {
  const bool was_healthy_long =
      healthy_ && now - healthy_since_ >= std::chrono::milliseconds(policy_.healthy_reset);
  healthy_ = false;
  if (was_healthy_long) step_ = policy_.initial;

  if (kind == FailureKind::clean_close && !last_was_clean_close_) {
    last_was_clean_close_ = true;
    return std::chrono::milliseconds(0);
  }
  if (kind == FailureKind::network_timeout) {
    return jittered(policy_.timeout_retry, policy_.network_retry_max);
  }
  if (kind == FailureKind::network) {
    return jittered(policy_.network_retry, policy_.network_retry_max);
  }
  auto wait = jittered(step_, policy_.max);
  step_ = std::min(step_ * 2, policy_.max);
  return wait;
}

}  // namespace pvt::tunnel
