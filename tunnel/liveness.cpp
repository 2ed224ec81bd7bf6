#include "tunnel/liveness.h"

#include <algorithm>
#include <cassert>

namespace pvt::tunnel {

Liveness::Liveness(std::chrono::milliseconds interval, int count_max, Clock::time_point now)
    : interval_(interval), count_max_(count_max), last_inbound_(now), last_probe_(now) {
  assert(interval.count() > 0 && count_max >= 1);  // the config validator guarantees both
}

std::chrono::milliseconds Liveness::probe_period() const {
  return count_max_ >= 2 ? interval_ : interval_ / 2;
}

void Liveness::on_inbound(Clock::time_point now) {
  last_inbound_ = std::max(last_inbound_, now);
  probed_since_inbound_ = false;
  probes_unanswered_ = 0;
}

void Liveness::on_probe_sent(Clock::time_point now) {
  last_probe_ = now;
  probed_since_inbound_ = true;
  ++probes_unanswered_;
}

std::chrono::milliseconds Liveness::silence(Clock::time_point now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - last_inbound_);
}

Liveness::Clock::time_point Liveness::next_wakeup() const {
  const auto dead_at = last_inbound_ + dead_after();
  const auto from = probed_since_inbound_ ? last_probe_ : last_inbound_;
  return std::min(dead_at, from + probe_period());
}

Liveness::Action Liveness::tick(Clock::time_point now) const {
  if (now - last_inbound_ >= dead_after()) return Action::dead;
  const auto from = probed_since_inbound_ ? last_probe_ : last_inbound_;
  if (now - from >= probe_period()) return Action::send_probe;
  return Action::none;
}

}  // namespace pvt::tunnel
