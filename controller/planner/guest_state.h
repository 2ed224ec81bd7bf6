// Where the controller stands with one guest, as a small state machine in the manner of
// pve-ha-manager's service states: each state says in words what it means, and one setter
// changes it, does nothing when unchanged and records "guest tunnel2: state A => B".
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace pvt::planner {

enum class GuestPhase {
  ok,                // as desired, nothing pending
  start_requested,   // a start task was asked for; `upid` names it
  start_backoff,     // starts failed; the next one not before `until`
  fixing_config,     // onboot/startup were changed; waiting to see it
  backup_requested,  // a vzdump task was asked for; `upid` names it
  blocked,           // the controller may not act; `reason` says why
};

struct GuestState {
  GuestPhase phase = GuestPhase::ok;
  std::string upid;                               // start_requested, backup_requested
  std::chrono::system_clock::time_point until{};  // start_backoff
  bool giving_up = false;                         // start_backoff at its longest wait
  std::string reason;                             // blocked

  static GuestState ok() { return {}; }
  static GuestState start_requested(std::string upid);
  static GuestState start_backoff(std::chrono::system_clock::time_point until, bool giving_up);
  static GuestState fixing_config();
  static GuestState backup_requested(std::string upid);
  static GuestState blocked(std::string reason);

  // "start requested (UPID:...)", "giving up until 2026-12-07T16:00:00Z", "blocked: ...".
  std::string describe() const;
  bool operator==(const GuestState& o) const;
};

const char* to_string(GuestPhase p);  // "ok", "start requested", ...

// The one way a guest's state changes: a log line when it does.
void set_state(GuestState& current, GuestState next, const std::string& guest,
               std::vector<std::string>& log);

}  // namespace pvt::planner
