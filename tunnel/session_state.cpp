#include "tunnel/session_state.h"

#include <algorithm>
#include <utility>

namespace pvt::tunnel {

const char* to_string(State s) {
  switch (s) {
    case State::resolving:
      return "resolving";
    case State::connecting:
      return "connecting";
    case State::authenticating:
      return "authenticating";
    case State::forward_pending:
      return "forward-pending";
    case State::serving:
      return "serving";
    case State::draining:
      return "draining";
    case State::drained:
      return "drained";
    case State::backoff:
      return "backoff";
    case State::stopping:
      return "stopping";
  }
  return "?";
}

const char* describe(State s) {
  switch (s) {
    case State::resolving:
      return "resolving the VPS host name";
    case State::connecting:
      return "connecting to the VPS";
    case State::authenticating:
      return "SSH handshake and authentication";
    case State::forward_pending:
      return "connected, remote forward not bound yet";
    case State::serving:
      return "forward bound, serving";
    case State::draining:
      return "forward cancelled, open channels finishing";
    case State::drained:
      return "drained for maintenance, session kept";
    case State::backoff:
      return "waiting before the next attempt";
    case State::stopping:
      return "stopping";
  }
  return "?";
}

SessionMachine::SessionMachine(SessionTimings timings, Backoff backoff, Clock::time_point now)
    : timings_(timings), backoff_(std::move(backoff)), since_(now) {}

void SessionMachine::set(State to, std::string reason, Clock::time_point now) {
  if (to == state_) return;
  pending_.push_back(Transition{state_, to, std::move(reason), now});
  state_ = to;
  since_ = now;
}

bool SessionMachine::resolved(Clock::time_point now, const std::string& address) {
  if (state_ != State::resolving) return false;
  set(State::connecting, "resolved to " + address, now);
  return true;
}

bool SessionMachine::connected(Clock::time_point now) {
  if (state_ != State::connecting) return false;
  set(State::authenticating, "TCP connected", now);
  return true;
}

bool SessionMachine::authenticated(Clock::time_point now) {
  if (state_ != State::authenticating) return false;
  if (drain_requested_) {
    set(State::drained, "authenticated; drained on request, forward not requested", now);
    return true;
  }
  set(State::forward_pending, "authenticated", now);
  forward_pending_since_ = now;
  next_forward_retry_ = now;  // request at once
  forward_retry_step_ = timings_.forward_retry_initial;
  forward_refusals_ = 0;
  forward_in_flight_ = false;
  return true;
}

bool SessionMachine::forward_requested(Clock::time_point) {
  if (state_ != State::forward_pending) return false;
  forward_in_flight_ = true;
  return true;
}

bool SessionMachine::forward_bound(Clock::time_point now, const std::string& forward) {
  if (state_ != State::forward_pending) return false;
  forward_in_flight_ = false;
  set(State::serving, "forward " + forward + " bound", now);
  backoff_.on_healthy(now);
  last_error_.clear();
  return true;
}

bool SessionMachine::forward_refused(Clock::time_point now) {
  if (state_ != State::forward_pending) return false;
  forward_in_flight_ = false;
  ++forward_refusals_;
  // The schedule and its numbers are explained at SessionTimings.
  const auto pending = now - forward_pending_since_;
  if (pending < timings_.forward_retry_burst_for) {
    next_forward_retry_ = now + timings_.forward_retry_burst;
  } else if (pending < timings_.forward_retry_fast_for) {
    next_forward_retry_ = now + timings_.forward_retry_fast;
  } else {
    next_forward_retry_ = now + forward_retry_step_;
    forward_retry_step_ = std::min(forward_retry_step_ * 2, timings_.forward_retry_max);
  }
  last_error_ =
      "the VPS refused the remote forward: the port is probably still held there (a stale session "
      "of ours until the VPS's sshd ends it, or another client); retrying in this session";
  return true;
}

bool SessionMachine::forward_long_refused(Clock::time_point now) const {
  return state_ == State::forward_pending && forward_refusals_ >= 3 &&
         now - forward_pending_since_ >= timings_.forward_retry_burst_for;
}

void SessionMachine::failed(FailureKind kind, const std::string& reason, Clock::time_point now) {
  if (state_ == State::stopping) return;
  const auto wait = backoff_.on_failure(kind, now);
  backoff_until_ = now + wait;
  // The failure itself comes first; a wait the limiter lengthened says so (without the number
  // of seconds, so that the same failure again is the same reason and logged once).
  std::string why = reason;
  if (backoff_.limited()) {
    const auto& l = backoff_.limiter();
    why += "; next attempt held back: at most " + std::to_string(l.max_failures()) +
           " host-key or authentication failures per " +
           std::to_string(std::chrono::duration_cast<std::chrono::seconds>(l.window()).count()) +
           " s, so that the VPS's sshd does not block this address (OpenSSH PerSourcePenalties)";
  }
  last_error_ = why;
  forward_in_flight_ = false;
  set(State::backoff, std::move(why), now);
}

bool SessionMachine::retry(Clock::time_point now) {
  if (state_ != State::backoff || now < backoff_until_) return false;
  ++reconnects_;
  set(State::resolving, "retrying", now);
  return true;
}

bool SessionMachine::drain(Clock::time_point now) {
  drain_requested_ = true;
  if (state_ != State::serving && state_ != State::forward_pending) return false;
  drain_deadline_ = now + timings_.drain_timeout;
  set(State::draining, "drain requested", now);
  return true;
}

bool SessionMachine::channels_closed(Clock::time_point now) {
  if (state_ != State::draining) return false;
  set(State::drained, "open channels finished", now);
  return true;
}

bool SessionMachine::resume(Clock::time_point now) {
  drain_requested_ = false;
  if (state_ != State::drained && state_ != State::draining) return false;
  set(State::forward_pending, "resume requested", now);
  forward_pending_since_ = now;
  next_forward_retry_ = now;
  forward_retry_step_ = timings_.forward_retry_initial;
  forward_refusals_ = 0;
  forward_in_flight_ = false;
  return true;
}

void SessionMachine::stop(Clock::time_point now) {
  if (state_ == State::stopping) return;
  drain_deadline_ = now + timings_.drain_timeout;
  set(State::stopping, "stop requested", now);
}

SessionMachine::Due SessionMachine::due(Clock::time_point now) const {
  switch (state_) {
    case State::forward_pending:
      if (now - forward_pending_since_ >= timings_.forward_pending_max) return Due::reconnect;
      if (!forward_in_flight_ && now >= next_forward_retry_) return Due::retry_forward;
      return Due::nothing;
    case State::backoff:
      return now >= backoff_until_ ? Due::backoff_over : Due::nothing;
    case State::draining:
    case State::stopping:
      return now >= drain_deadline_ ? Due::drain_timeout : Due::nothing;
    default:
      return Due::nothing;
  }
}

std::optional<SessionMachine::Clock::time_point> SessionMachine::wakeup() const {
  switch (state_) {
    case State::forward_pending: {
      auto give_up = forward_pending_since_ + timings_.forward_pending_max;
      if (forward_in_flight_) return give_up;
      return std::min(give_up, next_forward_retry_);
    }
    case State::backoff:
      return backoff_until_;
    case State::draining:
    case State::stopping:
      return drain_deadline_;
    default:
      return std::nullopt;
  }
}

std::vector<Transition> SessionMachine::take_transitions() { return std::exchange(pending_, {}); }

}  // namespace pvt::tunnel
