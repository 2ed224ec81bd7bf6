#include "common/config_values.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

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

namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

// RFC 1123 host names: labels of 1-63 letters, digits and '-', not starting or ending with '-';
// an optional final dot. One pass over the text (no regex: std::regex recurses per character
// and overflows the stack on long input).
bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  if (s.back() == '.') s.remove_suffix(1);
  size_t start = 0;
  while (true) {
    size_t end = s.find('.', start);
    std::string_view label = s.substr(start, end == std::string_view::npos ? s.npos : end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    for (char c : label) {
      if (!is_alnum(c) && c != '-') return false;
    }
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
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

namespace {

// Realm and token ids: a letter, then letters, digits, '.', '_', '-'.
bool is_pve_id(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s.front()))) return false;
  for (char c : s) {
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

}  // namespace

bool is_token_id(std::string_view text) {
  // Proxmox: user names without '@' / ':' / whitespace, realm ids, token ids starting with a
  // letter (pve-access-control's PVE::AccessControl::pve_verify_tokenid).
  const size_t at = text.find('@');
  const size_t bang = text.find('!');
  if (at == std::string_view::npos || bang == std::string_view::npos || at == 0 || bang < at)
    return false;
  for (char c : text.substr(0, at)) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ':' || c == '!') return false;
  }
  return is_pve_id(text.substr(at + 1, bang - at - 1)) && is_pve_id(text.substr(bang + 1));
}

Result<std::string, std::string> normalise_fingerprint(std::string_view text) {
  // What people paste: `openssl x509 -fingerprint -sha256` prints "sha256 Fingerprint=AA:BB:..."
  // (older versions "SHA256 Fingerprint="), `pvenode cert info` the pairs alone; some tools leave
  // the colons out.
  std::string_view value = text;
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front())))
    value.remove_prefix(1);
  while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back())))
    value.remove_suffix(1);
  if (auto eq = value.find('='); eq != std::string_view::npos) {
    std::string prefix(value.substr(0, eq));
    std::transform(prefix.begin(), prefix.end(), prefix.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (prefix == "sha256 fingerprint") value.remove_prefix(eq + 1);
  }
  std::string hex;
  bool well_formed = value.size() == 64 || value.size() == 95;
  for (size_t i = 0; well_formed && i < value.size(); ++i) {
    const bool separator_position = value.size() == 95 && i % 3 == 2;
    if (separator_position) {
      well_formed = value[i] == ':';
    } else {
      well_formed = is_hex(value[i]);
      hex += static_cast<char>(std::toupper(static_cast<unsigned char>(value[i])));
    }
  }
  if (!well_formed) {
    return tl::unexpected(fmt::format(
        "expected a SHA-256 certificate fingerprint (32 hex byte pairs, with or without ':', as "
        "`openssl x509 -noout -fingerprint -sha256` or `pvenode cert info` print it), got \"{}\"",
        text.size() > 120 ? std::string(text.substr(0, 120)) + "..." : std::string(text)));
  }
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    if (i > 0) out += ':';
    out += hex.substr(i, 2);
  }
  return out;
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
