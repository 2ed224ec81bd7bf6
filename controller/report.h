// The compliance report (README.md, "Exit codes and output") shared by `check`, `backup verify`
// and `vps status`:
// results per rule and target, the worst one decides the status and the exit code.
#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/utc_time.h"

namespace pvt::report {

// Ordered by severity for aggregation: unknown sits between warning and critical (an UNKNOWN
// result decides the report only when nothing is CRITICAL).
enum class Status { ok, warning, unknown, critical };

const char* to_string(Status s);  // "OK", "WARNING", "UNKNOWN", "CRITICAL"
int exit_code(Status s);          // 0, 1, 3, 2

struct RuleResult {
  std::string rule;    // e.g. "guest.onboot"
  std::string target;  // guest or tunnel name, "cluster", "token"
  Status status = Status::ok;
  std::optional<std::string> observed;
  std::optional<std::string> expected;
  std::string message;
  std::string remediation;  // empty when OK
  // The finding in a few words for the status line ("not set to start at boot"); when empty,
  // the message up to its first explanation (": ", " (", "; ") stands for it.
  std::string headline = {};
};

// A number a monitoring system graphs: a perfdata item of the first text line, a Prometheus
// sample. Measured alongside the rules, so both outputs show the same facts.
enum class Unit { none, seconds, bytes };
struct Measurement {
  std::string target;  // guest, tunnel or "cluster"
  std::string name;    // backup_age, backup_size, probe_latency, nodes_online
  double value = 0;
  Unit unit = Unit::none;
  std::optional<double> warn, crit, min, max;  // perfdata thresholds and range
};

struct Report {
  std::vector<RuleResult> results;
  std::vector<Measurement> measurements;
  std::chrono::system_clock::time_point checked_at{};
  std::optional<std::string> error;  // the report could not be made as asked
  // Lines that say more about `error` (every config problem): the text format prints them below
  // the first line, JSON has them joined in `error`.
  std::vector<std::string> error_details;

  Status status() const;
  int exit_code() const { return report::exit_code(status()); }
  int count(Status s) const;
};

// A report that is only an error (bad config, bad arguments, API unusable before anything
// was read): status UNKNOWN, exit 3.
Report unknown_report(std::string error, std::chrono::system_clock::time_point at);

// RFC 3339 UTC with seconds: "2026-11-24T19:00:00Z" (common/utc_time.h).
using pvt::format_utc;

// The JSON report, schema 1 (README.md, "Exit codes and output").
nlohmann::json to_json(const Report& r);

// The first line in the Monitoring Plugins form: "PVECTL-TUNNEL CRITICAL - <the worst findings,
// most severe first, at most ~200 characters> | <perfdata>", without the newline.
std::string status_line(const Report& r);

// The perfdata after the '|': the four counts, then every measurement as
// 'label'=value[UOM];[warn];[crit];[min];[max], space-separated.
std::string perfdata(const Report& r);

struct TextOptions {
  bool color = false;
  size_t width = 80;  // terminal columns: the message column wraps to fit
};

// The status line, then a table of every result (cells wrapped to `width`), then remediations.
// Not wrapped: the status line (monitoring reads it whole) and the error details below it (each
// a FILE:LINE:COLUMN problem that editors jump to and people grep for).
std::string to_text(const Report& r, const TextOptions& options);

// The Prometheus text exposition format (for the node_exporter textfile collector): rule status
// per rule and target (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN), the measurements and when the
// report was made.
std::string to_prometheus(const Report& r);

}  // namespace pvt::report
