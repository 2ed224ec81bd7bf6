#include "controller/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>

#include "common/text.h"

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

// Monitoring systems parse the status line up to here; SMS and pager views cut it short.
constexpr size_t kStatusLineMax = 200;
constexpr size_t kHeadlineMax = 60;  // one finding
constexpr size_t kErrorMax = 150;    // the error that cut the report short

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

// Outside text made safe for the text format: sanitized, and without '|', which Nagios, Icinga
// and the Monitoring Plugins guidelines read as the start of perfdata (in the first line and in
// the long output alike).
std::string plain(std::string_view untrusted) {
  std::string out = text::sanitize(untrusted);
  std::replace(out.begin(), out.end(), '|', '/');
  return out;
}

// Cuts to `max` columns, marking the cut.
std::string shorten(std::string s, size_t max) {
  if (text::display_width(s) <= max) return s;
  std::vector<std::string> head = text::wrap(s, max - 1);
  std::string out = head.front();
  if (text::display_width(out) > max - 1) out = out.substr(0, max - 1);
  return out + "~";
}

std::string headline_of(const RuleResult& x) {
  std::string h = x.headline;
  if (h.empty()) {
    h = x.message;
    for (std::string_view stop : {": ", " (", "; "}) {
      if (auto at = h.find(stop); at != std::string::npos && at > 0) h.resize(at);
    }
  }
  return shorten(plain(h), kHeadlineMax);
}

// Most severe first (critical, unknown, warning: the precedence of the report's status), in
// report order within a severity.
int severity_rank(Status s) {
  switch (s) {
    case Status::critical:
      return 0;
    case Status::unknown:
      return 1;
    case Status::warning:
      return 2;
    case Status::ok:
      break;
  }
  return 3;
}

// Perfdata labels may hold anything but '=' and the quote that encloses them.
std::string perf_label(const Measurement& m) {
  std::string label = fmt::format("{} {}", m.target, m.name);
  for (char& c : label) {
    if (c == '=' || c == '\'') c = '_';
  }
  return "'" + text::sanitize(label) + "'";
}

std::string number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return fmt::format("{}", static_cast<int64_t>(v));
  }
  return fmt::format("{}", v);
}

std::string optional_number(const std::optional<double>& v) { return v ? number(*v) : ""; }

const char* uom(Unit u) {
  switch (u) {
    case Unit::seconds:
      return "s";
    case Unit::bytes:
      return "B";
    case Unit::none:
      break;
  }
  return "";
}

}  // namespace

std::string perfdata(const Report& r) {
  std::string out =
      fmt::format("critical={} warning={} unknown={} ok={}", r.count(Status::critical),
                  r.count(Status::warning), r.count(Status::unknown), r.count(Status::ok));
  for (const auto& m : r.measurements) {
    std::string item = fmt::format("{}={}{};{};{};{};{}", perf_label(m), number(m.value),
                                   uom(m.unit), optional_number(m.warn), optional_number(m.crit),
                                   optional_number(m.min), optional_number(m.max));
    // Trailing empty fields may be left out.
    while (item.back() == ';') item.pop_back();
    out += " " + item;
  }
  return out;
}

std::string status_line(const Report& r) {
  std::vector<std::string> items;
  std::set<std::string> seen;
  if (r.error) items.push_back(shorten(plain(*r.error), kErrorMax));
  std::vector<const RuleResult*> findings;
  for (const auto& x : r.results) {
    if (x.status != Status::ok) findings.push_back(&x);
  }
  std::stable_sort(findings.begin(), findings.end(), [](const RuleResult* a, const RuleResult* b) {
    return severity_rank(a->status) < severity_rank(b->status);
  });
  for (const RuleResult* x : findings) {
    // One node down makes several rules of a guest UNKNOWN for the same reason: say it once.
    std::string item = fmt::format("{}: {}", plain(x->target), headline_of(*x));
    if (seen.insert(item).second) items.push_back(std::move(item));
  }
  const std::string prefix = fmt::format("PVECTL-TUNNEL {} - ", to_string(r.status()));
  std::string summary;
  if (items.empty()) {
    summary = r.results.empty() ? "nothing to check"
                                : fmt::format("all {} checks passed", r.results.size());
  }
  size_t used = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string more =
        i + 1 < items.size() ? fmt::format(" (+{} more)", items.size() - i - 1) : std::string();
    const std::string next = (used == 0 ? "" : "; ") + items[i];
    if (used > 0 && prefix.size() + summary.size() + next.size() + more.size() > kStatusLineMax) {
      summary += fmt::format(" (+{} more)", items.size() - i);
      break;
    }
    summary += next;
    ++used;
  }
  return prefix + summary + " | " + perfdata(r);
}

nlohmann::json to_json(const Report& r) {
  // Everything from outside (API answers, task logs, worker errors) is made valid UTF-8 first:
  // the serialiser refuses anything else.
  auto clean = [](const std::string& s) { return text::valid_utf8(s); };
  auto clean_opt = [&](const std::optional<std::string>& s) {
    return optional_string(s ? std::optional<std::string>(clean(*s)) : std::nullopt);
  };
  nlohmann::json results = nlohmann::json::array();
  for (const auto& x : r.results) {
    results.push_back({{"rule", x.rule},
                       {"target", clean(x.target)},
                       {"status", to_string(x.status)},
                       {"observed", clean_opt(x.observed)},
                       {"expected", clean_opt(x.expected)},
                       {"message", clean(x.message)},
                       {"remediation", clean(x.remediation)}});
  }
  nlohmann::json j = {{"schema", 1},
                      {"status", to_string(r.status())},
                      {"exit_code", r.exit_code()},
                      {"checked_at", format_utc(r.checked_at)},
                      {"results", std::move(results)}};
  if (r.error) {
    std::string error = *r.error;
    for (const auto& d : r.error_details) error += "; " + d;
    j["error"] = clean(error);
  }
  return j;
}

namespace {

// The wide table: observed and expected wrap beyond kValueColumnMax, the message takes the rest
// of the line but at least kMessageColumnMin. Narrower terminals get the compact layout: one
// line "STATUS RULE TARGET observed (expected ...)", the message wrapped below it.
constexpr size_t kValueColumnMax = 32;
constexpr size_t kMessageColumnMin = 30;
constexpr size_t kCompactValueMin = 16;  // below this, the stacked layout
constexpr size_t kGap = 2;

std::string pad(const std::string& s, size_t width) {
  const size_t w = text::display_width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}

// Cells wrapped to their widths, side by side; the first cell of the first line coloured.
std::string render_row(const std::vector<std::string>& cells, const std::vector<size_t>& width,
                       const char* colour) {
  std::vector<std::vector<std::string>> wrapped;
  size_t height = 1;
  for (size_t c = 0; c < cells.size(); ++c) {
    wrapped.push_back(text::wrap(cells[c], width[c]));
    height = std::max(height, wrapped.back().size());
  }
  std::string out;
  for (size_t line = 0; line < height; ++line) {
    std::string row;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string cell = line < wrapped[c].size() ? wrapped[c][line] : "";
      std::string padded = c + 1 == cells.size() ? cell : pad(cell, width[c] + kGap);
      if (c == 0 && line == 0 && colour != nullptr && *colour != '\0') {
        padded = colour + pad(cell, width[c]) + "\033[0m" + std::string(kGap, ' ');
      }
      row += padded;
    }
    while (!row.empty() && row.back() == ' ') row.pop_back();
    out += row + "\n";
  }
  return out;
}

}  // namespace

std::string to_text(const Report& r, const TextOptions& options) {
  const size_t total = std::max<size_t>(options.width, 20);
  std::string out = status_line(r) + "\n";
  // Each problem (a config error) whole on its own line, as `config validate` prints it: a
  // FILE:LINE:COLUMN line is what editors jump to and people grep for.
  for (const auto& d : r.error_details) out += plain(d) + "\n";
  if (r.results.empty()) return out;
  struct Row {
    std::string status, rule, target, observed, expected, message;
    const char* colour;
  };
  std::vector<Row> rows;
  for (const auto& x : r.results) {
    rows.push_back({to_string(x.status), x.rule, plain(x.target), plain(x.observed.value_or("-")),
                    plain(x.expected.value_or("-")), plain(x.message),
                    options.color ? colour_of(x.status) : ""});
  }
  auto widest = [&](size_t header, auto field) {
    size_t w = header;
    for (const auto& row : rows) w = std::max(w, text::display_width(row.*field));
    return w;
  };
  const size_t w_status = widest(6, &Row::status);
  const size_t w_rule = widest(4, &Row::rule);
  const size_t w_target = widest(6, &Row::target);
  const size_t w_observed = std::min(widest(8, &Row::observed), kValueColumnMax);
  const size_t w_expected = std::min(widest(8, &Row::expected), kValueColumnMax);
  const size_t before_message = w_status + w_rule + w_target + w_observed + w_expected + 5 * kGap;
  const size_t head = w_status + w_rule + w_target + 3 * kGap;
  // What was seen, and for a finding what was wanted.
  auto seen = [](const Row& row) {
    return row.observed == row.expected || row.status == "OK"
               ? row.observed
               : fmt::format("{} (expected {})", row.observed, row.expected);
  };

  out += "\n";
  if (before_message + kMessageColumnMin <= total) {
    const std::vector<size_t> width = {w_status,   w_rule,     w_target,
                                       w_observed, w_expected, total - before_message};
    out += render_row({"STATUS", "RULE", "TARGET", "OBSERVED", "EXPECTED", "MESSAGE"}, width, "");
    for (const auto& row : rows) {
      out += render_row({row.status, row.rule, row.target, row.observed, row.expected, row.message},
                        width, row.colour);
    }
  } else if (head + kCompactValueMin <= total) {
    // Compact: status, rule and target side by side, what was seen after them; the message
    // below, under the rule.
    const std::vector<size_t> width = {w_status, w_rule, w_target, total - head};
    const std::vector<size_t> below = {w_status, total - w_status - kGap};
    out += render_row({"STATUS", "RULE", "TARGET", "OBSERVED (EXPECTED)"}, width, "");
    for (const auto& row : rows) {
      out += render_row({row.status, row.rule, row.target, seen(row)}, width, row.colour);
      out += render_row({"", row.message}, below, "");
    }
  } else {
    // Stacked, for the narrowest terminals: one block per result, every line wrapped.
    for (const auto& row : rows) {
      const auto first =
          text::wrap(fmt::format("{} {} {}", row.status, row.rule, row.target), total);
      for (size_t k = 0; k < first.size(); ++k) {
        if (k == 0 && *row.colour != '\0') {
          out += row.colour + row.status + "\033[0m" + first[0].substr(row.status.size()) + "\n";
        } else {
          out += first[k] + "\n";
        }
      }
      for (const std::string& part : {seen(row), row.message}) {
        for (const auto& l : text::wrap(part, total - 2)) out += "  " + l + "\n";
      }
    }
  }
  bool any_fix = false;
  for (const auto& x : r.results) {
    if (x.status == Status::ok || x.remediation.empty()) continue;
    if (!any_fix) out += "\nRemediation:\n";
    any_fix = true;
    const std::string line =
        fmt::format("{} {}: {}", x.rule, plain(x.target), plain(x.remediation));
    const auto wrapped = text::wrap(line, total - 4);
    for (size_t k = 0; k < wrapped.size(); ++k) out += (k == 0 ? "  " : "    ") + wrapped[k] + "\n";
  }
  return out;
}

namespace {

struct PromMetric {
  const char* name;
  const char* help;
};

// The measurement behind each metric name; the label says what the target is.
struct MeasurementMetric {
  const char* measurement;
  bool threshold;  // the metric is the measurement's crit threshold, not its value
  const char* label;
  PromMetric metric;
};
constexpr MeasurementMetric kMeasurementMetrics[] = {
    {"backup_age",
     false,
     "guest",
     {"pvectl_tunnel_backup_age_seconds", "Age of the newest backup of the guest."}},
    {"backup_age",
     true,
     "guest",
     {"pvectl_tunnel_backup_allowed_age_seconds",
      "Age the newest backup may have: the covering job's longest gap between runs + grace."}},
    {"backup_size",
     false,
     "guest",
     {"pvectl_tunnel_backup_size_bytes", "Size of the newest backup of the guest."}},
    {"probe_latency",
     false,
     "tunnel",
     {"pvectl_tunnel_probe_latency_seconds",
      "Latency of the last end-to-end probe through the VPS."}},
    {"nodes_online", false, "", {"pvectl_tunnel_cluster_nodes_online", "Cluster nodes online."}},
};

}  // namespace

std::string to_prometheus(const Report& r) {
  std::string out;
  auto header = [&](const PromMetric& m) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", m.name, m.help, m.name);
  };
  header({"pvectl_tunnel_rule_status",
          "Result of each rule for each target: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."});
  for (const auto& x : r.results) {
    out += fmt::format("pvectl_tunnel_rule_status{{rule=\"{}\",target=\"{}\"}} {}\n",
                       text::prometheus_label(x.rule), text::prometheus_label(x.target),
                       exit_code(x.status));
  }
  header({"pvectl_tunnel_check_status",
          "Status of the whole report: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."});
  out += fmt::format("pvectl_tunnel_check_status {}\n", r.exit_code());
  for (const auto& mm : kMeasurementMetrics) {
    bool any = false;
    for (const auto& m : r.measurements) {
      if (m.name != mm.measurement) continue;
      const std::optional<double> value = mm.threshold ? m.crit : std::optional<double>(m.value);
      if (!value) continue;
      if (!any) header(mm.metric);
      any = true;
      const std::string labels = *mm.label == '\0' ? ""
                                                   : fmt::format("{{{}=\"{}\"}}", mm.label,
                                                                 text::prometheus_label(m.target));
      out += fmt::format("{}{} {}\n", mm.metric.name, labels, number(*value));
    }
  }
  header({"pvectl_tunnel_check_timestamp_seconds", "When the report was made (Unix time)."});
  out += fmt::format(
      "pvectl_tunnel_check_timestamp_seconds {}\n",
      std::chrono::duration_cast<std::chrono::seconds>(r.checked_at.time_since_epoch()).count());
  return out;
}

}  // namespace pvt::report
