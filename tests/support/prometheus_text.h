// Test support: a parser of the Prometheus text exposition format (version 0.0.4), strict
// enough to catch what node_exporter's textfile collector would reject, for the tests of
// `--format prometheus`.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "tests/support/lines.h"

namespace pvt::testing::prometheus {

namespace detail {

// The whole text is a number (strtod), or nothing.
inline std::optional<double> number(const std::string& s) {
  if (s.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

}  // namespace detail

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<Sample> samples;
  std::map<std::string, int> help, type;
  std::vector<std::string> errors;

  const Sample* find(const std::string& name,
                     const std::map<std::string, std::string>& labels = {}) const {
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
  }
};

// The text exposition format (version 0.0.4): '#' lines are comments, "# HELP name text" and
// "# TYPE name type" say what a metric is (once each, before its samples); a sample is
// name[{label="value",...}] value [timestamp], label values escaping only \\, \" and \n; all
// samples of a metric together.
inline Exposition parse_prometheus(const std::string& text) {
  Exposition e;
  static const std::regex name_re("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex label_re("[a-zA-Z_][a-zA-Z0-9_]*");
  std::set<std::string> finished;
  std::string current;
  int n = 0;
  if (!text.empty() && text.back() != '\n') e.errors.push_back("no newline at the end");
  for (const auto& line : testing::lines_of(text)) {
    ++n;
    auto error = [&](const std::string& what) {
      e.errors.push_back("line " + std::to_string(n) + ": " + what + ": " + line);
    };
    if (line.empty()) continue;
    if (line[0] == '#') {
      static const std::regex meta(R"(^# (HELP|TYPE) ([^ ]+) (.*)$)");
      std::smatch m;
      if (std::regex_match(line, m, meta)) {
        const std::string name = m[2].str();
        if (!std::regex_match(name, name_re)) error("bad metric name");
        if (m[1] == "TYPE") {
          if (++e.type[name] > 1) error("second TYPE");
          static const std::set<std::string> types = {"counter", "gauge", "histogram", "summary",
                                                      "untyped"};
          if (types.count(m[3].str()) == 0) error("unknown type");
          for (const auto& s : e.samples) {
            if (s.name == name) error("TYPE after samples");
          }
        } else if (++e.help[name] > 1) {
          error("second HELP");
        }
      }
      continue;
    }
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    Sample s;
    s.name = line.substr(0, i);
    if (!std::regex_match(s.name, name_re)) {
      error("bad metric name");
      continue;
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) break;
        const std::string label = line.substr(i, eq - i);
        if (!std::regex_match(label, label_re)) error("bad label name " + label);
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          error("label value not quoted");
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) break;
            const char next = line[i++];
            if (next == '\\' || next == '"') {
              value += next;
            } else if (next == 'n') {
              value += '\n';
            } else {
              error("bad escape");
            }
          } else {
            value += c;
          }
        }
        if (!closed) error("label value not closed");
        if (s.labels.count(label) != 0) error("label twice");
        s.labels[label] = value;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (i >= line.size() || line[i] != '}') {
        error("labels not closed");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      error("no value");
      continue;
    }
    std::string rest = line.substr(i + 1);
    const auto space = rest.find(' ');
    const std::string value = rest.substr(0, space);
    if (space != std::string::npos) {
      const std::string ts = rest.substr(space + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) {
        error("bad timestamp");
      }
    }
    if (value == "NaN") {
      s.value = NAN;
    } else if (value == "+Inf") {
      s.value = INFINITY;
    } else if (value == "-Inf") {
      s.value = -INFINITY;
    } else if (auto v = detail::number(value)) {
      s.value = *v;
    } else {
      error("bad value");
    }
    if (s.name != current) {
      if (finished.count(s.name) != 0) error("samples of a metric not together");
      if (!current.empty()) finished.insert(current);
      current = s.name;
    }
    if (e.type.count(s.name) == 0) error("sample without TYPE before it");
    e.samples.push_back(s);
  }
  return e;
}

}  // namespace pvt::testing::prometheus
