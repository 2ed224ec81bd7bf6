// Test support: which OpenSSH the test sshd is, from what `sshd -V` (or `ssh -V`) prints, e.g.
// "OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026" or "OpenSSH_10.0p2 Debian-7".
// Test sshd_configs may only carry keywords that version knows: sshd refuses to start on an
// unknown one ("Bad configuration option").
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace pvt::testing {

struct OpenSshVersion {
  int major = 0;
  int minor = 0;
  friend bool operator==(const OpenSshVersion&, const OpenSshVersion&) = default;
  friend auto operator<=>(const OpenSshVersion&, const OpenSshVersion&) = default;
};

// The first "OpenSSH_<major>.<minor>" in `text`; nullopt when there is none.
inline std::optional<OpenSshVersion> parse_openssh_version(std::string_view text) {
  constexpr std::string_view kTag = "OpenSSH_";
  for (size_t at = text.find(kTag); at != std::string_view::npos; at = text.find(kTag, at + 1)) {
    size_t i = at + kTag.size();
    auto number = [&](int& out) {
      const size_t start = i;
      long long v = 0;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - start < 6) {
        v = v * 10 + (text[i] - '0');
        ++i;
      }
      out = static_cast<int>(v);
      return i > start && (i == text.size() || text[i] < '0' || text[i] > '9');
    };
    OpenSshVersion v;
    if (!number(v.major)) continue;
    if (i >= text.size() || text[i] != '.') continue;
    ++i;
    if (!number(v.minor)) continue;
    return v;
  }
  return std::nullopt;
}

// OpenSSH 9.8 added PerSourcePenalties (and PerSourcePenaltyExemptList), on by default.
inline bool has_per_source_penalties(const OpenSshVersion& v) { return v >= OpenSshVersion{9, 8}; }

// Global sshd_config lines that depend on the sshd's version.
inline std::string version_dependent_config(const std::optional<OpenSshVersion>& version) {
  std::string out;
  if (version && has_per_source_penalties(*version)) {
    // OpenSSH >= 9.8 refuses a source address whose connections failed or skipped
    // authentication once their penalties add up to more than 15 s, for up to 10 min
    // (PerSourcePenalties, on by default). Every test connects from 127.0.0.1, and some fail on
    // purpose (wrong key, wrong host key): off, so one test cannot lock the next out. Older
    // sshd (Debian 12 has 9.2) stops at the keyword ("Bad configuration option"), so it is
    // written only for those that know it.
    out += "PerSourcePenalties no\n";
  }
  return out;
}

}  // namespace pvt::testing
