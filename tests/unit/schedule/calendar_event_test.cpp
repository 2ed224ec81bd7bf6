// Parsing and UTC evaluation of calendar events; the evaluation rows are ported from
// proxmox-time's own test suite (src/test.rs), which evaluates every event with " UTC" appended.
#include "schedule/calendar_event.h"
#include "tests/unit/schedule/schedule_test_support.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace pvt::schedule {
namespace {

using std::chrono::sys_seconds;
using namespace test_support;

FieldValue one(std::uint32_t v) { return FieldValue{v, v, 1}; }

// --- accepted texts ------------------------------------------------------------------------------

class Accepts : public testing::TestWithParam<const char*> {};

TEST_P(Accepts, Parses) {
  auto ev = parse_calendar_event(GetParam());
  EXPECT_TRUE(ev.has_value()) << (ev ? "" : ev.error().message);
}

INSTANTIATE_TEST_SUITE_P(
    CalendarEvent, Accepts,
    testing::Values(
        // proxmox-time test_calendar_event_weekday
        "mon,wed..fri", "fri..mon", "mon", "MON", "monDay", "tue", "Tuesday", "wed", "wednesday",
        "thu", "thursday", "fri", "friday", "sat", "saturday", "sun", "sunday", "mon..fri",
        "mon,tue,fri", "mon,tue..wednesday,fri..sat",
        // the formats PVE backup jobs use
        "sun 01:00", "daily", "mon..fri 22:30", "sat,sun 3:15", "*/2:00", "2:00/30", "*/15", "5",
        "2024-*-01 00:00", "*-12-25", "mon 2..4", "8..17/2:00", "sun 01:00 UTC", "daily UTC",
        "dailyUTC", "minutely", "hourly", "weekly", "monthly", "yearly", "annually", "quarterly",
        "semiannually", "semi-annually", "*", "*:*", "*:*:*", "*:3:5", "0..3", "23..23:0..3",
        "1/12:0/15", "1,4,6", "4..10,6:5/5,23", "2020-07-31", "02-28", "1965/5-01-01",
        "2020-7..9-2/2", "2020,2021-12-31", "2021-02-29", "02-30", "*-*-* *:*:*",
        "2024-01-01 00:00:00", "mon 2024-01-01 12:00", "mon..fri *-*-1..7 3:00", "sun ",
        "2024-01-01 ", "sat   10:00", "mon\t10:00",
        // proxmox-time quirks, accepted by PVE too
        "mon10:00",  // no space needed after weekdays
        "25:00",     // hour too big: read as minute 25, second 0
        "*/30:00",   // hour step too big: read as every 30 minutes, second 0
        "0-1",       // month 0 never matches
        "5/0", "3..5/0", "2199-01-01", "0005"));

TEST(FieldValue, Contains) {
  EXPECT_TRUE((FieldValue{5, 5, 1}).contains(5));
  EXPECT_FALSE((FieldValue{5, 5, 1}).contains(6));
  EXPECT_TRUE((FieldValue{8, 17, 2}).contains(16));
  EXPECT_FALSE((FieldValue{8, 17, 2}).contains(17));
  EXPECT_FALSE((FieldValue{8, 17, 2}).contains(18));
  EXPECT_FALSE((FieldValue{8, 17, 2}).contains(7));
  EXPECT_TRUE((FieldValue{1, std::nullopt, 3}).contains(10));
  EXPECT_FALSE((FieldValue{1, std::nullopt, 3}).contains(11));
  EXPECT_TRUE((FieldValue{3, 5, 0}).contains(3));  // "3..5/0" is just 3, as in proxmox-time
  EXPECT_FALSE((FieldValue{3, 5, 0}).contains(4));
}

// --- parsed structure ----------------------------------------------------------------------------

TEST(CalendarEventParse, WeeklyBackupSchedule) {
  CalendarEvent ev = event("sun 01:00");
  EXPECT_FALSE(ev.utc);
  EXPECT_EQ(ev.weekdays, kSunday);
  EXPECT_TRUE(ev.years.empty());
  EXPECT_TRUE(ev.months.empty());
  EXPECT_TRUE(ev.days.empty());
  EXPECT_EQ(ev.hours, std::vector<FieldValue>{one(1)});
  EXPECT_EQ(ev.minutes, std::vector<FieldValue>{one(0)});
  EXPECT_EQ(ev.seconds, std::vector<FieldValue>{one(0)});
}

TEST(CalendarEventParse, LoneStepIsMinutes) {
  CalendarEvent ev = event("*/15");
  EXPECT_EQ(ev.weekdays, 0);
  EXPECT_TRUE(ev.hours.empty());
  EXPECT_EQ(ev.minutes, (std::vector<FieldValue>{{0, std::nullopt, 15}}));
  EXPECT_EQ(ev.seconds, std::vector<FieldValue>{one(0)});
}

TEST(CalendarEventParse, RepetitionForms) {
  EXPECT_EQ(event("*/2:00").hours, (std::vector<FieldValue>{{0, std::nullopt, 2}}));
  EXPECT_EQ(event("2:00/30").minutes, (std::vector<FieldValue>{{0, std::nullopt, 30}}));
  EXPECT_EQ(event("8..17/2:00").hours, (std::vector<FieldValue>{{8, 17, 2}}));
  EXPECT_EQ(event("8..17:00").hours, (std::vector<FieldValue>{{8, 17, 1}}));
  EXPECT_EQ(event("1,4,6").minutes, (std::vector<FieldValue>{one(1), one(4), one(6)}));
  // The "*" step starts at the field's minimum: 1 for months and days, 0 otherwise.
  CalendarEvent ev = event("*/2-*/3-*/5");
  EXPECT_EQ(ev.years, (std::vector<FieldValue>{{0, std::nullopt, 2}}));
  EXPECT_EQ(ev.months, (std::vector<FieldValue>{{1, std::nullopt, 3}}));
  EXPECT_EQ(ev.days, (std::vector<FieldValue>{{1, std::nullopt, 5}}));
}

TEST(CalendarEventParse, DateWithoutTimeIsMidnight) {
  CalendarEvent ev = event("*-12-25");
  EXPECT_TRUE(ev.years.empty());
  EXPECT_EQ(ev.months, std::vector<FieldValue>{one(12)});
  EXPECT_EQ(ev.days, std::vector<FieldValue>{one(25)});
  EXPECT_EQ(ev.hours, std::vector<FieldValue>{one(0)});
  EXPECT_EQ(ev.minutes, std::vector<FieldValue>{one(0)});
  EXPECT_EQ(ev.seconds, std::vector<FieldValue>{one(0)});
}

TEST(CalendarEventParse, WeekdayRangesWrapAroundTheWeekend) {
  EXPECT_EQ(event("fri..mon").weekdays, kFriday | kSaturday | kSunday | kMonday);
  EXPECT_EQ(event("mon..fri").weekdays, kMonday | kTuesday | kWednesday | kThursday | kFriday);
  EXPECT_EQ(event("wed,mon..tue,fri").weekdays, kMonday | kTuesday | kWednesday | kFriday);
  EXPECT_EQ(event("sun..sat").weekdays, 0x7f);
  EXPECT_EQ(event("Saturday").weekdays, kSaturday);
}

TEST(CalendarEventParse, UtcSuffixAndKeywords) {
  EXPECT_TRUE(event("sun 01:00 UTC").utc);
  EXPECT_TRUE(event("daily UTC").utc);
  CalendarEvent weekly = event("weekly");
  EXPECT_EQ(weekly.weekdays, kMonday);
  EXPECT_EQ(weekly.hours, std::vector<FieldValue>{one(0)});
  EXPECT_EQ(event("quarterly").months, (std::vector<FieldValue>{one(1), one(4), one(7), one(10)}));
  EXPECT_EQ(event("minutely").minutes, std::vector<FieldValue>{});
  EXPECT_EQ(event("hourly").hours, std::vector<FieldValue>{});
  EXPECT_EQ(event("yearly"), event("annually"));
  EXPECT_EQ(event("semiannually"), event("semi-annually"));
  EXPECT_EQ(event("daily"), event("00:00"));
}

TEST(CalendarEventParse, QuirkTooBigHourBecomesMinute) {
  CalendarEvent ev = event("25:00");
  EXPECT_TRUE(ev.hours.empty());
  EXPECT_EQ(ev.minutes, std::vector<FieldValue>{one(25)});
  EXPECT_EQ(ev.seconds, std::vector<FieldValue>{one(0)});
}

// --- rejected texts ------------------------------------------------------------------------------

struct Rejected {
  const char* text;
  const char* reason;
};

class Rejects : public testing::TestWithParam<Rejected> {};

TEST_P(Rejects, WithAnActionableMessage) {
  const Rejected& r = GetParam();
  auto ev = parse_calendar_event(r.text);
  ASSERT_FALSE(ev.has_value()) << r.text;
  EXPECT_EQ(ev.error().message,
            "invalid calendar event \"" + std::string(r.text) + "\": " + r.reason);
}

INSTANTIATE_TEST_SUITE_P(
    CalendarEvent, Rejects,
    testing::Values(
        Rejected{"", "expected a weekday, date or time"},
        Rejected{"UTC", "expected a weekday, date or time"},
        Rejected{"mon..xyz 01:00", "unknown weekday \"xyz\""},
        Rejected{"xyz", "unknown weekday \"xyz\""},
        Rejected{"Daily", "unknown weekday \"Daily\""},  // keywords are case sensitive
        Rejected{"daily 01:00", "unknown weekday \"daily\""},
        Rejected{"every day", "unknown weekday \"every\""},
        Rejected{"mon,xyz", "unknown weekday \"xyz\""},
        Rejected{"mon, tue", "expected a weekday at \" tue\""},
        Rejected{"mon,,tue", "expected a weekday at \",tue\""},
        Rejected{"mon..", "expected a weekday at end of input"},
        Rejected{"*/60", "minute 60 is out of range (at most 59)"},
        Rejected{"99", "minute 99 is out of range (at most 59)"},
        Rejected{"99:00", "hour 99 is out of range (at most 23)"},
        Rejected{"1:99", "minute 99 is out of range (at most 59)"},
        Rejected{"mon 1:60", "minute 60 is out of range (at most 59)"},
        Rejected{"25:61", "second 61 is out of range (at most 59)"},
        Rejected{"99999999999", "minute 99999999999 is out of range (at most 59)"},
        Rejected{"2024-13-01", "month 13 is out of range (at most 12)"},
        Rejected{"2024-01-32", "day 32 is out of range (at most 31)"},
        Rejected{"2200-01-01", "year 2200 is out of range (at most 2199)"},
        Rejected{"5..3", "minute range 5..3 starts after it ends"},
        Rejected{"22:30..20", "minute range 30..20 starts after it ends"},
        Rejected{"1,2,", "expected a number at end of input"},
        Rejected{"mon 2:", "expected a number at end of input"},
        Rejected{"2:00/", "expected a number at end of input"},
        Rejected{"*/0", "unexpected \"/0\""}, Rejected{"1..2..3", "unexpected \"..3\""},
        Rejected{"1:2:3:4", "unexpected \":4\""},
        Rejected{"mon..fri 22:30 extra", "unexpected \" extra\""},
        Rejected{"sun 01:00 daily", "unexpected \" daily\""},
        Rejected{"01:00 ", "unexpected \" \""},  // only weekdays and dates may trail spaces
        Rejected{" sun", "unexpected \" sun\""},
        Rejected{"24:00:00", "unexpected \":00\" (hour 24 is out of range (at most 23))"},
        Rejected{"12:00 UTC+1", "unexpected \" UTC+1\""}));

// --- evaluation, ported from proxmox-time
// ---------------------------------------------------------

constexpr std::int64_t kThursday0000 = 0;  // 1970-01-01 was a Thursday
constexpr std::int64_t kThursday1500 = 15 * kHour;
constexpr std::int64_t kJul312020 = 1596153600;  // Friday 2020-07-31 00:00:00
constexpr std::int64_t kDec312020 = 1609372800;  // Thursday 2020-12-31 00:00:00

struct NextRow {
  const char* text;
  std::int64_t last;
  std::int64_t expect;
};

class ProxmoxNext : public testing::TestWithParam<NextRow> {};

TEST_P(ProxmoxNext, MatchesProxmoxTime) {
  const NextRow& r = GetParam();
  CalendarEvent ev = event(r.text);
  EXPECT_EQ(iso(next_after(ev, at(r.last), nullptr)), iso(at(r.expect))) << r.text;
  // The same, the other way round: expect is an occurrence, and nothing lies between the
  // occurrence before it and it.
  EXPECT_EQ(iso(previous_before(ev, at(r.expect + 1), nullptr)), iso(at(r.expect))) << r.text;
  if (auto before = previous_before(ev, at(r.expect), nullptr)) {
    EXPECT_LE(*before, at(r.last)) << r.text;
    EXPECT_EQ(iso(next_after(ev, *before, nullptr)), iso(at(r.expect))) << r.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    CalendarEvent, ProxmoxNext,
    testing::Values(
        // minute only syntax
        NextRow{"0", kThursday0000, kThursday0000 + kHour},
        NextRow{"*", kThursday0000, kThursday0000 + kMin},
        NextRow{"*:0", kThursday0000, kThursday0000 + kHour},
        NextRow{"*:*", kThursday0000, kThursday0000 + kMin},
        NextRow{"*:*:*", kThursday0000, kThursday0000 + 1},
        NextRow{"*:3:5", kThursday0000, kThursday0000 + 3 * kMin + 5},
        NextRow{"mon *:*", kThursday0000, kThursday0000 + 4 * kDay},
        NextRow{"mon 2:*", kThursday0000, kThursday0000 + 4 * kDay + 2 * kHour},
        NextRow{"mon 2:50", kThursday0000, kThursday0000 + 4 * kDay + 2 * kHour + 50 * kMin},
        NextRow{"tue", kThursday0000, kThursday0000 + 5 * kDay},
        NextRow{"wed", kThursday0000, kThursday0000 + 6 * kDay},
        NextRow{"thu", kThursday0000, kThursday0000 + 7 * kDay},
        NextRow{"fri", kThursday0000, kThursday0000 + 1 * kDay},
        NextRow{"sat", kThursday0000, kThursday0000 + 2 * kDay},
        NextRow{"sun", kThursday0000, kThursday0000 + 3 * kDay},
        // repeated ranges
        NextRow{"4..10/2:0", kThursday0000, kThursday0000 + 4 * kHour},
        NextRow{"4..10/2:0", kThursday0000 + 5 * kHour, kThursday0000 + 6 * kHour},
        NextRow{"4..10/2:0", kThursday0000 + 11 * kHour, kThursday0000 + 1 * kDay + 4 * kHour},
        // several values in a field, in any order
        NextRow{"5,10:4,8", kThursday0000, kThursday0000 + 5 * kHour + 4 * kMin},
        NextRow{"10,5:8,4", kThursday0000, kThursday0000 + 5 * kHour + 4 * kMin},
        NextRow{"6,4..10:23,5/5", kThursday0000, kThursday0000 + 4 * kHour + 5 * kMin},
        NextRow{"4..10,6:5/5,23", kThursday0000, kThursday0000 + 4 * kHour + 5 * kMin},
        // month wrapping
        NextRow{"sat", kJul312020, kJul312020 + 1 * kDay},
        NextRow{"sun", kJul312020, kJul312020 + 2 * kDay},
        NextRow{"mon", kJul312020, kJul312020 + 3 * kDay},
        NextRow{"tue", kJul312020, kJul312020 + 4 * kDay},
        NextRow{"wed", kJul312020, kJul312020 + 5 * kDay},
        NextRow{"thu", kJul312020, kJul312020 + 6 * kDay},
        NextRow{"fri", kJul312020, kJul312020 + 7 * kDay},
        // year wrapping
        NextRow{"fri", kDec312020, kDec312020 + 1 * kDay},
        NextRow{"sat", kDec312020, kDec312020 + 2 * kDay},
        NextRow{"sun", kDec312020, kDec312020 + 3 * kDay},
        NextRow{"mon", kDec312020, kDec312020 + 4 * kDay},
        NextRow{"tue", kDec312020, kDec312020 + 5 * kDay},
        NextRow{"wed", kDec312020, kDec312020 + 6 * kDay},
        NextRow{"thu", kDec312020, kDec312020 + 7 * kDay},
        NextRow{"daily", kThursday0000, kThursday0000 + kDay},
        NextRow{"daily", kThursday0000 + 1, kThursday0000 + kDay},
        // dates
        NextRow{"2020-07-31", 0, kJul312020}, NextRow{"02-28", 0, (31 + 27) * kDay},
        NextRow{"02-29", 0, 2 * 365 * kDay + (31 + 28) * kDay},  // 1972-02-29
        NextRow{"1965/5-01-01", -1, kThursday0000},
        NextRow{"2020-7..9-2/2", kJul312020, kJul312020 + 2 * kDay},
        NextRow{"2020,2021-12-31", kJul312020, kDec312020},
        // keywords
        NextRow{"minutely", kThursday0000, kThursday0000 + kMin},
        NextRow{"hourly", kThursday0000, kThursday0000 + kHour},
        NextRow{"weekly", kThursday0000, kThursday0000 + 4 * kDay},  // next Monday
        NextRow{"monthly", 0, 31 * kDay}, NextRow{"quarterly", 0, (31 + 28 + 31) * kDay},
        NextRow{"semiannually", 0, (31 + 28 + 31 + 30 + 31 + 30) * kDay},
        NextRow{"semi-annually", 0, (31 + 28 + 31 + 30 + 31 + 30) * kDay},
        NextRow{"yearly", 0, 365 * kDay}, NextRow{"annually", 0, 365 * kDay},
        // from proxmox's older Perl tests (PVE::CalendarEvent)
        NextRow{"*/10", 599, 600}, NextRow{"*/10", 50 * kMin, kHour},
        NextRow{"*/12:0", 10, 12 * kHour}, NextRow{"*/12:0", 13 * kHour, kDay},
        NextRow{"1/12:0/15", 0, kHour}, NextRow{"1/12:0/15", kHour + 16 * kMin, kHour + 30 * kMin},
        NextRow{"1/12:0/15", kHour + 45 * kMin, 13 * kHour},
        NextRow{"1/12:0/15", 13 * kHour + 45 * kMin, 25 * kHour},
        NextRow{"1,4,6", 4 * kMin + 60, 6 * kMin}, NextRow{"1,4,6", 6 * kMin, kHour + kMin},
        NextRow{"sat..sun", 0, 2 * kDay}, NextRow{"sat..sun", 2 * kDay, 3 * kDay},
        NextRow{"sat..sun", 3 * kDay, 9 * kDay}));

TEST(CalendarEventNext, ChainsLikeProxmoxTime) {
  CalendarEvent ev = event("5/2:0");
  std::int64_t n = kThursday0000;
  for (std::int64_t h : {5, 7, 9, 11, 13, 15}) {
    auto next = next_after(ev, at(n), nullptr);
    ASSERT_TRUE(next);
    EXPECT_EQ(iso(next), iso(at(h * kHour)));
    n = next->time_since_epoch().count();
  }

  struct Chain {
    const char* text;
    std::int64_t start;
    std::int64_t first;
    std::int64_t step;
  };
  for (const Chain& c :
       {Chain{"*:*", kThursday0000, kMin, kMin}, Chain{"*:0", kThursday0000, kHour, kHour},
        Chain{"1:0", kThursday1500, kDay + kHour, kDay}}) {
    CalendarEvent e = event(c.text);
    sys_seconds t = at(c.start);
    for (std::int64_t i = 0; i < 100; ++i) {
      auto next = next_after(e, t, nullptr);
      ASSERT_TRUE(next) << c.text;
      ASSERT_EQ(iso(next), iso(at(c.first + i * c.step))) << c.text << " #" << i;
      t = *next;
    }
  }
}

TEST(CalendarEventNext, NeverMatching) {
  for (const char* text : {"2021-02-29", "02-30", "*-04-31", "0-1", "2020-01-01"}) {
    CalendarEvent ev = event(text);
    EXPECT_EQ(iso(next_after(ev, at(kJul312020), nullptr)), "none") << text;
  }
  for (const char* text : {"2021-02-29", "02-30", "*-04-31", "0-1"}) {
    EXPECT_EQ(iso(previous_before(event(text), at(kJul312020), nullptr)), "none") << text;
  }
}

TEST(CalendarEventNext, RareDatesAreFoundFarAhead) {
  // The 29th of February falls on a Sunday every 28 years.
  EXPECT_EQ(iso(next_after(event("sun *-02-29"), at(kJul312020), nullptr)), "2032-02-29T00:00:00Z");
  EXPECT_EQ(iso(previous_before(event("sun *-02-29"), at(kJul312020), nullptr)),
            "2004-02-29T00:00:00Z");
  EXPECT_EQ(iso(next_after(event("2199-12-31 23:59:59"), at(kJul312020), nullptr)),
            "2199-12-31T23:59:59Z");
  EXPECT_EQ(iso(next_after(event("*/100-01-01"), at(kJul312020), nullptr)), "2100-01-01T00:00:00Z");
  EXPECT_EQ(iso(previous_before(event("*/100-01-01"), at(kJul312020), nullptr)),
            "2000-01-01T00:00:00Z");
}

TEST(CalendarEventNext, StrictlyAfterAndBefore) {
  CalendarEvent ev = event("daily");
  EXPECT_EQ(iso(next_after(ev, at(kDay), nullptr)), iso(at(2 * kDay)));
  EXPECT_EQ(iso(next_after(ev, at(kDay - 1), nullptr)), iso(at(kDay)));
  EXPECT_EQ(iso(previous_before(ev, at(kDay), nullptr)), iso(at(0)));
  EXPECT_EQ(iso(previous_before(ev, at(kDay + 1), nullptr)), iso(at(kDay)));
}

}  // namespace
}  // namespace pvt::schedule
