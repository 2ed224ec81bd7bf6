#include "common/config_values.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <regex>

namespace pvt::config {
namespace {

bool is_ipv4(std::string_view s) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(s).c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view s) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(s).c_str(), &addr) == 1;
}

// RFC 1123 host names: labels of letters, digits and '-', not starting or ending with '-'.
bool is_host_name(std::string_view s) {
  static const std::regex pattern(
      R"(^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$)");
  return s.size() <= 253 && std::regex_match(s.begin(), s.end(), pattern);
}

std::optional<uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  if (s.empty() || s.size() > 5) return std::nullopt;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<HostPort, std::string> parse_host_port(std::string_view text, HostKind kind) {
  const std::string_view expected_form = kind == HostKind::ip_literal
                                             ? "IP:PORT (IPv6 as [::1]:PORT)"
                                             : "HOST:PORT (IPv6 as [::1]:PORT)";
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return tl::unexpected(fmt::format("expected {}, got \"{}\"", expected_form, text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ipv6(host)) {
      return tl::unexpected(fmt::format("\"{}\" is not an IPv6 address", host));
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return tl::unexpected(fmt::format("expected {}, got \"{}\"", expected_form, text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return tl::unexpected(
          fmt::format("IPv6 addresses need brackets, e.g. [::1]:PORT; got \"{}\"", text));
    }
    if (host.empty()) {
      return tl::unexpected(fmt::format("expected {}, got \"{}\"", expected_form, text));
    }
    if (kind == HostKind::ip_literal && !is_ipv4(host)) {
      return tl::unexpected(
          fmt::format("expected IP:PORT, got \"{}\": \"{}\" is not an IP address", text, host));
    }
    if (kind == HostKind::any_host && !is_ipv4(host) && !is_host_name(host)) {
      return tl::unexpected(fmt::format("\"{}\" is not a host name or IP address", host));
    }
  }
  auto port_number = parse_port(port);
  if (!port_number) {
    return tl::unexpected(fmt::format("port must be from 1 to 65535, got \"{}\"", port));
  }
  return HostPort{std::string(host), *port_number};
}

bool is_loopback_address(std::string_view ip) {
  in_addr v4{};
  if (inet_pton(AF_INET, std::string(ip).c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, std::string(ip).c_str(), &v6) == 1) {
    static const in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
    return std::equal(std::begin(v6.s6_addr), std::end(v6.s6_addr), std::begin(loopback.s6_addr));
  }
  return false;
}

std::optional<std::string> url_error(std::string_view url,
                                     const std::vector<std::string_view>& schemes) {
  std::string wanted;
  for (auto s : schemes) {
    if (!wanted.empty()) wanted += " or ";
    wanted += fmt::format("{}://", s);
  }
  auto scheme_end = url.find("://");
  std::string_view scheme =
      scheme_end == std::string_view::npos ? std::string_view{} : url.substr(0, scheme_end);
  if (std::find(schemes.begin(), schemes.end(), scheme) == schemes.end()) {
    return fmt::format("expected a URL starting with {}, got \"{}\"", wanted, url);
  }
  std::string_view rest = url.substr(scheme_end + 3);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  if (authority.find('@') != std::string_view::npos) {
    return fmt::format("credentials do not belong in the URL \"{}\"; use the token file", url);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos || !is_ipv6(authority.substr(1, close - 1))) {
      return fmt::format("invalid IPv6 host in URL \"{}\"", url);
    }
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return fmt::format("invalid host in URL \"{}\"", url);
      port = authority.substr(close + 2);
      if (!parse_port(port)) return fmt::format("invalid port in URL \"{}\"", url);
    }
  } else {
    auto colon = authority.find(':');
    if (colon != std::string_view::npos) {
      host = authority.substr(0, colon);
      port = authority.substr(colon + 1);
      if (!parse_port(port)) return fmt::format("invalid port in URL \"{}\"", url);
    }
    if (host.empty() || (!is_ipv4(host) && !is_host_name(host))) {
      return fmt::format("missing or invalid host in URL \"{}\"", url);
    }
  }
  return std::nullopt;
}

bool is_token_id(std::string_view text) {
  // Proxmox: user names without '@' / ':' / whitespace, realm ids, token ids starting with a
  // letter (pve-access-control's PVE::AccessControl::pve_verify_tokenid).
  static const std::regex pattern(R"(^[^\s:@!]+@[A-Za-z][A-Za-z0-9._-]*![A-Za-z][A-Za-z0-9._-]*$)");
  return std::regex_match(text.begin(), text.end(), pattern);
}

Result<std::string, std::string> normalise_fingerprint(std::string_view text) {
  static const std::regex pattern(R"(^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$)");
  if (!std::regex_match(text.begin(), text.end(), pattern)) {
    return tl::unexpected(fmt::format(
        "expected a SHA-256 fingerprint, 32 hex byte pairs separated by ':', got \"{}\"", text));
  }
  std::string upper(text);
  std::transform(upper.begin(), upper.end(), upper.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return upper;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitution});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates) {
  // A third of the word's length (at least 1, at most 3) catches typos, swapped letters and a
  // forgotten unit suffix without suggesting unrelated keys.
  const std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  std::optional<std::string> best;
  std::size_t best_distance = limit + 1;
  for (auto candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = std::string(candidate);
    }
  }
  return best;
}

}  // namespace pvt::config
