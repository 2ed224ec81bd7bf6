// Small text helpers shared by the PVE models, the simulator and the report renderers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pvt::text {

// "110, 210,,x" -> {"110", "210", "x"}: the list form Proxmox uses in properties (vmid lists,
// content types, node lists); blanks are dropped, empty items skipped.
std::vector<std::string> split_list(std::string_view text, char sep = ',');

// Text from outside (API answers, task logs, SSH peers) made safe to put in a report, a log line
// or on a terminal: invalid UTF-8 bytes become U+FFFD (JSON serialisers reject them, terminals
// garble them), control characters other than tab become "\xNN" and C1 controls "\u00NN" (no
// escape sequences, no forged log lines). Valid printable text comes back unchanged.
std::string sanitize(std::string_view untrusted);

// Only the UTF-8 repair of sanitize(): for text whose line breaks are meaningful.
std::string valid_utf8(std::string_view bytes);

// A label value for the Prometheus text exposition format: valid UTF-8, with backslash, double
// quote and line feed escaped.
std::string prometheus_label(std::string_view value);

// Columns the text takes on a terminal: UTF-8 code points, not bytes (no wide-character
// tables: the reports are ASCII apart from names and quoted messages).
size_t display_width(std::string_view utf8);

// Word-wraps to lines of at most `width` columns (words longer than that are cut); never returns
// an empty vector. Existing line breaks are kept.
std::vector<std::string> wrap(std::string_view text, size_t width);

}  // namespace pvt::text
