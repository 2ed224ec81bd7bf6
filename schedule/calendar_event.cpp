#include "schedule/calendar_event.h"

// Debian's libdate-tz is built against the OS tzdata; the header's default (its own tzdata
// download) has a different class layout, so it must be told even when the build system did not
// propagate date::date-tz's compile definitions.
#ifndef USE_OS_TZDB
#define USE_OS_TZDB 1
#endif
#if !USE_OS_TZDB
#error "libdate-tz is used with the OS tz database (USE_OS_TZDB=1)"
#endif
#include <date/tz.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cctype>
#include <exception>
#include <string>

namespace pvt::schedule {

namespace chr = std::chrono;

bool FieldValue::contains(std::uint32_t v) const {
  if (v < start) {
    return false;
  }
  if (step == 0) {
    return v == start;
  }
  if (end && v > *end) {
    return false;
  }
  return (v - start) % step == 0;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Parsing. The structure mirrors proxmox-time's nom combinators one to one (including where they
// backtrack), because the accepted language is defined by that code rather than by a grammar.

enum class Field { year, month, day, hour, minute, second };

const char* field_name(Field f) {
  switch (f) {
    case Field::year:
      return "year";
    case Field::month:
      return "month";
    case Field::day:
      return "day";
    case Field::hour:
      return "hour";
    case Field::minute:
      return "minute";
    case Field::second:
      return "second";
  }
  return "value";
}

struct Keyword {
  std::string_view name;
  std::uint8_t weekdays;
  std::vector<std::uint32_t> months;  // empty: any
  std::optional<std::uint32_t> day;
  std::optional<std::uint32_t> hour;
  std::optional<std::uint32_t> minute;
};

const std::array<Keyword, 10>& keywords() {
  static const std::array<Keyword, 10> k{{
      {"minutely", 0, {}, std::nullopt, std::nullopt, std::nullopt},
      {"hourly", 0, {}, std::nullopt, std::nullopt, 0},
      {"daily", 0, {}, std::nullopt, 0, 0},
      {"weekly", kMonday, {}, std::nullopt, 0, 0},
      {"monthly", 0, {}, 1, 0, 0},
      {"yearly", 0, {1}, 1, 0, 0},
      {"annually", 0, {1}, 1, 0, 0},
      {"quarterly", 0, {1, 4, 7, 10}, 1, 0, 0},
      {"semiannually", 0, {1, 7}, 1, 0, 0},
      {"semi-annually", 0, {1, 7}, 1, 0, 0},
  }};
  return k;
}

FieldValue single(std::uint32_t v) { return FieldValue{v, v, 1}; }

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<CalendarEvent> parse() {
    std::string_view in = text_;
    CalendarEvent ev;
    if (in.ends_with("UTC")) {
      ev.utc = true;
      in.remove_suffix(3);
      while (!in.empty() && in.back() == ' ') {
        in.remove_suffix(1);
      }
    }

    bool has_weekdays = false;
    bool has_date = false;
    bool has_time = false;
    if (!in.empty() && is_alpha(in.front())) {
      for (const Keyword& k : keywords()) {
        if (in == k.name) {
          return from_keyword(k, ev.utc);
        }
      }
      auto days = weekday_list(in);
      if (!days) {
        return error_or("expected a weekday", in);
      }
      ev.weekdays = *days;
      has_weekdays = true;
      skip_space(in);
    }

    if (date_spec(in, ev)) {
      has_date = true;
      skip_space(in);
    }

    if (time_spec(in, ev)) {
      has_time = true;
    } else {
      ev.hours = {single(0)};
      ev.minutes = {single(0)};
      ev.seconds = {single(0)};
    }

    if (!has_weekdays && !has_date && !has_time) {
      return error_or(in.empty() ? "expected a weekday, date or time" : "unexpected " + quote(in),
                      in);
    }
    if (!in.empty()) {
      return error_or("unexpected " + quote(in), in);
    }
    return ev;
  }

 private:
  static bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
  static bool is_digit(char c) { return c >= '0' && c <= '9'; }
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict for "\"" + std::string.
  static std::string quote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
  }
  static void skip_space(std::string_view& in) {
    while (!in.empty() && (in.front() == ' ' || in.front() == '\t')) {
      in.remove_prefix(1);
    }
  }

  static Result<CalendarEvent> from_keyword(const Keyword& k, bool utc) {
    CalendarEvent ev;
    ev.utc = utc;
    ev.weekdays = k.weekdays;
    for (std::uint32_t m : k.months) {
      ev.months.push_back(single(m));
    }
    if (k.day) {
      ev.days = {single(*k.day)};
    }
    if (k.hour) {
      ev.hours = {single(*k.hour)};
    }
    if (k.minute) {
      ev.minutes = {single(*k.minute)};
    }
    ev.seconds = {single(0)};
    return ev;
  }

  std::size_t pos(std::string_view rest) const {
    return static_cast<std::size_t>(rest.data() - text_.data());
  }

  // Alternatives are tried and abandoned all the time, so a failure only becomes the reported
  // error if no other alternative got further into the text.
  void note(std::string_view at, std::string message) {
    if (quiet_) {
      return;
    }
    std::size_t p = pos(at);
    if (!error_ || p > error_pos_) {
      error_ = std::move(message);
      error_pos_ = p;
    }
  }

  tl::unexpected<Error> error_or(std::string fallback, std::string_view at) {
    std::string reason = std::move(fallback);
    if (error_ && error_pos_ >= pos(at)) {
      reason = *error_;
    } else if (error_) {
      // An abandoned alternative explains why less of the text was understood ("24:00:00").
      reason += " (" + *error_ + ")";
    }
    return fail("invalid calendar event " + quote(text_) + ": " + reason);
  }

  std::string where(std::string_view at) const {
    return at.empty() ? std::string("at end of input") : "at " + quote(at);
  }

  // Monday = 0.
  std::optional<std::uint8_t> weekday(std::string_view& in) {
    std::size_t n = 0;
    while (n < in.size() && is_alpha(in[n])) {
      ++n;
    }
    if (n == 0) {
      note(in, "expected a weekday " + where(in));
      return std::nullopt;
    }
    std::string word(in.substr(0, n));
    std::transform(word.begin(), word.end(), word.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> names{{
        {"mon", "monday"},
        {"tue", "tuesday"},
        {"wed", "wednesday"},
        {"thu", "thursday"},
        {"fri", "friday"},
        {"sat", "saturday"},
        {"sun", "sunday"},
    }};
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (word == names[i].first || word == names[i].second) {
        in.remove_prefix(n);
        return static_cast<std::uint8_t>(i);
      }
    }
    note(in, "unknown weekday " + quote(in.substr(0, n)));
    return std::nullopt;
  }

  std::optional<std::uint8_t> weekday_range(std::string_view& in) {
    auto first = weekday(in);
    if (!first) {
      return std::nullopt;
    }
    if (in.starts_with("..")) {
      std::string_view rest = in.substr(2);
      if (auto last = weekday(rest)) {
        in = rest;
        unsigned bits = 0;
        // "fri..mon" wraps around the week end, as in proxmox-time.
        for (unsigned d = *first;; d = (d + 1) % 7) {
          bits |= 1U << d;
          if (d == *last) {
            break;
          }
        }
        return static_cast<std::uint8_t>(bits);
      }
    }
    return static_cast<std::uint8_t>(1U << *first);
  }

  std::optional<std::uint8_t> weekday_list(std::string_view& in) {
    auto bits = weekday_range(in);
    if (!bits) {
      return std::nullopt;
    }
    while (in.starts_with(',')) {
      std::string_view rest = in.substr(1);
      auto more = weekday_range(rest);
      if (!more) {
        break;
      }
      *bits |= *more;
      in = rest;
    }
    return bits;
  }

  std::optional<std::uint32_t> number(std::string_view& in, std::uint32_t limit, Field f) {
    std::size_t n = 0;
    while (n < in.size() && is_digit(in[n])) {
      ++n;
    }
    if (n == 0) {
      note(in, "expected a number " + where(in));
      return std::nullopt;
    }
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n && v < limit; ++i) {
      v = v * 10 + static_cast<std::uint64_t>(in[i] - '0');
    }
    if (v >= limit) {
      note(in, std::string(field_name(f)) + " " + std::string(in.substr(0, n)) +
                   " is out of range (at most " + std::to_string(limit - 1) + ")");
      return std::nullopt;
    }
    in.remove_prefix(n);
    return static_cast<std::uint32_t>(v);
  }

  std::optional<FieldValue> component(std::string_view& in, std::uint32_t limit, Field f) {
    std::string_view rest = in;
    auto value = number(rest, limit, f);
    if (!value) {
      return std::nullopt;
    }
    FieldValue out{*value, *value, 1};
    bool ranged = false;
    if (rest.starts_with("..")) {
      std::string_view after = rest.substr(2);
      if (auto end = number(after, limit, f)) {
        if (*value > *end) {
          note(in, std::string(field_name(f)) + " range " + std::to_string(*value) + ".." +
                       std::to_string(*end) + " starts after it ends");
          return std::nullopt;
        }
        out.end = *end;
        ranged = true;
        rest = after;
      }
    }
    if (rest.starts_with('/')) {
      std::string_view after = rest.substr(1);
      auto step = number(after, limit, f);
      if (!step) {
        return std::nullopt;
      }
      out.step = *step;
      if (!ranged) {
        out.end.reset();
      }
      rest = after;
    }
    in = rest;
    return out;
  }

  // Returns the list; an empty list means "*".
  std::optional<std::vector<FieldValue>> component_list(std::string_view& in, std::uint32_t first,
                                                        std::uint32_t limit, Field f) {
    if (in.starts_with('*')) {
      std::string_view rest = in.substr(1);
      if (rest.starts_with('/')) {
        std::string_view after = rest.substr(1);
        auto step = number(after, limit, f);
        if (!step) {
          return std::nullopt;
        }
        if (*step > 0) {
          in = after;
          return std::vector<FieldValue>{FieldValue{first, std::nullopt, *step}};
        }
      }
      in = rest;
      return std::vector<FieldValue>{};
    }
    std::string_view rest = in;
    auto value = component(rest, limit, f);
    if (!value) {
      return std::nullopt;
    }
    std::vector<FieldValue> out{*value};
    while (rest.starts_with(',')) {
      std::string_view after = rest.substr(1);
      auto more = component(after, limit, f);
      if (!more) {
        break;
      }
      out.push_back(*more);
      rest = after;
    }
    in = rest;
    return out;
  }

  // Whether the current space-separated word contains c: an alternative that needs c cannot
  // succeed otherwise, and its errors would only hide the relevant one ("99" is a bad minute, not
  // a bad hour).
  static bool word_has(std::string_view in, char c) {
    std::string_view word = in.substr(0, in.find_first_of(" \t"));
    return word.find(c) != std::string_view::npos;
  }

  static bool starts_field(std::string_view in) {
    return !in.empty() && (is_digit(in.front()) || in.front() == '*');
  }

  bool date_spec(std::string_view& in, CalendarEvent& ev) {
    if (!starts_field(in)) {
      return false;
    }
    bool saved = quiet_;
    quiet_ = saved || !word_has(in, '-');
    bool ok = year_month_day(in, ev) || month_day(in, ev);
    quiet_ = saved;
    return ok;
  }

  bool year_month_day(std::string_view& in, CalendarEvent& ev) {
    std::string_view rest = in;
    // 2200 is systemd's upper limit, kept by proxmox-time.
    auto years = component_list(rest, 0, 2200, Field::year);
    if (!years || !rest.starts_with('-')) {
      return false;
    }
    rest.remove_prefix(1);
    if (!month_day(rest, ev)) {
      return false;
    }
    ev.years = std::move(*years);
    in = rest;
    return true;
  }

  bool month_day(std::string_view& in, CalendarEvent& ev) {
    std::string_view rest = in;
    auto months = component_list(rest, 1, 13, Field::month);
    if (!months || !rest.starts_with('-')) {
      return false;
    }
    rest.remove_prefix(1);
    auto days = component_list(rest, 1, 32, Field::day);
    if (!days) {
      return false;
    }
    ev.months = std::move(*months);
    ev.days = std::move(*days);
    in = rest;
    return true;
  }

  bool time_spec(std::string_view& in, CalendarEvent& ev) {
    if (!starts_field(in)) {
      return false;
    }
    std::string_view rest = in;
    std::vector<FieldValue> hours;
    {
      bool saved = quiet_;
      quiet_ = saved || !word_has(in, ':');
      std::string_view attempt = rest;
      auto h = component_list(attempt, 0, 24, Field::hour);
      quiet_ = saved;
      if (h && attempt.starts_with(':')) {
        hours = std::move(*h);
        rest = attempt.substr(1);
      }
    }
    auto minutes = component_list(rest, 0, 60, Field::minute);
    if (!minutes) {
      return false;
    }
    std::vector<FieldValue> seconds{single(0)};
    if (rest.starts_with(':')) {
      std::string_view attempt = rest.substr(1);
      if (auto s = component_list(attempt, 0, 60, Field::second)) {
        seconds = std::move(*s);
        rest = attempt;
      }
    }
    ev.hours = std::move(hours);
    ev.minutes = std::move(*minutes);
    ev.seconds = std::move(seconds);
    in = rest;
    return true;
  }

  std::string_view text_;
  std::optional<std::string> error_;
  std::size_t error_pos_ = 0;
  bool quiet_ = false;
};

// ---------------------------------------------------------------------------------------------
// Evaluation on a linear count of local (wall-clock) seconds since 1970-01-01T00:00, so that
// "advance to the next hour" is plain arithmetic and day/month/year carries come for free.

constexpr std::int64_t kDay = 86400;
constexpr int kMaxYear = 2200;
constexpr int kHorizonYears = 401;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

std::int64_t day_start(int y, unsigned m, unsigned d) {
  // m may be 13: January of the next year.
  const chr::year_month ym = chr::year{y} / chr::month{1} + chr::months{static_cast<int>(m) - 1};
  return (chr::sys_days{ym / chr::day{1}}.time_since_epoch().count() + d - 1) * kDay;
}

unsigned last_day(int y, unsigned m) {
  return static_cast<unsigned>(
      chr::year_month_day_last{chr::year{y} / chr::month{m} / chr::last}.day());
}

// The event's fields as bit sets; an empty list means every value.
class Matcher {
 public:
  explicit Matcher(const CalendarEvent& ev) : weekdays_(ev.weekdays == 0 ? 0x7f : ev.weekdays) {
    any_year_ = ev.years.empty();
    fill(years_, ev.years);
    fill(months_, ev.months);
    fill(days_, ev.days);
    fill(hours_, ev.hours);
    fill(minutes_, ev.minutes);
    fill(seconds_, ev.seconds);
  }

  // The first matching local time >= l, or nullopt if none within the horizon.
  std::optional<std::int64_t> next(std::int64_t l) const {
    const int horizon = year_of(l) + kHorizonYears;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      const std::int64_t day = floor_div(l, kDay);
      const int tod = static_cast<int>(l - day * kDay);
      const chr::year_month_day ymd{chr::sys_days{chr::days{day}}};
      const int y = static_cast<int>(ymd.year());
      const auto m = static_cast<unsigned>(ymd.month());
      const auto d = static_cast<unsigned>(ymd.day());
      if (y > horizon) {
        return std::nullopt;
      }
      if (!year_ok(y)) {
        int ny = std::max(y + 1, 0);
        while (ny < kMaxYear && !years_[static_cast<std::size_t>(ny)]) {
          ++ny;
        }
        if (ny >= kMaxYear) {
          return std::nullopt;
        }
        l = day_start(ny, 1, 1);
        continue;
      }
      if (!months_[m]) {
        unsigned nm = m + 1;
        while (nm <= 12 && !months_[nm]) {
          ++nm;
        }
        l = nm <= 12 ? day_start(y, nm, 1) : day_start(y + 1, 1, 1);
        continue;
      }
      if (!days_[d]) {
        unsigned nd = d + 1;
        const unsigned last = last_day(y, m);
        while (nd <= last && !days_[nd]) {
          ++nd;
        }
        l = nd <= last ? day_start(y, m, nd) : day_start(y, m + 1, 1);
        continue;
      }
      if (!weekday_ok(day)) {
        l = (day + 1) * kDay;
        continue;
      }
      const int hh = tod / 3600;
      const int mm = tod / 60 % 60;
      const int ss = tod % 60;
      if (!hours_[static_cast<std::size_t>(hh)]) {
        auto nh = next_bit(hours_, hh + 1);
        l = day * kDay + (nh ? *nh * 3600 : kDay);
        continue;
      }
      if (!minutes_[static_cast<std::size_t>(mm)]) {
        auto nmin = next_bit(minutes_, mm + 1);
        l = day * kDay + hh * 3600 + (nmin ? *nmin * 60 : 3600);
        continue;
      }
      if (!seconds_[static_cast<std::size_t>(ss)]) {
        auto ns = next_bit(seconds_, ss + 1);
        l = day * kDay + hh * 3600 + mm * 60 + (ns ? *ns : 60);
        continue;
      }
      return l;
    }
    return std::nullopt;
  }

  // The last matching local time <= l, or nullopt if none within the horizon.
  std::optional<std::int64_t> previous(std::int64_t l) const {
    const int horizon = year_of(l) - kHorizonYears;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      const std::int64_t day = floor_div(l, kDay);
      const int tod = static_cast<int>(l - day * kDay);
      const chr::year_month_day ymd{chr::sys_days{chr::days{day}}};
      const int y = static_cast<int>(ymd.year());
      const auto m = static_cast<unsigned>(ymd.month());
      const auto d = static_cast<unsigned>(ymd.day());
      if (y < horizon || y < 0) {
        return std::nullopt;
      }
      if (!year_ok(y)) {
        int py = std::min(y, kMaxYear) - 1;
        while (py >= 0 && !years_[static_cast<std::size_t>(py)]) {
          --py;
        }
        if (py < 0) {
          return std::nullopt;
        }
        l = day_start(py + 1, 1, 1) - 1;
        continue;
      }
      if (!months_[m]) {
        unsigned pm = m - 1;
        while (pm >= 1 && !months_[pm]) {
          --pm;
        }
        l = pm >= 1 ? day_start(y, pm + 1, 1) - 1 : day_start(y, 1, 1) - 1;
        continue;
      }
      if (!days_[d]) {
        unsigned pd = d - 1;
        while (pd >= 1 && !days_[pd]) {
          --pd;
        }
        l = pd >= 1 ? day_start(y, m, pd) + kDay - 1 : day_start(y, m, 1) - 1;
        continue;
      }
      if (!weekday_ok(day)) {
        l = day * kDay - 1;
        continue;
      }
      const int hh = tod / 3600;
      const int mm = tod / 60 % 60;
      const int ss = tod % 60;
      if (!hours_[static_cast<std::size_t>(hh)]) {
        auto ph = previous_bit(hours_, hh - 1);
        l = day * kDay + (ph ? *ph * 3600 + 3599 : -1);
        continue;
      }
      if (!minutes_[static_cast<std::size_t>(mm)]) {
        auto pmin = previous_bit(minutes_, mm - 1);
        l = day * kDay + hh * 3600 + (pmin ? *pmin * 60 + 59 : -1);
        continue;
      }
      if (!seconds_[static_cast<std::size_t>(ss)]) {
        auto ps = previous_bit(seconds_, ss - 1);
        l = day * kDay + hh * 3600 + mm * 60 + (ps ? *ps : -1);
        continue;
      }
      return l;
    }
    return std::nullopt;
  }

  bool date_matches(std::int64_t day) const {
    const chr::year_month_day ymd{chr::sys_days{chr::days{day}}};
    return year_ok(static_cast<int>(ymd.year())) && months_[static_cast<unsigned>(ymd.month())] &&
           days_[static_cast<unsigned>(ymd.day())] && weekday_ok(day);
  }

  // Matching times of day in seconds, ascending.
  std::vector<std::int32_t> times_of_day() const {
    std::vector<std::int32_t> out;
    for (int h = 0; h < 24; ++h) {
      for (int m = 0; m < 60 && hours_[static_cast<std::size_t>(h)]; ++m) {
        for (int s = 0; s < 60 && minutes_[static_cast<std::size_t>(m)]; ++s) {
          if (seconds_[static_cast<std::size_t>(s)]) {
            out.push_back(h * 3600 + m * 60 + s);
          }
        }
      }
    }
    return out;
  }

 private:
  template <std::size_t N>
  static void fill(std::bitset<N>& bits, const std::vector<FieldValue>& values) {
    if (values.empty()) {
      bits.set();
      return;
    }
    constexpr auto kLast = static_cast<std::uint32_t>(N - 1);
    for (const FieldValue& fv : values) {
      if (fv.start > kLast) {
        continue;
      }
      if (fv.step == 0) {
        bits[fv.start] = true;
        continue;
      }
      const std::uint32_t last = std::min(fv.end.value_or(kLast), kLast);
      for (std::uint32_t v = fv.start; v <= last; v += fv.step) {
        bits[v] = true;
      }
    }
  }

  template <std::size_t N>
  static std::optional<int> next_bit(const std::bitset<N>& bits, int from) {
    for (int i = from; i < static_cast<int>(N); ++i) {
      if (bits[static_cast<std::size_t>(i)]) {
        return i;
      }
    }
    return std::nullopt;
  }

  template <std::size_t N>
  static std::optional<int> previous_bit(const std::bitset<N>& bits, int from) {
    for (int i = from; i >= 0; --i) {
      if (bits[static_cast<std::size_t>(i)]) {
        return i;
      }
    }
    return std::nullopt;
  }

  static int year_of(std::int64_t l) {
    const chr::year_month_day ymd{chr::sys_days{chr::days{floor_div(l, kDay)}}};
    return static_cast<int>(ymd.year());
  }

  bool year_ok(int y) const {
    return any_year_ || (y >= 0 && y < kMaxYear && years_[static_cast<std::size_t>(y)]);
  }

  bool weekday_ok(std::int64_t day) const {
    const unsigned iso = chr::weekday{chr::sys_days{chr::days{day}}}.iso_encoding();
    return (weekdays_ & (1U << (iso - 1))) != 0;
  }

  bool any_year_ = true;
  std::bitset<kMaxYear> years_;
  std::bitset<13> months_;
  std::bitset<32> days_;
  std::uint8_t weekdays_;
  std::bitset<24> hours_;
  std::bitset<60> minutes_;
  std::bitset<60> seconds_;
};

bool in_utc(const CalendarEvent& ev, const date::time_zone* tz) { return ev.utc || tz == nullptr; }

std::int64_t secs(chr::sys_seconds t) { return t.time_since_epoch().count(); }
std::int64_t secs(chr::seconds d) { return d.count(); }
chr::sys_seconds at(std::int64_t s) { return chr::sys_seconds{chr::seconds{s}}; }

date::local_info local_info(const date::time_zone* tz, std::int64_t l) {
  return tz->get_info(date::local_seconds{chr::seconds{l}});
}

std::int64_t to_local(const date::time_zone* tz, std::int64_t t) {
  return t + secs(tz->get_info(at(t)).offset);
}

// The first local time after a fall-back's repeated hour, if t lies in that hour's second pass:
// those wall-clock times already fired during the first pass.
std::optional<std::int64_t> end_of_repeat(const date::time_zone* tz, std::int64_t t) {
  const date::local_info li = local_info(tz, to_local(tz, t));
  if (li.result == date::local_info::ambiguous && t >= secs(li.second.begin)) {
    return secs(li.second.begin) + secs(li.first.offset);
  }
  return std::nullopt;
}

std::optional<std::int64_t> next_instant(const Matcher& m, std::int64_t t,
                                         const date::time_zone* tz) {
  std::int64_t start = to_local(tz, t) + 1;
  if (auto end = end_of_repeat(tz, t)) {
    start = std::max(start, *end);
  }
  for (int guard = 0; guard < 64; ++guard) {
    auto l = m.next(start);
    if (!l) {
      return std::nullopt;
    }
    const date::local_info li = local_info(tz, *l);
    if (li.result == date::local_info::nonexistent) {
      start = secs(li.second.begin) + secs(li.second.offset);
      continue;
    }
    // Ambiguous local times fire at the first of their two instants.
    const std::int64_t instant = *l - secs(li.first.offset);
    if (instant > t) {
      return instant;
    }
    start = *l + 1;
  }
  return std::nullopt;
}

std::optional<std::int64_t> previous_instant(const Matcher& m, std::int64_t t,
                                             const date::time_zone* tz) {
  std::int64_t start = to_local(tz, t) - 1;
  if (auto end = end_of_repeat(tz, t)) {
    start = *end - 1;
  }
  for (int guard = 0; guard < 64; ++guard) {
    auto l = m.previous(start);
    if (!l) {
      return std::nullopt;
    }
    const date::local_info li = local_info(tz, *l);
    if (li.result == date::local_info::nonexistent) {
      start = secs(li.second.begin) + secs(li.first.offset) - 1;
      continue;
    }
    const std::int64_t instant = *l - secs(li.first.offset);
    if (instant < t) {
      return instant;
    }
    start = *l - 1;
  }
  return std::nullopt;
}

std::optional<std::int64_t> next_any(const Matcher& m, std::int64_t t, const CalendarEvent& ev,
                                     const date::time_zone* tz) {
  if (in_utc(ev, tz)) {
    return m.next(t + 1);
  }
  return next_instant(m, t, tz);
}

std::optional<std::int64_t> previous_any(const Matcher& m, std::int64_t t, const CalendarEvent& ev,
                                         const date::time_zone* tz) {
  if (in_utc(ev, tz)) {
    return m.previous(t - 1);
  }
  return previous_instant(m, t, tz);
}

// Occurrences within a local-time interval [lo, hi) during which the UTC offset is constant, so
// real-time gaps equal wall-clock gaps.
struct SegmentStats {
  std::int64_t first = 0;
  std::int64_t last = 0;
  std::int64_t longest = 0;
};

std::optional<SegmentStats> scan_segment(const Matcher& m, const std::vector<std::int32_t>& tods,
                                         std::int32_t full_day_gap, std::int64_t lo,
                                         std::int64_t hi) {
  if (lo >= hi || tods.empty()) {
    return std::nullopt;
  }
  std::optional<SegmentStats> out;
  const std::int64_t first_day = floor_div(lo, kDay);
  const std::int64_t last_day_ = floor_div(hi - 1, kDay);
  for (std::int64_t day = first_day; day <= last_day_; ++day) {
    if (!m.date_matches(day)) {
      continue;
    }
    const std::int64_t base = day * kDay;
    const auto lo_tod = static_cast<std::int32_t>(day == first_day ? lo - base : 0);
    const auto hi_tod = static_cast<std::int32_t>(day == last_day_ ? hi - base : kDay);
    const auto b = std::lower_bound(tods.begin(), tods.end(), lo_tod);
    const auto e = std::lower_bound(tods.begin(), tods.end(), hi_tod);
    if (b == e) {
      continue;
    }
    std::int64_t longest = 0;
    if (b == tods.begin() && e == tods.end()) {
      longest = full_day_gap;
    } else {
      for (auto it = b + 1; it < e; ++it) {
        longest = std::max<std::int64_t>(longest, *it - *(it - 1));
      }
    }
    const std::int64_t f = base + *b;
    const std::int64_t l = base + *(e - 1);
    if (!out) {
      out = SegmentStats{f, l, longest};
    } else {
      out->longest = std::max({out->longest, longest, f - out->last});
      out->last = l;
    }
  }
  return out;
}

}  // namespace

Result<CalendarEvent> parse_calendar_event(std::string_view text) { return Parser(text).parse(); }

Result<const date::time_zone*> find_time_zone(std::string_view name) {
  if (name.empty()) {
    return fail("empty time zone name");
  }
  try {
    return date::locate_zone(name);
  } catch (const std::exception& e) {
    return fail("unknown time zone \"" + std::string(name) +
                "\" (not in the system tzdata: " + e.what() + ")");
  }
}

std::optional<chr::sys_seconds> next_after(const CalendarEvent& event, chr::sys_seconds t,
                                           const date::time_zone* tz) {
  const Matcher m(event);
  auto r = next_any(m, secs(t), event, tz);
  return r ? std::optional(at(*r)) : std::nullopt;
}

std::optional<chr::sys_seconds> previous_before(const CalendarEvent& event, chr::sys_seconds t,
                                                const date::time_zone* tz) {
  const Matcher m(event);
  auto r = previous_any(m, secs(t), event, tz);
  return r ? std::optional(at(*r)) : std::nullopt;
}

std::optional<chr::seconds> longest_gap(const CalendarEvent& event, chr::sys_seconds around,
                                        const date::time_zone* tz) {
  const Matcher m(event);
  const std::int64_t year = 366 * kDay;
  const std::int64_t w0 = secs(around) - year;
  const std::int64_t w1 = secs(around) + year;
  auto first = previous_any(m, w0, event, tz);
  if (!first) {
    first = next_any(m, w0 - 1, event, tz);
  }
  auto last = next_any(m, w1, event, tz);
  if (!last) {
    last = previous_any(m, w1 + 1, event, tz);
  }
  if (!first || !last || *first >= *last) {
    return std::nullopt;
  }

  struct Segment {
    std::int64_t lo;  // local, inclusive
    std::int64_t hi;  // local, exclusive
    std::int64_t offset;
  };
  std::vector<Segment> segments;
  if (in_utc(event, tz)) {
    segments.push_back({*first, *last + 1, 0});
  } else {
    date::sys_info info = tz->get_info(at(*first));
    std::int64_t offset = secs(info.offset);
    std::int64_t lo = *first + offset;
    while (secs(info.end) <= *last) {
      const std::int64_t transition = secs(info.end);
      const date::sys_info after = tz->get_info(info.end);
      segments.push_back({lo, transition + offset, offset});
      // After a fall-back the repeated wall-clock hour belongs to the previous segment; after a
      // spring-forward the skipped hour belongs to none.
      lo = transition + std::max(offset, secs(after.offset));
      offset = secs(after.offset);
      info = after;
    }
    segments.push_back({lo, *last + offset + 1, offset});
  }

  const std::vector<std::int32_t> tods = m.times_of_day();
  std::int32_t full_day_gap = 0;
  for (std::size_t i = 1; i < tods.size(); ++i) {
    full_day_gap = std::max(full_day_gap, tods[i] - tods[i - 1]);
  }

  std::int64_t longest = 0;
  std::optional<std::int64_t> previous_last;
  for (const Segment& s : segments) {
    auto stats = scan_segment(m, tods, full_day_gap, s.lo, s.hi);
    if (!stats) {
      continue;
    }
    longest = std::max(longest, stats->longest);
    if (previous_last) {
      longest = std::max(longest, stats->first - s.offset - *previous_last);
    }
    previous_last = stats->last - s.offset;
  }
  return chr::seconds{longest};
}

}  // namespace pvt::schedule
