// A text as its lines, without the line breaks ("a\nb\n" -> {"a", "b"}), for tests that read
// command output, reports and expected files line by line.
#pragma once

#include <sstream>
#include <string>
#include <vector>

namespace pvt::testing {

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace pvt::testing
