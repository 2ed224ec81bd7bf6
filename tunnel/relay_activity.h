// When a relayed connection counts as idle, so that draining can close it at once. The VPS nginx
// keeps its upstream connections alive and reuses them, so an idle kept-alive connection never
// ends by itself: a drain would wait the whole drain_timeout_s before traffic moved to the other
// tunnel. Closed while idle, it makes nginx open its next upstream connection, which goes to the
// other tunnel because our forward is cancelled.
//
// The relay sees bytes, not HTTP, so idle is judged from them: nothing moved either way for
// kDrainQuietPeriod, and the local target spoke last (or nobody spoke yet). A request the VPS
// sent whose answer has not begun is in flight however long the target thinks, and is never
// cut. The relay adds the last condition: nothing buffered either way. Pure: time comes in as
// arguments, from the worker's clock.
#pragma once

#include <chrono>
#include <optional>

namespace pvt::tunnel {

// Long enough that an answer pausing briefly between its parts (a target that flushes the head
// before a body it still computes) is not taken for finished; short enough that a drain moves
// kept-alive traffic to the other tunnel in about a second instead of drain_timeout_s. An answer
// that pauses longer than this may be cut; nginx then sees its upstream close early.
inline constexpr std::chrono::milliseconds kDrainQuietPeriod{1000};

class RelayActivity {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RelayActivity(Clock::time_point opened) : last_moved_(opened) {}

  // Bytes read from the SSH channel: the VPS spoke (a request, in HTTP terms).
  void from_vps(Clock::time_point now) {
    last_moved_ = now;
    vps_spoke_last_ = true;
  }
  // Bytes read from the local target: it answered.
  void from_local(Clock::time_point now) {
    last_moved_ = now;
    vps_spoke_last_ = false;
  }
  // Bytes written out on either side.
  void sent(Clock::time_point now) { last_moved_ = now; }

  // When the connection is idle if nothing moves until then (the relay checks its buffers);
  // nullopt while the VPS spoke last, since only an answer can end a request in flight.
  std::optional<Clock::time_point> idle_at() const {
    if (vps_spoke_last_) return std::nullopt;
    return last_moved_ + kDrainQuietPeriod;
  }

 private:
  Clock::time_point last_moved_;
  bool vps_spoke_last_ = false;
};

}  // namespace pvt::tunnel
