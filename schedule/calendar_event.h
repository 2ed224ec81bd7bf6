// Proxmox calendar events ("sun 01:00", "mon..fri 22:30", "*/15", "2024-*-01", "daily", …), the
// systemd-like schedule format of PVE backup jobs, parsed and evaluated exactly like the
// proxmox-time crate does so that our idea of "when should the last backup have run" matches what
// pvescheduler actually did.
//
// Grammar (as accepted by proxmox-time):
//   [WEEKDAYS] [[YEARS-]MONTHS-DAYS] [[HOURS:]MINUTES[:SECONDS]] [UTC]
// or one of the keywords minutely hourly daily weekly monthly yearly annually quarterly
// semiannually semi-annually. Each numeric field is "*" (any), "*/N" (every N from the field's
// minimum), or a comma list of "V", "A..B", "V/N", "A..B/N". Weekdays are mon…sun or full names in
// any case, with comma lists and (wrapping) ranges such as "fri..mon". Without a time part the time
// is 00:00:00; a time part without hours matches every hour ("5" = minute 5 of every hour);
// seconds default to 0. proxmox-time quirks are kept on purpose because PVE accepted those
// schedules: a first number that is too big for an hour silently becomes the minute ("25:00" is
// minute 25, second 0 of every hour), spaces between parts are optional, and month 0 / day 0 are
// accepted but never match.
//
// Time zones: an event is evaluated in the wall-clock time of the given zone (the node's zone from
// GET /nodes/{node}/time), unless it ends in "UTC" or the zone is nullptr. DST rules, which
// match proxmox-time for the spring-forward case:
//  - A local time that does not exist (skipped by a spring-forward) does not fire; the next
//    occurrence is the next matching local time that exists ("2:30" in Europe/Berlin does not run
//    on the last Sunday of March; "*/15" continues at 03:00).
//  - A local time that occurs twice (fall-back) fires once, at its first occurrence. This also
//    holds for repeating schedules: "*/15" does not fire during the repeated hour, so its gap there
//    is 1h15m. (proxmox-time may fire some of those times a second time; assuming fewer runs only
//    makes the expected backup age more lenient, never stricter.)
// Limits: searches look at most ~400 years ahead/back (the Gregorian calendar repeats every 400
// years, so a schedule that never matches in that span never matches at all); years above 2199 are
// rejected by the grammar, as in systemd. libdate-tz reads only the transitions stored in the
// system zone files (Debian's end in 2037) and assumes no DST after them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace date {
class time_zone;
}

namespace pvt::schedule {

// One element of a field's comma list: "5" is {5, 5, 1}, "8..17" is {8, 17, 1}, "8..17/2" is
// {8, 17, 2}, "8/2" and "*/2" are {8 or the field minimum, nullopt, 2}.
struct FieldValue {
  std::uint32_t start = 0;
  std::optional<std::uint32_t> end;  // inclusive; nullopt: unbounded repetition
  std::uint32_t step = 1;            // 0 only matches start ("5/0", as proxmox-time)

  bool contains(std::uint32_t v) const;
  bool operator==(const FieldValue&) const = default;
};

// Weekday bits, Monday first like proxmox-time.
enum Weekday : std::uint8_t {
  kMonday = 1,
  kTuesday = 2,
  kWednesday = 4,
  kThursday = 8,
  kFriday = 16,
  kSaturday = 32,
  kSunday = 64,
};

struct CalendarEvent {
  bool utc = false;           // "… UTC": evaluate in UTC whatever zone the caller passes
  std::uint8_t weekdays = 0;  // Weekday bits; 0 = every day
  // An empty list matches every value of the field.
  std::vector<FieldValue> years;
  std::vector<FieldValue> months;
  std::vector<FieldValue> days;
  std::vector<FieldValue> hours;
  std::vector<FieldValue> minutes;
  std::vector<FieldValue> seconds;

  bool operator==(const CalendarEvent&) const = default;
};

// Errors read like: invalid calendar event "mon..xyz 01:00": unknown weekday "xyz".
Result<CalendarEvent> parse_calendar_event(std::string_view text);

// A zone from the system tzdata ("Europe/Berlin", "UTC", "Etc/UTC"). The pointer stays valid for
// the life of the process.
Result<const date::time_zone*> find_time_zone(std::string_view name);

// tz == nullptr means UTC. Both return nullopt when there is no such occurrence within the search
// limits (e.g. "2020-01-01" after 2020).
std::optional<std::chrono::sys_seconds> next_after(const CalendarEvent& event,
                                                   std::chrono::sys_seconds t,
                                                   const date::time_zone* tz);
std::optional<std::chrono::sys_seconds> previous_before(const CalendarEvent& event,
                                                        std::chrono::sys_seconds t,
                                                        const date::time_zone* tz);

// The longest real-time interval between consecutive occurrences from the last occurrence before
// around-366d to the first occurrence after around+366d, so a full DST cycle and at least one full
// period of yearly (or rarer) schedules are covered. "sun 01:00" in Europe/Berlin gives 7d+1h (the
// fall-back week), "mon..fri 22:30" in UTC 3d. nullopt if there are fewer than two occurrences.
std::optional<std::chrono::seconds> longest_gap(const CalendarEvent& event,
                                                std::chrono::sys_seconds around,
                                                const date::time_zone* tz);

}  // namespace pvt::schedule
