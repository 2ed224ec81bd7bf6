// Checks for the textual values of the config file (docs/configuration.md): addresses, URLs, token
// ids, fingerprints, and the "did you mean" hint for misspelt keys. Pure functions on strings, so
// the loader stays about structure and positions, and these rules are testable on their own.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace pvt::config {

// Which host part an address key accepts.
enum class HostKind {
  ip_literal,  // IPv4 or bracketed IPv6, e.g. a bind address ("IP:PORT" in the docs)
  any_host,    // also a DNS name ("HOST:PORT" in the docs)
};

// Parses "HOST:PORT" ("[::1]:9190" for IPv6). The error is a message for the user.
Result<HostPort, std::string> parse_host_port(std::string_view text, HostKind kind);

// True for 127.0.0.0/8 and ::1 (also written in long form), the only addresses on which a
// listener is not reachable from other machines.
bool is_loopback_address(std::string_view ip);

// Checks a URL whose scheme is one of `schemes` (e.g. {"https"}) and whose host is not empty;
// returns the user-facing error, or nullopt when the URL is acceptable.
std::optional<std::string> url_error(std::string_view url,
                                     const std::vector<std::string_view>& schemes);

// True for Proxmox API token ids "USER@REALM!TOKENID".
bool is_token_id(std::string_view text);

// A SHA-256 certificate fingerprint as `openssl x509 -fingerprint -sha256` ("sha256
// Fingerprint=" prefix) or `pvenode cert info` print it, with or without ':' between the 32 hex
// byte pairs; returns "AA:BB:..." in upper case.
Result<std::string, std::string> normalise_fingerprint(std::string_view text);

// Levenshtein distance; used to suggest the key a user probably meant.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a plausible typo.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string_view>& candidates);

}  // namespace pvt::config
