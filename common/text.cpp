#include "common/text.h"

#include <fmt/format.h>

namespace pvt::text {

std::vector<std::string> split_list(std::string_view text, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == sep) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ' && c != '\t') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF).
size_t utf8_sequence(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const auto cont = [&](size_t k) { return i + k < s.size() && (b(k) & 0xC0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

// C1 controls (U+0080..U+009F) are two-byte sequences C2 80..C2 9F; U+009B (CSI) starts an
// escape sequence on terminals that honour C1.
bool is_c1_control(std::string_view s, size_t i, size_t n) {
  return n == 2 && static_cast<unsigned char>(s[i]) == 0xC2 &&
         static_cast<unsigned char>(s[i + 1]) <= 0x9F;
}

template <class OnAscii>
std::string repair(std::string_view s, OnAscii on_ascii, bool escape_c1) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_sequence(s, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else if (n == 1) {
      on_ascii(out, s[i]);
      ++i;
    } else if (escape_c1 && is_c1_control(s, i, n)) {
      out += fmt::format("\\u{:04x}", static_cast<unsigned char>(s[i + 1]));
      i += n;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view bytes) {
  return repair(
      bytes, [](std::string& out, char c) { out += c; }, false);
}

std::string sanitize(std::string_view untrusted) {
  return repair(
      untrusted,
      [](std::string& out, char c) {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7F) {
          out += fmt::format("\\x{:02x}", u);
        } else {
          out += c;
        }
      },
      true);
}

std::string prometheus_label(std::string_view value) {
  std::string out;
  for (char c : valid_utf8(value)) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

size_t display_width(std::string_view utf8) {
  size_t n = 0;
  for (char c : utf8) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

namespace {

// The byte offset where the first `columns` code points of s end.
size_t prefix_bytes(std::string_view s, size_t columns) {
  size_t i = 0;
  for (size_t seen = 0; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == columns) break;
      ++seen;
    }
  }
  return i;
}

void wrap_paragraph(std::string_view para, size_t width, std::vector<std::string>& out) {
  std::string line;
  size_t line_width = 0;
  size_t i = 0;
  while (i < para.size()) {
    while (i < para.size() && para[i] == ' ') ++i;
    size_t end = para.find(' ', i);
    if (end == std::string_view::npos) end = para.size();
    std::string_view word = para.substr(i, end - i);
    i = end;
    if (word.empty()) break;
    size_t w = display_width(word);
    if (line_width > 0 && line_width + 1 + w > width) {
      out.push_back(std::move(line));
      line.clear();
      line_width = 0;
    }
    while (w > width) {  // a word longer than the line: cut it
      if (line_width > 0) {
        out.push_back(std::move(line));
        line.clear();
        line_width = 0;
      }
      const size_t cut = prefix_bytes(word, width);
      out.emplace_back(word.substr(0, cut));
      word = word.substr(cut);
      w = display_width(word);
    }
    if (word.empty()) continue;
    if (line_width > 0) {
      line += ' ';
      ++line_width;
    }
    line += word;
    line_width += w;
  }
  if (line_width > 0 || out.empty()) out.push_back(std::move(line));
}

}  // namespace

std::vector<std::string> wrap(std::string_view text, size_t width) {
  if (width == 0) width = 1;
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t nl = text.find('\n', start);
    std::string_view para =
        text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    std::vector<std::string> lines;
    wrap_paragraph(para, width, lines);
    out.insert(out.end(), lines.begin(), lines.end());
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  return out;
}

}  // namespace pvt::text
