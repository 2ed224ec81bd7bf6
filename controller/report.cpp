#include "controller/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <ctime>

namespace pvt::report {

const char* to_string(Status s) {
  switch (s) {
    case Status::ok:
      return "OK";
    case Status::warning:
      return "WARNING";
    case Status::unknown:
      return "UNKNOWN";
    case Status::critical:
      return "CRITICAL";
  }
  return "UNKNOWN";
}

int exit_code(Status s) {
  switch (s) {
    case Status::ok:
      return 0;
    case Status::warning:
      return 1;
    case Status::critical:
      return 2;
    case Status::unknown:
      return 3;
  }
  return 3;
}

Status Report::status() const {
  Status worst = Status::ok;
  for (const auto& r : results) worst = std::max(worst, r.status);
  if (error && worst != Status::critical) worst = Status::unknown;
  return worst;
}

int Report::count(Status s) const {
  return static_cast<int>(std::count_if(results.begin(), results.end(),
                                        [s](const RuleResult& r) { return r.status == s; }));
}

Report unknown_report(std::string error, std::chrono::system_clock::time_point at) {
  Report r;
  r.checked_at = at;
  r.error = std::move(error);
  return r;
}

namespace {

nlohmann::json optional_string(const std::optional<std::string>& s) {
  return s ? nlohmann::json(*s) : nlohmann::json(nullptr);
}

const char* colour_of(Status s) {
  switch (s) {
    case Status::ok:
      return "\033[32m";
    case Status::warning:
      return "\033[33m";
    case Status::unknown:
      return "\033[35m";
    case Status::critical:
      return "\033[31m";
  }
  return "";
}

std::string summary_line(const Report& r) {
  const int crit = r.count(Status::critical), warn = r.count(Status::warning),
            unknown = r.count(Status::unknown), ok = r.count(Status::ok);
  std::string summary = fmt::format("{} critical, {} warning", crit, warn);
  if (unknown > 0) summary += fmt::format(", {} unknown", unknown);
  if (r.error) summary += fmt::format(" - {}", *r.error);
  return fmt::format("PVECTL-TUNNEL {} - {} | critical={};warning={};unknown={};ok={}\n",
                     to_string(r.status()), summary, crit, warn, unknown, ok);
}

}  // namespace

nlohmann::json to_json(const Report& r) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& x : r.results) {
    results.push_back({{"rule", x.rule},
                       {"target", x.target},
                       {"status", to_string(x.status)},
                       {"observed", optional_string(x.observed)},
                       {"expected", optional_string(x.expected)},
                       {"message", x.message},
                       {"remediation", x.remediation}});
  }
  nlohmann::json j = {{"schema", 1},
                      {"status", to_string(r.status())},
                      {"exit_code", r.exit_code()},
                      {"checked_at", format_utc(r.checked_at)},
                      {"results", std::move(results)}};
  if (r.error) j["error"] = *r.error;
  return j;
}

std::string to_text(const Report& r, bool color) {
  std::string out = summary_line(r);
  if (r.results.empty()) return out;
  const std::vector<std::string> header = {"STATUS",   "RULE",     "TARGET",
                                           "OBSERVED", "EXPECTED", "MESSAGE"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& x : r.results) {
    rows.push_back({to_string(x.status), x.rule, x.target, x.observed.value_or("-"),
                    x.expected.value_or("-"), x.message});
  }
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) {
    width[c] = header[c].size();
    for (const auto& row : rows) width[c] = std::max(width[c], row[c].size());
  }
  // Long values (a quoted task error) would push every row wide: cap the middle columns.
  for (size_t c = 3; c <= 4; ++c) width[c] = std::min<size_t>(width[c], 32);
  auto cell = [&](const std::string& s, size_t c) {
    std::string v = s.size() > width[c] ? s.substr(0, width[c] - 1) + "~" : s;
    return fmt::format("{:<{}}", v, width[c]);
  };
  out += "\n";
  for (size_t c = 0; c < header.size(); ++c) {
    out += c + 1 == header.size() ? header[c] : cell(header[c], c) + "  ";
  }
  out += "\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    const Status s = r.results[i].status;
    std::string status = cell(row[0], 0);
    if (color) status = fmt::format("{}{}\033[0m", colour_of(s), status);
    out += status + "  ";
    for (size_t c = 1; c < row.size(); ++c) {
      out += c + 1 == row.size() ? row[c] : cell(row[c], c) + "  ";
    }
    out += "\n";
  }
  bool any_fix = false;
  for (const auto& x : r.results) {
    if (x.status == Status::ok || x.remediation.empty()) continue;
    if (!any_fix) out += "\nRemediation:\n";
    any_fix = true;
    out += fmt::format("  {} {}: {}\n", x.rule, x.target, x.remediation);
  }
  return out;
}

}  // namespace pvt::report
