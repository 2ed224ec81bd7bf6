// Evaluation in named time zones: next/previous occurrences around DST changes, checked against
// hand-computed instants and against a brute-force oracle that knows the 2024 offsets of
// Europe/Berlin and America/New_York independently of the tz library; and longest_gap.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "schedule/calendar_event.h"
#include "tests/unit/schedule/schedule_test_support.h"

namespace pvt::schedule {
namespace {

using std::chrono::sys_seconds;
using namespace test_support;

std::int64_t secs(sys_seconds t) { return t.time_since_epoch().count(); }

// "2024-06-12T12:00:00Z"
sys_seconds utc(const char* text) {
  int y = 0;
  unsigned mo = 0;
  unsigned d = 0;
  int h = 0;
  int mi = 0;
  int s = 0;
  EXPECT_EQ(std::sscanf(text, "%d-%u-%uT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s), 6) << text;
  return sys_seconds{std::chrono::sys_days{std::chrono::year{y} / mo / d}} + std::chrono::hours{h} +
         std::chrono::minutes{mi} + std::chrono::seconds{s};
}

const date::time_zone* zone(const char* name) {
  if (std::string(name) == "nullptr") {
    return nullptr;
  }
  auto tz = find_time_zone(name);
  EXPECT_TRUE(tz.has_value()) << name << ": " << (tz ? "" : tz.error().message);
  return tz.value_or(nullptr);
}

TEST(FindTimeZone, KnownAndUnknownNames) {
  for (const char* name : {"UTC", "Etc/UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"}) {
    auto tz = find_time_zone(name);
    ASSERT_TRUE(tz.has_value()) << name << ": " << tz.error().message;
    EXPECT_NE(*tz, nullptr);
  }
  EXPECT_EQ(find_time_zone("Europe/Berlin").value(), find_time_zone("Europe/Berlin").value());

  auto bad = find_time_zone("Mars/Olympus_Mons");
  ASSERT_FALSE(bad.has_value());
  EXPECT_NE(bad.error().message.find("unknown time zone \"Mars/Olympus_Mons\""), std::string::npos)
      << bad.error().message;
  auto empty = find_time_zone("");
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().message, "empty time zone name");
}

// --- next/previous in zones
// ------------------------------------------------------------------------

struct Row {
  const char* text;
  const char* zone;
  const char* from;
  const char* next;      // first occurrence strictly after `from`
  const char* previous;  // last occurrence strictly before `from`
};

class Occurrences : public testing::TestWithParam<Row> {};

TEST_P(Occurrences, NextAndPrevious) {
  const Row& r = GetParam();
  CalendarEvent ev = event(r.text);
  const date::time_zone* tz = zone(r.zone);
  const sys_seconds from = utc(r.from);
  EXPECT_EQ(iso(next_after(ev, from, tz)), r.next);
  EXPECT_EQ(iso(previous_before(ev, from, tz)), r.previous);
}

// Offsets in 2024: Europe/Berlin +1, +2 from 03-31T01:00Z, +1 from 10-27T01:00Z;
// America/New_York -5, -4 from 03-10T07:00Z, -5 from 11-03T06:00Z. 2024-06-12 is a Wednesday.
INSTANTIATE_TEST_SUITE_P(
    CalendarEvent, Occurrences,
    testing::Values(
        // UTC (nullptr and the named zone agree)
        Row{"sun 01:00", "UTC", "2024-06-12T12:00:00Z", "2024-06-16T01:00:00Z",
            "2024-06-09T01:00:00Z"},
        Row{"sun 01:00", "nullptr", "2024-06-12T12:00:00Z", "2024-06-16T01:00:00Z",
            "2024-06-09T01:00:00Z"},
        Row{"daily", "UTC", "2024-06-12T12:00:00Z", "2024-06-13T00:00:00Z", "2024-06-12T00:00:00Z"},
        Row{"mon..fri 22:30", "UTC", "2024-06-12T12:00:00Z", "2024-06-12T22:30:00Z",
            "2024-06-11T22:30:00Z"},
        Row{"mon..fri 22:30", "UTC", "2024-06-14T23:00:00Z", "2024-06-17T22:30:00Z",
            "2024-06-14T22:30:00Z"},
        Row{"sat,sun 3:15", "UTC", "2024-06-12T12:00:00Z", "2024-06-15T03:15:00Z",
            "2024-06-09T03:15:00Z"},
        Row{"*/2:00", "UTC", "2024-06-12T12:00:00Z", "2024-06-12T14:00:00Z",
            "2024-06-12T10:00:00Z"},
        Row{"2:00/30", "UTC", "2024-06-12T02:10:00Z", "2024-06-12T02:30:00Z",
            "2024-06-12T02:00:00Z"},
        Row{"2:00/30", "UTC", "2024-06-12T12:00:00Z", "2024-06-13T02:00:00Z",
            "2024-06-12T02:30:00Z"},
        Row{"*/15", "UTC", "2024-06-12T12:07:00Z", "2024-06-12T12:15:00Z", "2024-06-12T12:00:00Z"},
        Row{"5", "UTC", "2024-06-12T12:07:00Z", "2024-06-12T13:05:00Z", "2024-06-12T12:05:00Z"},
        Row{"2024-*-01 00:00", "UTC", "2024-06-12T12:00:00Z", "2024-07-01T00:00:00Z",
            "2024-06-01T00:00:00Z"},
        Row{"2024-*-01 00:00", "UTC", "2024-12-15T00:00:00Z", "none", "2024-12-01T00:00:00Z"},
        Row{"*-12-25", "UTC", "2024-06-12T12:00:00Z", "2024-12-25T00:00:00Z",
            "2023-12-25T00:00:00Z"},
        Row{"mon 2..4", "UTC", "2024-06-12T12:00:00Z", "2024-06-17T00:02:00Z",
            "2024-06-10T23:04:00Z"},
        Row{"8..17/2:00", "UTC", "2024-06-12T17:30:00Z", "2024-06-13T08:00:00Z",
            "2024-06-12T16:00:00Z"},
        Row{"2020-01-01", "UTC", "2024-06-12T12:00:00Z", "none", "2020-01-01T00:00:00Z"},
        Row{"minutely", "UTC", "2024-06-12T12:00:30Z", "2024-06-12T12:01:00Z",
            "2024-06-12T12:00:00Z"},
        Row{"weekly", "UTC", "2024-06-12T12:00:00Z", "2024-06-17T00:00:00Z",
            "2024-06-10T00:00:00Z"},
        Row{"monthly", "UTC", "2024-06-12T12:00:00Z", "2024-07-01T00:00:00Z",
            "2024-06-01T00:00:00Z"},
        Row{"quarterly", "UTC", "2024-06-12T12:00:00Z", "2024-07-01T00:00:00Z",
            "2024-04-01T00:00:00Z"},
        Row{"semiannually", "UTC", "2024-06-12T12:00:00Z", "2024-07-01T00:00:00Z",
            "2024-01-01T00:00:00Z"},
        Row{"yearly", "UTC", "2024-06-12T12:00:00Z", "2025-01-01T00:00:00Z",
            "2024-01-01T00:00:00Z"},
        // Europe/Berlin, summer (+2) and winter (+1)
        Row{"sun 01:00", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-15T23:00:00Z",
            "2024-06-08T23:00:00Z"},
        Row{"sun 01:00", "Europe/Berlin", "2024-01-10T12:00:00Z", "2024-01-14T00:00:00Z",
            "2024-01-07T00:00:00Z"},
        Row{"daily", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-12T22:00:00Z",
            "2024-06-11T22:00:00Z"},
        Row{"mon..fri 22:30", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-12T20:30:00Z",
            "2024-06-11T20:30:00Z"},
        Row{"sat,sun 3:15", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-15T01:15:00Z",
            "2024-06-09T01:15:00Z"},
        Row{"*/2:00", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-12T14:00:00Z",
            "2024-06-12T10:00:00Z"},
        Row{"2:00/30", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-13T00:00:00Z",
            "2024-06-12T00:30:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-06-12T12:07:00Z", "2024-06-12T12:15:00Z",
            "2024-06-12T12:00:00Z"},
        Row{"2024-*-01 00:00", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-30T22:00:00Z",
            "2024-05-31T22:00:00Z"},
        Row{"*-12-25", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-12-24T23:00:00Z",
            "2023-12-24T23:00:00Z"},
        Row{"mon 2..4", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-16T22:02:00Z",
            "2024-06-10T21:04:00Z"},
        // an explicit UTC suffix ignores the zone
        Row{"daily UTC", "Europe/Berlin", "2024-06-12T12:00:00Z", "2024-06-13T00:00:00Z",
            "2024-06-12T00:00:00Z"},
        // America/New_York, summer (-4)
        Row{"sun 01:00", "America/New_York", "2024-06-12T12:00:00Z", "2024-06-16T05:00:00Z",
            "2024-06-09T05:00:00Z"},
        Row{"daily", "America/New_York", "2024-06-12T12:00:00Z", "2024-06-13T04:00:00Z",
            "2024-06-12T04:00:00Z"},
        Row{"mon..fri 22:30", "America/New_York", "2024-06-12T12:00:00Z", "2024-06-13T02:30:00Z",
            "2024-06-12T02:30:00Z"},
        Row{"sat,sun 3:15", "America/New_York", "2024-06-12T12:00:00Z", "2024-06-15T07:15:00Z",
            "2024-06-09T07:15:00Z"},
        Row{"*/2:00", "America/New_York", "2024-06-12T12:00:00Z", "2024-06-12T14:00:00Z",
            "2024-06-12T10:00:00Z"},
        Row{"*-12-25", "America/New_York", "2024-06-12T12:00:00Z", "2024-12-25T05:00:00Z",
            "2023-12-25T05:00:00Z"},
        Row{"2024-*-01 00:00", "America/New_York", "2024-12-15T00:00:00Z", "none",
            "2024-12-01T05:00:00Z"},

        // Spring forward, Berlin 2024-03-31: 02:00..02:59 does not exist and does not fire.
        Row{"2:30", "Europe/Berlin", "2024-03-30T12:00:00Z", "2024-04-01T00:30:00Z",
            "2024-03-30T01:30:00Z"},
        Row{"2:30", "Europe/Berlin", "2024-04-01T00:00:00Z", "2024-04-01T00:30:00Z",
            "2024-03-30T01:30:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-03-31T00:50:00Z", "2024-03-31T01:00:00Z",
            "2024-03-31T00:45:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-03-31T01:00:00Z", "2024-03-31T01:15:00Z",
            "2024-03-31T00:45:00Z"},
        Row{"hourly", "Europe/Berlin", "2024-03-31T00:30:00Z", "2024-03-31T01:00:00Z",
            "2024-03-31T00:00:00Z"},
        Row{"sun 02:00", "Europe/Berlin", "2024-03-30T00:00:00Z", "2024-04-07T00:00:00Z",
            "2024-03-24T01:00:00Z"},
        Row{"sun 2,3:00", "Europe/Berlin", "2024-03-30T00:00:00Z", "2024-03-31T01:00:00Z",
            "2024-03-24T02:00:00Z"},
        // Fall back, Berlin 2024-10-27: 02:00..02:59 happens twice and fires the first time only.
        Row{"2:30", "Europe/Berlin", "2024-10-26T23:00:00Z", "2024-10-27T00:30:00Z",
            "2024-10-26T00:30:00Z"},
        Row{"2:30", "Europe/Berlin", "2024-10-27T00:30:00Z", "2024-10-28T01:30:00Z",
            "2024-10-26T00:30:00Z"},
        Row{"2:30", "Europe/Berlin", "2024-10-27T01:20:00Z", "2024-10-28T01:30:00Z",
            "2024-10-27T00:30:00Z"},
        Row{"2:30", "Europe/Berlin", "2024-10-27T01:40:00Z", "2024-10-28T01:30:00Z",
            "2024-10-27T00:30:00Z"},
        Row{"hourly", "Europe/Berlin", "2024-10-27T00:00:00Z", "2024-10-27T02:00:00Z",
            "2024-10-26T23:00:00Z"},
        Row{"hourly", "Europe/Berlin", "2024-10-27T01:30:00Z", "2024-10-27T02:00:00Z",
            "2024-10-27T00:00:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-10-27T00:45:00Z", "2024-10-27T02:00:00Z",
            "2024-10-27T00:30:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-10-27T01:10:00Z", "2024-10-27T02:00:00Z",
            "2024-10-27T00:45:00Z"},
        Row{"*/15", "Europe/Berlin", "2024-10-27T02:00:00Z", "2024-10-27T02:15:00Z",
            "2024-10-27T00:45:00Z"},
        // Spring forward, New York 2024-03-10: 02:00..02:59 does not exist.
        Row{"2:30", "America/New_York", "2024-03-10T05:00:00Z", "2024-03-11T06:30:00Z",
            "2024-03-09T07:30:00Z"},
        Row{"2:30", "America/New_York", "2024-03-11T00:00:00Z", "2024-03-11T06:30:00Z",
            "2024-03-09T07:30:00Z"},
        Row{"sun 2:30", "America/New_York", "2024-03-09T00:00:00Z", "2024-03-17T06:30:00Z",
            "2024-03-03T07:30:00Z"},
        // Fall back, New York 2024-11-03: 01:00..01:59 happens twice; 1:30 fires once.
        Row{"1:30", "America/New_York", "2024-11-03T04:00:00Z", "2024-11-03T05:30:00Z",
            "2024-11-02T05:30:00Z"},
        Row{"1:30", "America/New_York", "2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z",
            "2024-11-02T05:30:00Z"},
        Row{"1:30", "America/New_York", "2024-11-03T06:45:00Z", "2024-11-04T06:30:00Z",
            "2024-11-03T05:30:00Z"},
        Row{"1:30", "America/New_York", "2024-11-04T06:30:00Z", "2024-11-05T06:30:00Z",
            "2024-11-03T05:30:00Z"},
        Row{"hourly", "America/New_York", "2024-11-03T05:00:00Z", "2024-11-03T07:00:00Z",
            "2024-11-03T04:00:00Z"},
        Row{"sun 01:00", "America/New_York", "2024-11-02T00:00:00Z", "2024-11-03T05:00:00Z",
            "2024-10-27T05:00:00Z"},
        Row{"sun 01:00", "America/New_York", "2024-11-03T05:00:00Z", "2024-11-10T06:00:00Z",
            "2024-10-27T05:00:00Z"}));

// --- brute force around DST changes
// ------------------------------------------------------------------

struct Local {
  int year;
  unsigned month;
  unsigned day;
  unsigned weekday;  // ISO: Monday = 1
  int hour;
  int minute;
  int second;
};

Local broken_down(std::int64_t local_seconds) {
  const auto t = sys_seconds{std::chrono::seconds{local_seconds}};
  const auto day = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss hms{t - day};
  return Local{static_cast<int>(ymd.year()),           static_cast<unsigned>(ymd.month()),
               static_cast<unsigned>(ymd.day()),       std::chrono::weekday{day}.iso_encoding(),
               static_cast<int>(hms.hours().count()),  static_cast<int>(hms.minutes().count()),
               static_cast<int>(hms.seconds().count())};
}

// One zone's 2024 rules, written down independently of the tz database.
struct Zone2024 {
  const char* name;
  std::int64_t spring;  // UTC instant of the spring-forward
  std::int64_t fall;    // UTC instant of the fall-back
  std::int64_t standard;

  std::int64_t offset(std::int64_t t) const {
    return (t >= spring && t < fall) ? standard + kHour : standard;
  }
  // Whether t lies in the second pass of the repeated hour, whose wall-clock times already fired.
  bool repeated(std::int64_t t) const { return t >= fall && t < fall + kHour; }
};

const Zone2024 kBerlin{"Europe/Berlin", 1711846800, 1729990800, kHour};
const Zone2024 kNewYork{"America/New_York", 1710054000, 1730613600, -5 * kHour};

struct Oracle {
  const char* text;
  std::function<bool(const Local&)> matches;
  std::int64_t step;  // the pattern only matches at multiples of this many seconds
};

std::vector<Oracle> oracles() {
  return {
      {"*/15", [](const Local& l) { return l.minute % 15 == 0 && l.second == 0; }, kMin},
      {"2:30", [](const Local& l) { return l.hour == 2 && l.minute == 30 && l.second == 0; }, kMin},
      {"1:30", [](const Local& l) { return l.hour == 1 && l.minute == 30 && l.second == 0; }, kMin},
      {"hourly", [](const Local& l) { return l.minute == 0 && l.second == 0; }, kMin},
      {"*:*:*/20", [](const Local& l) { return l.second % 20 == 0; }, 1},
      {"sun 2..3:00/10",
       [](const Local& l) {
         return l.weekday == 7 && (l.hour == 2 || l.hour == 3) && l.minute % 10 == 0 &&
                l.second == 0;
       },
       kMin},
      {"*:0,59:59",
       [](const Local& l) { return (l.minute == 0 || l.minute == 59) && l.second == 59; }, 1},
      {"*-*-* 0..1,3:*", [](const Local& l) { return l.hour != 2 && l.hour < 4 && l.second == 0; },
       kMin},
  };
}

TEST(CalendarEventDst, MatchesBruteForceAroundEveryTransition) {
  for (const Zone2024& z : {kBerlin, kNewYork}) {
    const date::time_zone* tz = zone(z.name);
    for (std::int64_t transition : {z.spring, z.fall}) {
      for (const Oracle& o : oracles()) {
        // Daily patterns need a day on each side; per-second ones only the transition itself.
        const std::int64_t half = o.step == 1 ? 3 * kHour : 30 * kHour;
        const std::int64_t begin = transition - half;
        const std::int64_t end = transition + half;
        std::vector<std::string> expected;
        for (std::int64_t t = begin + 1; t <= end; t += 1) {
          if (o.step > 1 && t % o.step != 0) {
            continue;
          }
          if (!z.repeated(t) && o.matches(broken_down(t + z.offset(t)))) {
            expected.push_back(iso(at(t)));
          }
        }

        CalendarEvent ev = event(o.text);
        std::vector<std::string> forward;
        for (auto t = next_after(ev, at(begin), tz); t && secs(*t) <= end;
             t = next_after(ev, *t, tz)) {
          forward.push_back(iso(t));
        }
        EXPECT_EQ(forward, expected)
            << o.text << " in " << z.name << " around " << iso(at(transition));

        std::vector<std::string> backward;
        for (auto t = previous_before(ev, at(end + 1), tz); t && secs(*t) > begin;
             t = previous_before(ev, *t, tz)) {
          backward.insert(backward.begin(), iso(t));
        }
        EXPECT_EQ(backward, expected)
            << o.text << " in " << z.name << " around " << iso(at(transition));
      }
    }
  }
}

// --- longest gap
// ------------------------------------------------------------------------------------

struct GapRow {
  const char* text;
  const char* zone;
  const char* around;
  std::optional<std::int64_t> gap;
};

class LongestGap : public testing::TestWithParam<GapRow> {};

TEST_P(LongestGap, OverTwoYears) {
  const GapRow& r = GetParam();
  auto gap = longest_gap(event(r.text), utc(r.around), zone(r.zone));
  ASSERT_EQ(gap.has_value(), r.gap.has_value()) << r.text;
  if (gap) {
    EXPECT_EQ(gap->count(), *r.gap) << r.text << " in " << r.zone;
  }
}

constexpr const char* kMid2024 = "2024-06-12T12:00:00Z";

INSTANTIATE_TEST_SUITE_P(
    CalendarEvent, LongestGap,
    testing::Values(
        GapRow{"sun 01:00", "UTC", kMid2024, 7 * kDay},
        GapRow{"sun 01:00", "Europe/Berlin", kMid2024, 7 * kDay + kHour},
        GapRow{"sun 01:00", "America/New_York", kMid2024, 7 * kDay + kHour},
        GapRow{"mon..fri 22:30", "UTC", kMid2024, 3 * kDay},
        GapRow{"mon..fri 22:30", "Europe/Berlin", kMid2024, 3 * kDay + kHour},
        GapRow{"mon..fri 22:30", "America/New_York", kMid2024, 3 * kDay + kHour},
        GapRow{"daily", "UTC", kMid2024, kDay},
        GapRow{"daily", "Europe/Berlin", kMid2024, kDay + kHour},
        GapRow{"daily", "America/New_York", kMid2024, kDay + kHour},
        GapRow{"daily UTC", "Europe/Berlin", kMid2024, kDay},
        GapRow{"sat,sun 3:15", "UTC", kMid2024, 6 * kDay},
        GapRow{"*/2:00", "UTC", kMid2024, 2 * kHour},
        GapRow{"*/2:00", "Europe/Berlin", kMid2024, 3 * kHour},
        GapRow{"2:00/30", "UTC", kMid2024, kDay - 30 * kMin},
        GapRow{"*/15", "UTC", kMid2024, 15 * kMin},
        GapRow{"*/15", "Europe/Berlin", kMid2024, kHour + 15 * kMin},
        GapRow{"hourly", "Europe/Berlin", kMid2024, 2 * kHour},
        GapRow{"2:30", "Europe/Berlin", kMid2024, 2 * kDay - kHour},  // skipped in March
        GapRow{"2:30", "America/New_York", kMid2024, 2 * kDay - kHour},
        GapRow{"1:30", "America/New_York", kMid2024, kDay + kHour},
        GapRow{"minutely", "UTC", kMid2024, kMin},
        GapRow{"minutely", "Europe/Berlin", kMid2024, kHour + kMin},
        GapRow{"*:*:*", "UTC", kMid2024, 1},
        GapRow{"*:*:*", "America/New_York", kMid2024, kHour + 1},
        GapRow{"weekly", "UTC", kMid2024, 7 * kDay}, GapRow{"monthly", "UTC", kMid2024, 31 * kDay},
        GapRow{"mon 2..4", "UTC", kMid2024, 6 * kDay + 58 * kMin},  // Mon 23:04 .. Mon 00:02
        GapRow{"*-12-25", "UTC", kMid2024, 366 * kDay},             // 2023-12-25 .. 2024-12-25
        GapRow{"*-12-25", "Europe/Berlin", kMid2024, 366 * kDay},
        GapRow{"*-12-25", "UTC", "2027-06-01T00:00:00Z", 366 * kDay},  // 2027 .. 2028-12-25
        GapRow{"*-12-25", "UTC", "2022-06-01T00:00:00Z", 365 * kDay},
        GapRow{"2024-*-01 00:00", "UTC", kMid2024, 31 * kDay},
        GapRow{"2024-*-01 00:00", "Europe/Berlin", kMid2024, 31 * kDay + kHour},
        GapRow{"*-02-29", "UTC", "2025-06-12T00:00:00Z", (3 * 365 + 366) * kDay},
        GapRow{"2020,2030-01-01", "UTC", "2025-06-12T00:00:00Z", (7 * 365 + 3 * 366) * kDay},
        GapRow{"2020-01-01", "UTC", kMid2024, std::nullopt},
        GapRow{"02-30", "UTC", kMid2024, std::nullopt}));

// longest_gap scans day by day instead of walking every occurrence; walking them must agree.
TEST(CalendarEventGap, AgreesWithWalkingEveryOccurrence) {
  const sys_seconds around = utc(kMid2024);
  for (const char* zone_name : {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}) {
    const date::time_zone* tz = zone(zone_name);
    for (const char* text : {"hourly", "sun 01:00", "mon..fri 22:30", "2:00/30", "*/2:00",
                             "sun 2..3:00/10", "1:30", "2:30", "*-*-1..3 1,2,3:30"}) {
      CalendarEvent ev = event(text);
      auto first = previous_before(ev, around - std::chrono::days{366}, tz);
      auto last = next_after(ev, around + std::chrono::days{366}, tz);
      ASSERT_TRUE(first && last) << text;
      std::int64_t longest = 0;
      for (auto t = first; *t < *last;) {
        auto n = next_after(ev, *t, tz);
        ASSERT_TRUE(n) << text;
        longest = std::max(longest, secs(*n) - secs(*t));
        t = n;
      }
      auto gap = longest_gap(ev, around, tz);
      ASSERT_TRUE(gap) << text;
      EXPECT_EQ(gap->count(), longest) << text << " in " << zone_name;
    }
  }
}

}  // namespace
}  // namespace pvt::schedule
