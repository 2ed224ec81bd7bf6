// common/text: what reaches a report, a log line or a terminal is valid UTF-8 without control
// characters, and wrap() keeps every line within the width it is given.
#include "common/text.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pvt::text {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER

std::string times(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// An independent check of the result: every byte sequence decodes as RFC 3629 UTF-8.
bool is_valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

TEST(Sanitize, ValidPrintableTextIsUnchanged) {
  for (const std::string s : {"", "tunnel1", "Zürich – 東京 😀 \xF4\x8F\xBF\xBF",  // U+10FFFF
                              "a\tb", "100% done; 3 s (pve2)"}) {
    EXPECT_EQ(sanitize(s), s);
    EXPECT_EQ(valid_utf8(s), s);
  }
}

TEST(Sanitize, InvalidUtf8BecomesReplacementCharacters) {
  struct Case {
    std::string in, out;
  };
  const std::vector<Case> cases = {
      {"a\xFF"
       "b",
       "a" + kFffd + "b"},                       // never valid
      {"\xC0\xAF", times(kFffd, 2)},             // overlong '/' (2 bytes)
      {"\xC1\xBF", times(kFffd, 2)},             // overlong (2 bytes)
      {"\xE0\x80\xAF", times(kFffd, 3)},         // overlong '/' (3 bytes)
      {"\xF0\x80\x80\xAF", times(kFffd, 4)},     // overlong '/' (4 bytes)
      {"\xED\xA0\x80", times(kFffd, 3)},         // U+D800, a surrogate
      {"\xED\xBF\xBF", times(kFffd, 3)},         // U+DFFF, a surrogate
      {"\xF4\x90\x80\x80", times(kFffd, 4)},     // U+110000
      {"\xF5\x80\x80\x80", times(kFffd, 4)},     // beyond any plane
      {"x\xE2\x82", "x" + times(kFffd, 2)},      // truncated at the end
      {"\xE2\x82x", times(kFffd, 2) + "x"},      // truncated before ASCII
      {"\xF0\x9F\x98", times(kFffd, 3)},         // truncated emoji
      {"\x80\xBF", times(kFffd, 2)},             // lone continuation bytes
      {"\xC3\xA9\xC3", "\xC3\xA9" + kFffd},      // valid, then cut
      {"\xED\x9F\xBF", "\xED\x9F\xBF"},          // U+D7FF, just below surrogates
      {"\xEE\x80\x80", "\xEE\x80\x80"},          // U+E000, just above
      {"\xF0\x90\x80\x80", "\xF0\x90\x80\x80"},  // U+10000, smallest 4-byte
  };
  for (const auto& c : cases) {
    EXPECT_EQ(sanitize(c.in), c.out) << ::testing::PrintToString(c.in);
    EXPECT_EQ(valid_utf8(c.in), c.out) << ::testing::PrintToString(c.in);
    EXPECT_TRUE(is_valid_utf8(sanitize(c.in)));
  }
}

TEST(Sanitize, ControlCharactersAreShownNotObeyed) {
  EXPECT_EQ(sanitize("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(sanitize("a\nb\rc"), "a\\x0ab\\x0dc");  // no forged log lines
  EXPECT_EQ(sanitize(std::string("nul\0here", 8)), "nul\\x00here");
  EXPECT_EQ(sanitize("del\x7f"), "del\\x7f");
  EXPECT_EQ(sanitize("tab\tkept"), "tab\tkept");
  EXPECT_EQ(sanitize("\x1f\x20"), "\\x1f ");
  // valid_utf8 only repairs the encoding: line breaks stay meaningful.
  EXPECT_EQ(valid_utf8("a\nb\x1b"), "a\nb\x1b");
  // Both at once: the escape shown, the bad byte replaced.
  EXPECT_EQ(sanitize("\x1b\xFF"), "\\x1b" + kFffd);
}

// Regression test, the bug it caught (common/text.cpp, sanitize): the C1 control characters
// U+0080..U+009F are valid UTF-8 and pass through unchanged, although text.h promises that control
// characters other than tab become "\xNN". U+009B is CSI, a one-character escape-sequence
// introducer on terminals that honour C1 controls, so "\xC2\x9B" "2J" from an API answer can still
// clear such a terminal.
TEST(Sanitize, C1ControlCharactersAreShownNotObeyed) {
  const std::string csi = "\xC2\x9B";  // U+009B
  EXPECT_EQ(sanitize(csi + "2J").find(csi), std::string::npos) << sanitize(csi + "2J");
  EXPECT_EQ(sanitize("\xC2\x85").find("\xC2\x85"), std::string::npos);  // U+0085 NEXT LINE
}

TEST(DisplayWidth, CountsCodePointsNotBytes) {
  EXPECT_EQ(display_width(""), 0u);
  EXPECT_EQ(display_width("tunnel1"), 7u);
  EXPECT_EQ(display_width("Zürich"), 6u);  // ü is two bytes
  EXPECT_EQ(display_width("東京"), 2u);    // three bytes each
  EXPECT_EQ(display_width("😀!"), 2u);      // four bytes
  EXPECT_EQ(display_width(kFffd), 1u);
}

std::vector<std::string> wrapped(std::string_view s, size_t w) { return wrap(s, w); }

TEST(Wrap, BreaksBetweenWords) {
  EXPECT_EQ(wrapped("the quick brown fox", 10),
            (std::vector<std::string>{"the quick", "brown fox"}));
  EXPECT_EQ(wrapped("the quick brown fox", 9),
            (std::vector<std::string>{"the quick", "brown fox"}));
  EXPECT_EQ(wrapped("the quick brown fox", 100), (std::vector<std::string>{"the quick brown fox"}));
  EXPECT_EQ(wrapped("a   b", 10), (std::vector<std::string>{"a b"}));
}

TEST(Wrap, CutsWordsLongerThanTheLine) {
  EXPECT_EQ(wrapped("abcdefghijklm", 5), (std::vector<std::string>{"abcde", "fghij", "klm"}));
  EXPECT_EQ(wrapped("ab abcdefghij cd", 4),
            (std::vector<std::string>{"ab", "abcd", "efgh", "ij", "cd"}));
  // Cut between code points, never inside one.
  const auto lines = wrapped("ééééééééé", 4);
  EXPECT_EQ(lines, (std::vector<std::string>{"éééé", "éééé", "é"}));
  EXPECT_EQ(wrapped("東京東京東", 2), (std::vector<std::string>{"東京", "東京", "東"}));
}

TEST(Wrap, KeepsExistingLineBreaks) {
  EXPECT_EQ(wrapped("a\nb", 10), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(wrapped("a\n\nb", 10), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(wrapped("one two\nthree four", 9),
            (std::vector<std::string>{"one two", "three", "four"}));
  EXPECT_EQ(wrapped("", 10), (std::vector<std::string>{""}));  // never empty
  EXPECT_EQ(wrapped("abc", 0), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Wrap, NeverExceedsTheWidthAndLosesNothing) {
  const std::string text =
      "ERROR: Backup of VM 110 failed - vma_queue_write: write error - Broken pipe; "
      "UPID:pve1:000A1B2C:0B3C4D5E:6745F2A0:vzdump:110:root@pam: "
      "Zürich→東京 naïve café https://pbs.example.lan:8007/datastore/tunnels/ns/homelab/vm/110 "
      "x y z " +
      std::string(130, 'q') + " end";
  auto words_of = [](const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c != ' ' && c != '\n') out += c;
    }
    return out;
  };
  for (size_t width = 1; width <= 90; ++width) {
    const auto lines = wrap(text, width);
    std::string joined;
    for (const auto& line : lines) {
      EXPECT_LE(display_width(line), width) << "width " << width << ": \"" << line << "\"";
      EXPECT_TRUE(is_valid_utf8(line)) << "width " << width << ": cut inside a character";
      EXPECT_TRUE(line.empty() || (line.front() != ' ' && line.back() != ' ')) << line;
      joined += line;
    }
    EXPECT_EQ(words_of(joined), words_of(text)) << "width " << width;
  }
}

TEST(PrometheusLabel, EscapesWhatTheExpositionFormatNeedsAndRepairsUtf8) {
  EXPECT_EQ(prometheus_label("tunnel1"), "tunnel1");
  EXPECT_EQ(prometheus_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(prometheus_label("bad \xFF"), "bad " + kFffd);
}

}  // namespace
}  // namespace pvt::text
