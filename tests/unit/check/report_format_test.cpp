// The report's renderers as the programs that read them see them: the status line and its
// perfdata through re-implementations of Icinga 2's and Monitoring::Plugin's parsers, the
// Prometheus text format through a parser of the exposition format, JSON through nlohmann's
// serialiser, the table at every terminal width.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/text.h"
#include "controller/report.h"
#include "tests/support/lines.h"
#include "tests/support/prometheus_text.h"

namespace pvt::report {
namespace {

using testing::lines_of;

using std::chrono::seconds;
using std::chrono::system_clock;

constexpr int64_t kNow = 1795000000;

RuleResult result(std::string rule, std::string target, Status status, std::string message,
                  std::string headline = "", std::optional<std::string> observed = std::nullopt,
                  std::optional<std::string> expected = std::nullopt) {
  RuleResult r;
  r.rule = std::move(rule);
  r.target = std::move(target);
  r.status = status;
  r.message = std::move(message);
  r.headline = std::move(headline);
  r.observed = std::move(observed);
  r.expected = std::move(expected);
  if (status != Status::ok) r.remediation = "fix " + r.rule + " on " + r.target;
  return r;
}

Measurement measurement(std::string target, std::string name, double value, Unit unit) {
  Measurement m;
  m.target = std::move(target);
  m.name = std::move(name);
  m.value = value;
  m.unit = unit;
  m.min = 0;
  return m;
}

// One result of each status and the measurements check makes: backup age with the allowed age
// as crit, backup size, probe latency, nodes online out of the cluster's nodes.
Report sample() {
  Report r;
  r.checked_at = system_clock::time_point(seconds(kNow));
  r.results = {
      result("guest.onboot", "tunnel1", Status::ok, "started at boot", "", "1", "1"),
      result("backup.verification", "tunnel1", Status::warning,
             "pbs1:backup/vm/110/2026-11-22T01:00:00Z is 3d old and has never been verified",
             "newest backup never verified", "never verified", "ok"),
      result("guest.running", "tunnel2", Status::unknown,
             "node pve2 cannot be reached: the guest's state is unknown", "pve2 offline"),
      result("guest.onboot", "tunnel2", Status::critical,
             "not started at boot: after a power loss this tunnel stays down",
             "not set to start at boot", "0", "1"),
      result("cluster.quorum", "cluster", Status::ok, "quorate", "", "quorate", "quorate"),
  };
  Measurement age = measurement("tunnel1", "backup_age", 3600, Unit::seconds);
  age.crit = 90000;
  r.measurements.push_back(age);
  r.measurements.push_back(measurement("tunnel1", "backup_size", 1610612736, Unit::bytes));
  r.measurements.push_back(measurement("tunnel-a", "probe_latency", 0.012, Unit::seconds));
  Measurement nodes = measurement("cluster", "nodes_online", 2, Unit::none);
  nodes.max = 3;
  r.measurements.push_back(nodes);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Perfdata parsers

struct Perf {
  std::string label;
  double value = 0;
  std::string unit;
  std::optional<double> warn, crit, min, max;
};

std::ostream& operator<<(std::ostream& os, const Perf& p) {
  auto opt = [](const std::optional<double>& v) { return v ? std::to_string(*v) : "-"; };
  return os << "{'" << p.label << "' " << p.value << " [" << p.unit << "] w=" << opt(p.warn)
            << " c=" << opt(p.crit) << " min=" << opt(p.min) << " max=" << opt(p.max) << "}";
}

bool operator==(const Perf& a, const Perf& b) {
  return a.label == b.label && a.value == b.value && a.unit == b.unit && a.warn == b.warn &&
         a.crit == b.crit && a.min == b.min && a.max == b.max;
}

// The whole text is a number (strtod), or nothing.
std::optional<double> number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

// Icinga 2 (PluginUtility::SplitPerfdata + PerfdataValue::Parse): items are separated by
// spaces outside single quotes; the label is everything before the last '=', without its quotes
// ('' inside them is one quote); value;warn;crit;min;max split on ';'; the value is a number
// followed by a unit that must be one Icinga knows. Returns nullopt where Icinga rejects the
// perfdata.
std::optional<std::vector<Perf>> parse_icinga(const std::string& perfdata) {
  std::vector<std::string> items;
  std::string current;
  bool quoted = false;
  for (char c : perfdata) {
    if (c == '\'') quoted = !quoted;
    if (c == ' ' && !quoted) {
      if (!current.empty()) items.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (!current.empty()) items.push_back(current);

  std::vector<Perf> out;
  for (const auto& item : items) {
    const auto eq = item.rfind('=');
    if (eq == std::string::npos) return std::nullopt;
    Perf p;
    std::string label = item.substr(0, eq);
    if (label.size() >= 2 && label.front() == '\'' && label.back() == '\'') {
      label = label.substr(1, label.size() - 2);
      for (size_t at = label.find("''"); at != std::string::npos; at = label.find("''", at + 1)) {
        label.erase(at, 1);
      }
    }
    p.label = label;
    std::vector<std::string> fields;
    std::string rest = item.substr(eq + 1);
    for (size_t start = 0;;) {
      const auto semi = rest.find(';', start);
      fields.push_back(rest.substr(start, semi == std::string::npos ? semi : semi - start));
      if (semi == std::string::npos) break;
      start = semi + 1;
    }
    const auto unit_at = fields[0].find_first_not_of("+-0123456789.eE");
    auto value = number(fields[0].substr(0, unit_at));
    if (!value) return std::nullopt;
    p.value = *value;
    p.unit = unit_at == std::string::npos ? "" : fields[0].substr(unit_at);
    static const std::set<std::string> kUnits = {"",   "s",  "ms", "us", "%", "B",
                                                 "KB", "MB", "GB", "TB", "c"};
    if (kUnits.count(p.unit) == 0) return std::nullopt;
    std::optional<double>* slots[] = {&p.warn, &p.crit, &p.min, &p.max};
    for (size_t i = 1; i < fields.size() && i <= 4; ++i) {
      if (fields[i].empty()) continue;
      *slots[i - 1] = number(fields[i]);
      if (!*slots[i - 1]) return std::nullopt;
    }
    out.push_back(p);
  }
  return out;
}

// Fills a Perf from the seven groups label, value, unit, warn, crit, min, max.
std::optional<Perf> perf_of(const std::smatch& m) {
  Perf p;
  p.label = m[1].str();
  if (p.label.size() >= 2 && p.label.front() == '\'' && p.label.back() == '\'') {
    p.label = p.label.substr(1, p.label.size() - 2);
  }
  auto value = number(m[2].str());
  if (!value) return std::nullopt;
  p.value = *value;
  p.unit = m[3].str();
  std::optional<double>* slots[] = {&p.warn, &p.crit, &p.min, &p.max};
  for (size_t i = 0; i < 4; ++i) {
    if (m[4 + i].matched) *slots[i] = number(m[4 + i].str());
  }
  return p;
}

// Monitoring::Plugin::Performance's regex, applied from the start of what is left until it no
// longer matches. Returns the items and what was left unparsed.
std::pair<std::vector<Perf>, std::string> parse_mp_regex(const std::string& perfdata) {
  static const std::regex re(
      R"(^\s*('[^']+'|[^=\s]+)=([\d\.\-\+eE]+|U)(\w*);?([\d\.\-\+eE:~@]+)?;?([\d\.\-\+eE:~@]+)?(?:;([\d\.\-\+eE]+)?;?([\d\.\-\+eE]+)?)?)");
  std::vector<Perf> out;
  std::string rest = perfdata;
  std::smatch m;
  while (!rest.empty() && std::regex_search(rest, m, re, std::regex_constants::match_continuous)) {
    if (auto p = perf_of(m)) out.push_back(*p);
    rest = m.suffix().str();
  }
  while (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
  return {out, rest};
}

// Monitoring::Plugin::Performance->parse_perfstring as the module has it: while more than one
// '=' is left, the next item ends at the first whitespace after the first '='; each item goes
// through _parse's regex (label in optional quotes without ' or '=').
std::vector<Perf> parse_mp_perfstring(std::string perfstring) {
  const std::string v = R"([-+]?[\d\.,]+)";
  const std::string value = v + "(?:e" + v + ")?";
  const std::string range = "(?:" + value + "|~):?(?:" + value + ")?";
  static const std::regex re("^'?([^'=]+)'?=(" + value + ")([\\w%]*);?(" + range + ")?;?(" + range +
                             ")?;?(" + value + ")?;?(" + value + ")?");
  std::vector<Perf> out;
  auto parse = [&](const std::string& item) {
    std::smatch m;
    if (!std::regex_search(item, m, re) || m[1].str().empty() || m[2].str().empty()) return;
    if (auto p = perf_of(m)) out.push_back(*p);
  };
  while (!perfstring.empty()) {
    perfstring.erase(0, perfstring.find_first_not_of(" \t"));
    if (std::count(perfstring.begin(), perfstring.end(), '=') > 1) {
      const auto eq = perfstring.find('=');
      const auto space = perfstring.find_first_of(" \t", eq);
      if (space == std::string::npos) {
        // "something=value=": the module gives up on the rest.
        perfstring.clear();
        continue;
      }
      parse(perfstring.substr(0, space));
      perfstring.erase(0, space + 1);
    } else {
      parse(perfstring);
      perfstring.clear();
    }
  }
  return out;
}

std::string perfdata_of(const std::string& status_line) {
  const auto bar = status_line.find(" | ");
  return bar == std::string::npos ? "" : status_line.substr(bar + 3);
}

Perf perf(std::string label, double value, std::string unit = "",
          std::optional<double> warn = std::nullopt, std::optional<double> crit = std::nullopt,
          std::optional<double> min = std::nullopt, std::optional<double> max = std::nullopt) {
  return Perf{std::move(label), value, std::move(unit), warn, crit, min, max};
}

std::vector<Perf> expected_sample_perfdata() {
  return {perf("critical", 1),
          perf("warning", 1),
          perf("unknown", 1),
          perf("ok", 2),
          perf("tunnel1 backup_age", 3600, "s", std::nullopt, 90000, 0),
          perf("tunnel1 backup_size", 1610612736, "B", std::nullopt, std::nullopt, 0),
          perf("tunnel-a probe_latency", 0.012, "s", std::nullopt, std::nullopt, 0),
          perf("cluster nodes_online", 2, "", std::nullopt, std::nullopt, 0, 3)};
}

TEST(Perfdata, IcingaReadsTheCountsAndEveryMeasurement) {
  const std::string line = status_line(sample());
  auto parsed = parse_icinga(perfdata_of(line));
  ASSERT_TRUE(parsed) << "Icinga rejects: " << line;
  EXPECT_EQ(*parsed, expected_sample_perfdata()) << line;
  EXPECT_EQ(perfdata(sample()), perfdata_of(line));
}

TEST(Perfdata, MonitoringPluginReadsTheCountsAndEveryMeasurement) {
  const std::string line = status_line(sample());
  auto [items, rest] = parse_mp_regex(perfdata_of(line));
  EXPECT_EQ(items, expected_sample_perfdata()) << line;
  EXPECT_EQ(rest, "") << "left unparsed";
  EXPECT_EQ(parse_mp_perfstring(perfdata_of(line)), expected_sample_perfdata()) << line;
}

// The format before 542c16a, "critical=1;warning=0;unknown=0;ok=26", was one item with three
// thresholds, not four counts. Kept as proof that the parsers above can tell.
TEST(Perfdata, TheOldFormatIsNotFourCounts) {
  const std::string old = "critical=1;warning=0;unknown=0;ok=26";
  auto icinga = parse_icinga(old);
  ASSERT_TRUE(icinga);
  ASSERT_EQ(icinga->size(), 1u);
  EXPECT_EQ((*icinga)[0].label, "critical=1;warning=0;unknown=0;ok");
  EXPECT_EQ((*icinga)[0].value, 26);
  // The module's parse_perfstring finds more than one '=' and no space to split at: nothing.
  EXPECT_TRUE(parse_mp_perfstring(old).empty());
  // (The module's regex applied on its own happens to stop at ";w" and so reads the four counts:
  // only the real parse_perfstring above tells the old format apart.)
  const std::vector<Perf> counts = {perf("critical", 1), perf("warning", 0), perf("unknown", 0),
                                    perf("ok", 26)};
  EXPECT_NE(*icinga, counts);
  EXPECT_NE(parse_mp_perfstring(old), counts);
}

TEST(Perfdata, LabelsStayOneItemWhateverTheTargetHolds) {
  Report r;
  r.checked_at = system_clock::time_point(seconds(kNow));
  r.results = {result("backup.age", "x", Status::ok, "fresh")};
  for (const std::string target : {"it's", "a=b", "two words", "''", "x\ny", "bad\xFF"}) {
    r.measurements.push_back(measurement(target, "backup_age", 7, Unit::seconds));
  }
  const std::string line = status_line(r);
  const std::vector<std::string> labels = {"it_s backup_age",      "a_b backup_age",
                                           "two words backup_age", "__ backup_age",
                                           "x\\x0ay backup_age",   "bad\xEF\xBF\xBD backup_age"};
  auto icinga = parse_icinga(perfdata_of(line));
  ASSERT_TRUE(icinga) << line;
  auto [mp, rest] = parse_mp_regex(perfdata_of(line));
  auto mp_real = parse_mp_perfstring(perfdata_of(line));
  for (const auto* parsed : {&*icinga, &mp, &mp_real}) {
    ASSERT_EQ(parsed->size(), 4 + labels.size()) << line;
    for (size_t i = 0; i < labels.size(); ++i) {
      EXPECT_EQ((*parsed)[4 + i].label, labels[i]) << line;
      EXPECT_EQ((*parsed)[4 + i].value, 7);
      EXPECT_EQ((*parsed)[4 + i].unit, "s");
    }
  }
  EXPECT_EQ(rest, "");
}

// ---------------------------------------------------------------------------------------------
// The status line

std::string before_perfdata(const std::string& line) { return line.substr(0, line.find(" | ")); }

TEST(StatusLine, MostSevereFirstInReportOrderWithinASeverity) {
  Report r;
  r.results = {
      result("backup.verification", "tunnel1", Status::warning, "w1", "first warning"),
      result("guest.running", "tunnel2", Status::unknown, "u1", "first unknown"),
      result("guest.onboot", "tunnel2", Status::critical, "c1", "first critical"),
      result("guest.lock", "tunnel3", Status::warning, "w2", "second warning"),
      result("guest.exists", "tunnel3", Status::critical, "c2", "second critical"),
      result("guest.node", "tunnel1", Status::ok, "fine", "never shown"),
      result("backup.task", "tunnel1", Status::unknown, "u2", "second unknown"),
  };
  EXPECT_EQ(before_perfdata(status_line(r)),
            "PVECTL-TUNNEL CRITICAL - tunnel2: first critical; tunnel3: second critical; "
            "tunnel2: first unknown; tunnel1: second unknown; tunnel1: first warning; "
            "tunnel3: second warning");
}

TEST(StatusLine, TheSameFindingOnlyOnce) {
  Report r;
  r.results = {
      result("guest.running", "tunnel2", Status::unknown, "m", "pve2 offline"),
      result("guest.onboot", "tunnel2", Status::unknown, "m", "pve2 offline"),
      result("backup.task", "tunnel2", Status::unknown, "m", "pve2 offline"),
      result("guest.running", "tunnel3", Status::unknown, "m", "pve2 offline"),
  };
  EXPECT_EQ(before_perfdata(status_line(r)),
            "PVECTL-TUNNEL UNKNOWN - tunnel2: pve2 offline; tunnel3: pve2 offline");
  EXPECT_NE(status_line(r).find(" | critical=0 warning=0 unknown=4 ok=0"), std::string::npos);
}

TEST(StatusLine, AtMostTwoHundredCharactersAndSaysHowManyWereLeftOut) {
  for (int n : {5, 9, 10, 30, 200}) {
    Report r;
    for (int i = 0; i < n; ++i) {
      r.results.push_back(result("guest.running", fmt::format("tunnel-{:03}", i), Status::critical,
                                 "m", "VM stopped"));
    }
    const std::string head = before_perfdata(status_line(r));
    EXPECT_LE(text::display_width(head), 200u) << head;
    static const std::regex more(R"(^(.*) \(\+(\d+) more\)$)");
    std::smatch m;
    int shown = 0, left_out = 0;
    std::string list = head.substr(std::string("PVECTL-TUNNEL CRITICAL - ").size());
    if (std::regex_match(head, m, more)) {
      left_out = std::stoi(m[2].str());
      list = m[1].str().substr(std::string("PVECTL-TUNNEL CRITICAL - ").size());
    }
    for (size_t at = 0; at != std::string::npos; at = list.find("; ", at + 1)) ++shown;
    EXPECT_EQ(shown + left_out, n) << head;
    EXPECT_GE(shown, 1);
    if (n <= 5) {
      EXPECT_EQ(left_out, 0) << head;
    }
    if (n >= 30) {
      EXPECT_GT(left_out, 0) << head;
    }
    // The items shown are the first ones, in order.
    EXPECT_EQ(list.rfind("tunnel-000: VM stopped", 0), 0u) << head;
  }
}

TEST(StatusLine, HeadlineOrTheMessageUpToItsExplanation) {
  Report r;
  r.results = {
      result("a", "t1", Status::warning, "backup failed: disk full (code 5); retry"),
      result("b", "t2", Status::warning, "VM stopped (since 3 d): its tunnel is down"),
      result("c", "t3", Status::warning, "lock held; since yesterday"),
      result("d", "t4", Status::warning, "a long message: with details", "the headline"),
      result("e", "t5", Status::warning, "no explanation at all"),
  };
  EXPECT_EQ(before_perfdata(status_line(r)),
            "PVECTL-TUNNEL WARNING - t1: backup failed; t2: VM stopped; t3: lock held; "
            "t4: the headline; t5: no explanation at all");
}

TEST(StatusLine, AVeryLongHeadlineIsShortened) {
  Report r;
  r.results = {result("a", "t1", Status::critical, std::string(300, 'x') + " tail")};
  const std::string head = before_perfdata(status_line(r));
  EXPECT_LT(text::display_width(head), 120u) << head;
  EXPECT_EQ(head.back(), '~') << head;
}

TEST(StatusLine, AllPassedSaysHowMany) {
  Report r;
  for (int i = 0; i < 5; ++i) r.results.push_back(result("a", "t", Status::ok, "fine"));
  EXPECT_EQ(status_line(r),
            "PVECTL-TUNNEL OK - all 5 checks passed | critical=0 warning=0 "
            "unknown=0 ok=5");
}

TEST(StatusLine, TheErrorThatCutTheRunComesFirst) {
  Report r = sample();
  r.error = "timed out after 2 s (pve2 did not answer)";
  EXPECT_EQ(before_perfdata(status_line(r)),
            "PVECTL-TUNNEL CRITICAL - timed out after 2 s (pve2 did not answer); tunnel2: not set "
            "to start at boot; tunnel2: pve2 offline; tunnel1: newest backup never verified");
  Report only_error = unknown_report("invalid config: x.toml:3:1: pve: missing", {});
  EXPECT_EQ(before_perfdata(status_line(only_error)),
            "PVECTL-TUNNEL UNKNOWN - invalid config: x.toml:3:1: pve: missing");
}

TEST(StatusLine, OutsideTextCannotBreakTheLine) {
  Report r;
  r.results = {result("a", "tun\x1b[2Jnel\xFF", Status::critical, "bad\nline\x07 here")};
  r.error = "API said \xC3(\r\nPVECTL-TUNNEL OK - forged";
  const std::string line = status_line(r);
  for (unsigned char c : line) EXPECT_GE(c, 0x20) << "control character in: " << line;
  EXPECT_EQ(text::valid_utf8(line), line) << "invalid UTF-8";
  EXPECT_NE(line.find("tun\\x1b[2Jnel\xEF\xBF\xBD: bad\\x0aline\\x07 here"), std::string::npos)
      << line;
  EXPECT_NE(line.find("API said \xEF\xBF\xBD(\\x0d\\x0aPVECTL-TUNNEL OK - forged"),
            std::string::npos)
      << line;
}

// Regression test, the bug it caught (controller/report.cpp, status_line/headline_of): Nagios,
// Icinga and the Monitoring Plugins guidelines split the plugin output at its FIRST '|': everything
// after it is perfdata. A '|' in an error or a message (text from the API or a task log) is copied
// into the status line unchanged, so the monitoring system cuts the text there and reads "b;
// tunnel1: ... | critical=0 ..." as perfdata: the counts and measurements are lost.
TEST(StatusLine, APipeInOutsideTextDoesNotStartThePerfdata) {
  Report r = sample();
  r.error = "the Proxmox VE API cannot be used: 500 a | b";
  const std::string line = status_line(r);
  EXPECT_EQ(line.find('|'), line.find(" | critical=") + 1) << line;
  Report m;
  m.results = {result("backup.task", "tunnel1", Status::critical, "ERROR: tar | gzip failed")};
  const std::string line2 = status_line(m);
  EXPECT_EQ(line2.find('|'), line2.find(" | critical=") + 1) << line2;
}

// ---------------------------------------------------------------------------------------------
// JSON

TEST(Json, InvalidUtf8FromOutsideIsRepairedNotAThrow) {
  // The bytes below make nlohmann's serialiser throw (type_error 316) when they reach it as-is.
  const std::string bad = "task log: \xFF\xC3(";
  nlohmann::json raw = bad;
  try {
    (void)raw.dump();
    ADD_FAILURE() << "dump() accepted invalid UTF-8: the test would prove nothing";
  } catch (const nlohmann::json::type_error& e) {
    EXPECT_EQ(e.id, 316) << e.what();
  }

  Report r = sample();
  r.results[3].target = "tunnel\xFE";
  r.results[3].message = bad;
  r.results[3].observed = bad;
  r.results[3].expected = "\xED\xA0\x80";
  r.results[3].remediation = "\xC0\xAF";
  r.error = "timed out \xFF";
  r.error_details = {"detail \xF8"};
  nlohmann::json j;
  ASSERT_NO_THROW(j = to_json(r));
  std::string dumped;
  ASSERT_NO_THROW(dumped = j.dump());
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(j["results"][3]["target"], "tunnel" + fffd);
  EXPECT_EQ(j["results"][3]["message"], "task log: " + fffd + fffd + "(");
  EXPECT_EQ(j["results"][3]["observed"], "task log: " + fffd + fffd + "(");
  EXPECT_EQ(j["results"][3]["expected"], fffd + fffd + fffd);
  EXPECT_EQ(j["results"][3]["remediation"], fffd + fffd);
  EXPECT_EQ(j["error"], "timed out " + fffd + "; detail " + fffd);
  // Round trip: what was written parses.
  EXPECT_FALSE(nlohmann::json::parse(dumped, nullptr, false).is_discarded());
}

// ---------------------------------------------------------------------------------------------
// Text

// What check shows when a backup failed badly: long quoted task errors, a UPID, a volume id.
Report long_report() {
  Report r = sample();
  r.results.push_back(result(
      "backup.task", "tunnel1", Status::critical,
      "last vzdump task (2026-11-24 01:00 UTC, 2 days ago) failed for 110: "
      "UPID:pve1:000A1B2C:0B3C4D5E:6745F2A0:vzdump:110:root@pam: ERROR: Backup of VM 110 failed - "
      "vma_queue_write: write error - Broken pipe; INFO: Failed at 2026-11-24 01:03:12",
      "last backup failed",
      "ERROR: Backup of VM 110 failed - vma_queue_write: write error - Broken pipe", "OK"));
  r.results.push_back(
      result("backup.age", "tunnel2", Status::critical,
             "newest backup pbs1:backup/ct/210/2026-11-10T01:00:00Z is older than allowed (job "
             "backup-tunnels \"sun 01:00\" (Europe/Vienna): longest gap 7d + grace_h 12h)",
             "", "14d 3h (2026-11-10T01:00:00Z)", "7d 12h"));
  r.results.push_back(result("guest.exists", "a-rather-long-guest-name-x", Status::ok,
                             "found as lxc 999 on pve1", "", "lxc 999 on pve1", "lxc on pve1"));
  return r;
}

class TextWidth : public ::testing::TestWithParam<size_t> {};

// Regression test, the bug it caught (controller/report.cpp, to_text, compact layout): below the
// wide layout the compact one still puts STATUS, RULE and TARGET side by side at their widest
// values (here 8 + 19 + 26
// + 3 gaps of 2 = 59 columns: "CRITICAL", "backup.verification", "a-rather-long-guest-name-x")
// and gives OBSERVED (EXPECTED) at least 12 more, so at widths 20, 40 and 60 rows are up to 71
// columns wide; at 20 even the message line under each row is 22 wide (8 + 2 + at least 12).
// terminal.cpp accepts widths down to 20.
TEST_P(TextWidth, NoLineAfterTheFirstIsWiderThanTheTerminal) {
  const size_t width = GetParam();
  const std::string out = to_text(long_report(), {.color = false, .width = width});
  const auto lines = lines_of(out);
  ASSERT_GT(lines.size(), 5u);
  EXPECT_EQ(lines[0], status_line(long_report()));
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(text::display_width(lines[i]), width) << "line " << i << ": " << lines[i];
  }
  // Nothing is cut away: the end of the long task error is there, wrapped, not dropped.
  for (const char* word : {"Broken", "pipe;", "01:03:12", "(Europe/Vienna):", "12h)"}) {
    EXPECT_NE(out.find(word), std::string::npos) << word << " missing in\n" << out;
  }
}

INSTANTIATE_TEST_SUITE_P(Widths, TextWidth, ::testing::Values(20, 40, 60, 80, 100, 160));

TEST(Text, ColourOnlyWhenAsked) {
  Report r = long_report();
  r.results[0].target = "tun\x1b[31mnel";  // outside text cannot colour on its own
  const std::string plain = to_text(r, {.color = false, .width = 100});
  EXPECT_EQ(plain.find('\033'), std::string::npos) << plain;
  const std::string coloured = to_text(r, {.color = true, .width = 100});
  EXPECT_NE(coloured.find("\033[31mCRITICAL"), std::string::npos) << coloured;
  EXPECT_NE(coloured.find("\033[0m"), std::string::npos);
  // Only the status cells are coloured, each reset on the same line.
  for (const auto& line : lines_of(coloured)) {
    const auto open = line.find('\033');
    if (open == std::string::npos) continue;
    EXPECT_NE(line.find("\033[0m", open), std::string::npos) << line;
  }
  // Colour changes nothing else.
  std::string stripped = std::regex_replace(coloured, std::regex("\033\\[[0-9;]*m"), "");
  EXPECT_EQ(stripped, plain);
}

TEST(Text, ErrorDetailsOnePerLineUnderTheFirst) {
  Report r = unknown_report(
      "invalid config: a.toml:2:1: pve.endpoints: expected an array; "
      "a.toml:9:3: guest[0].vmid: expected an integer",
      system_clock::time_point(seconds(kNow)));
  r.error_details = {"a.toml:2:1: pve.endpoints: expected an array",
                     "a.toml:9:3: guest[0].vmid: expected an integer"};
  const auto lines = lines_of(to_text(r, {}));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].rfind("PVECTL-TUNNEL UNKNOWN - invalid config: ", 0), 0u);
  EXPECT_EQ(lines[1], r.error_details[0]);
  EXPECT_EQ(lines[2], r.error_details[1]);
}

// The lines under the first (every config problem) are printed whole, one per line, whatever
// the width: "FILE:LINE:COL: key: ..." is what editors jump to and people grep for.
TEST(Text, ErrorDetailsStayOneLineEach) {
  const std::string problem =
      "/etc/pvectl-tunnel/config.toml:3:12: pve.token_id: expected USER@REALM!TOKENID (e.g. "
      "\"pvectl@pve!tunnel\"), got \"no-bang\"";
  Report r = unknown_report("invalid config: " + problem, system_clock::time_point(seconds(kNow)));
  r.error_details = {problem};
  for (size_t width : {60, 80}) {
    const auto lines = lines_of(to_text(r, {.color = false, .width = width}));
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[1], problem);
  }
}

// ---------------------------------------------------------------------------------------------
// Prometheus

using testing::prometheus::Exposition;
using testing::prometheus::parse_prometheus;
using testing::prometheus::Sample;

// The parser is strict enough to matter: each of these is rejected.
TEST(Prometheus, TheParserRejectsWhatPrometheusRejects) {
  const std::string ok = "# HELP m Help.\n# TYPE m gauge\nm{a=\"x\"} 1\n";
  EXPECT_TRUE(parse_prometheus(ok).errors.empty());
  for (const std::string bad : {
           "m 1\n",                                            // no TYPE
           "# TYPE m gauge\n# TYPE m gauge\nm 1\n",            // TYPE twice
           "# TYPE m gauge\nm{a=\"x} 1\n",                     // value not closed
           "# TYPE m gauge\nm{a=\"x\\q\"} 1\n",                // unknown escape
           "# TYPE m gauge\nm{a=x} 1\n",                       // not quoted
           "# TYPE m gauge\nm one\n",                          // not a number
           "# TYPE m gauge\n# TYPE n gauge\nm 1\nn 1\nm 2\n",  // not together
           "# TYPE m gauge\nm 1",                              // no final newline
           "# TYPE 1m gauge\n1m 1\n",                          // bad name
       }) {
    EXPECT_FALSE(parse_prometheus(bad).errors.empty()) << bad;
  }
}

TEST(Prometheus, EveryLineFollowsTheExpositionFormat) {
  const std::string text = to_prometheus(sample());
  const Exposition e = parse_prometheus(text);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors) << "\n" << text;
  for (const auto& [name, count] : e.type) {
    EXPECT_EQ(count, 1) << name;
    EXPECT_EQ(e.help.count(name), 1u) << name << " has no HELP";
  }
}

TEST(Prometheus, TheMetricsAndTheirValues) {
  const std::string text = to_prometheus(sample());
  const Exposition e = parse_prometheus(text);
  auto value = [&](const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) -> double {
    const Sample* s = e.find(name, labels);
    EXPECT_NE(s, nullptr) << name << " missing in\n" << text;
    return s ? s->value : NAN;
  };
  EXPECT_EQ(value("pvectl_tunnel_rule_status", {{"rule", "guest.onboot"}, {"target", "tunnel1"}}),
            0);
  EXPECT_EQ(
      value("pvectl_tunnel_rule_status", {{"rule", "backup.verification"}, {"target", "tunnel1"}}),
      1);
  EXPECT_EQ(value("pvectl_tunnel_rule_status", {{"rule", "guest.onboot"}, {"target", "tunnel2"}}),
            2);
  EXPECT_EQ(value("pvectl_tunnel_rule_status", {{"rule", "guest.running"}, {"target", "tunnel2"}}),
            3);
  EXPECT_EQ(value("pvectl_tunnel_backup_age_seconds", {{"guest", "tunnel1"}}), 3600);
  EXPECT_EQ(value("pvectl_tunnel_backup_allowed_age_seconds", {{"guest", "tunnel1"}}), 90000);
  EXPECT_EQ(value("pvectl_tunnel_backup_size_bytes", {{"guest", "tunnel1"}}), 1610612736);
  EXPECT_EQ(value("pvectl_tunnel_probe_latency_seconds", {{"tunnel", "tunnel-a"}}), 0.012);
  EXPECT_EQ(value("pvectl_tunnel_check_timestamp_seconds"), kNow);
  size_t rule_samples = 0;
  for (const auto& s : e.samples) rule_samples += s.name == "pvectl_tunnel_rule_status";
  EXPECT_EQ(rule_samples, sample().results.size());
}

TEST(Prometheus, LabelValuesAreEscaped) {
  Report r = sample();
  const std::string weird = "we\"ird\\name\nline two \xFF";
  r.results[0].target = weird;
  r.measurements[0].target = weird;
  const std::string text = to_prometheus(r);
  const Exposition e = parse_prometheus(text);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors) << "\n" << text;
  const std::string back = text::valid_utf8(weird);
  EXPECT_NE(e.find("pvectl_tunnel_rule_status", {{"rule", "guest.onboot"}, {"target", back}}),
            nullptr)
      << text;
  EXPECT_NE(e.find("pvectl_tunnel_backup_age_seconds", {{"guest", back}}), nullptr) << text;
  EXPECT_NE(text.find(R"(target="we\"ird\\name\nline two )"), std::string::npos) << text;
}

TEST(Prometheus, NoMeasurementsNoEmptyMetrics) {
  Report r;
  r.checked_at = system_clock::time_point(seconds(kNow));
  r.results = {result("a", "t", Status::ok, "fine")};
  const std::string text = to_prometheus(r);
  const Exposition e = parse_prometheus(text);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors) << "\n" << text;
  EXPECT_EQ(text.find("backup_age"), std::string::npos) << text;
  EXPECT_NE(e.find("pvectl_tunnel_check_timestamp_seconds"), nullptr);
}

}  // namespace
}  // namespace pvt::report
