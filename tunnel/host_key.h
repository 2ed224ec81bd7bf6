// Host key verification against the configured known_hosts file (issue 4, "Session").
// Verification is mandatory: an unknown or changed key is refused with the fingerprint seen, as
// OpenSSH prints it, so the operator can compare it with the VPS's own `ssh-keygen -lf`. Trust on
// first use happens only when the operator asks for it once (`tunnel --accept-new-hostkey`).
#pragma once

#include <libssh2.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pvt::tunnel {

// "SHA256:<base64 without padding>" of a raw public key blob, as `ssh-keygen -l` prints it.
std::string openssh_fingerprint(std::string_view key_blob);

// How known_hosts names a host: "host" on port 22, "[host]:port" otherwise.
std::string known_hosts_name(std::string_view host, int port);

// The key algorithms the known_hosts file pins for host:port (plain and hashed entries), in file
// order, as libssh2 host key method names ("ssh-ed25519", "ecdsa-sha2-nistp256", ...). libssh2
// 1.10 prefers ECDSA over ed25519; offering only what is pinned keeps a VPS with both keys from
// presenting the one we do not know.
std::vector<std::string> pinned_key_methods(std::string_view known_hosts_text,
                                            std::string_view host, int port);

// The method preference string for libssh2_session_method_pref(LIBSSH2_METHOD_HOSTKEY):
// the pinned methods, or every method libssh2 knows (ed25519 first) when nothing is pinned.
std::string host_key_preference(const std::vector<std::string>& pinned);

enum class HostKeyVerdict { match, unknown, mismatch };

struct HostKeyCheck {
  HostKeyVerdict verdict = HostKeyVerdict::unknown;
  std::string fingerprint;  // of the key the server presented
  std::string key_type;     // e.g. "ssh-ed25519"
};

// The known_hosts file: a regular file of a sane size only (a FIFO would stop the worker's loop
// for good).
Result<std::string> read_known_hosts(const std::string& path);

// Checks the session's host key (after the handshake) against the known_hosts file.
Result<HostKeyCheck> check_host_key(LIBSSH2_SESSION* session, const std::string& known_hosts_file,
                                    const std::string& host, int port);

// Appends the session's host key for host:port to the known_hosts file (--accept-new-hostkey).
Result<void> append_host_key(LIBSSH2_SESSION* session, const std::string& known_hosts_file,
                             const std::string& host, int port);

}  // namespace pvt::tunnel
