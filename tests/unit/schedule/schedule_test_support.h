// Helpers shared by the calendar-event test suites: instants, readable times, parsed events.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "schedule/calendar_event.h"

namespace pvt::schedule::test_support {

using std::chrono::sys_seconds;

inline constexpr std::int64_t kMin = 60;
inline constexpr std::int64_t kHour = 3600;
inline constexpr std::int64_t kDay = 86400;

inline sys_seconds at(std::int64_t s) { return sys_seconds{std::chrono::seconds{s}}; }

// "2024-06-12T12:00:00Z", or "none".
inline std::string iso(std::optional<sys_seconds> t) {
  if (!t) {
    return "none";
  }
  const auto day = std::chrono::floor<std::chrono::days>(*t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{*t - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// A schedule the test expects to parse (a failure is reported, an empty event returned).
inline CalendarEvent event(const std::string& text) {
  auto ev = parse_calendar_event(text);
  EXPECT_TRUE(ev.has_value()) << text << ": " << (ev ? "" : ev.error().message);
  return ev.value_or(CalendarEvent{});
}

}  // namespace pvt::schedule::test_support
