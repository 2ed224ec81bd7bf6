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
};

struct Report {
  std::vector<RuleResult> results;
  std::chrono::system_clock::time_point checked_at{};
  std::optional<std::string> error;  // the report could not be made as asked

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

// First line in the monitoring-plugins form, then an aligned table; ANSI colour when asked.
std::string to_text(const Report& r, bool color);

}  // namespace pvt::report
