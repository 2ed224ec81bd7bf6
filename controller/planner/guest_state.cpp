#include "controller/planner/guest_state.h"

#include <fmt/format.h>

#include "common/utc_time.h"

namespace pvt::planner {

GuestState GuestState::start_requested(std::string upid) {
  GuestState s;
  s.phase = GuestPhase::start_requested;
  s.upid = std::move(upid);
  return s;
}

GuestState GuestState::start_backoff(std::chrono::system_clock::time_point until, bool giving_up) {
  GuestState s;
  s.phase = GuestPhase::start_backoff;
  s.until = until;
  s.giving_up = giving_up;
  return s;
}

GuestState GuestState::fixing_config() {
  GuestState s;
  s.phase = GuestPhase::fixing_config;
  return s;
}

GuestState GuestState::backup_requested(std::string upid) {
  GuestState s;
  s.phase = GuestPhase::backup_requested;
  s.upid = std::move(upid);
  return s;
}

GuestState GuestState::blocked(std::string reason) {
  GuestState s;
  s.phase = GuestPhase::blocked;
  s.reason = std::move(reason);
  return s;
}

const char* to_string(GuestPhase p) {
  switch (p) {
    case GuestPhase::ok:
      return "ok";
    case GuestPhase::start_requested:
      return "start requested";
    case GuestPhase::start_backoff:
      return "start backoff";
    case GuestPhase::fixing_config:
      return "fixing boot flags";
    case GuestPhase::backup_requested:
      return "backup requested";
    case GuestPhase::blocked:
      return "blocked";
  }
  return "?";
}

std::string GuestState::describe() const {
  switch (phase) {
    case GuestPhase::ok:
      return "ok";
    case GuestPhase::start_requested:
      return fmt::format("start requested ({})", upid);
    case GuestPhase::start_backoff:
      return fmt::format("{} {}", giving_up ? "giving up until" : "next start not before",
                         format_utc(until));
    case GuestPhase::fixing_config:
      return "fixing boot flags";
    case GuestPhase::backup_requested:
      return fmt::format("backup requested ({})", upid);
    case GuestPhase::blocked:
      return "blocked: " + reason;
  }
  return "?";
}

bool GuestState::operator==(const GuestState& o) const {
  return phase == o.phase && upid == o.upid && until == o.until && giving_up == o.giving_up &&
         reason == o.reason;
}

void set_state(GuestState& current, GuestState next, const std::string& guest,
               std::vector<std::string>& log) {
  if (current == next) return;
  log.push_back(
      fmt::format("guest {}: state {} => {}", guest, current.describe(), next.describe()));
  current = std::move(next);
}

}  // namespace pvt::planner
