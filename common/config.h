// The one config file (docs/configuration.md): typed model, loading and validation.
// Key names are a contract with Ansible and users: add keys, never rename them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace pvt::config {

inline constexpr const char* kDefaultPath = "/etc/pvectl-tunnel/config.toml";

enum class GuestType { qemu, lxc };
enum class TunnelRole { primary, backup };

// The command whose needs decide which sections and files are validated (the "read by" column
// of docs/configuration.md).
enum class Command { check, controller, tunnel, backup, vps };

std::string_view to_string(GuestType t);
std::string_view to_string(TunnelRole r);
std::string_view to_string(Command c);
std::optional<Command> command_from_string(std::string_view s);

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string str() const;  // "host:port", IPv6 in brackets
};

struct PveSection {
  std::vector<std::string> endpoints;  // https URLs, tried in order
  std::string token_id;                // USER@REALM!TOKENID
  std::string token_secret_file;       // 0600
  std::string token_secret;            // read from token_secret_file when the command needs it
  std::optional<std::string> ca_file;
  // Pinned SHA-256 certificate fingerprints, "AA:BB:..." upper case: any one may match (each
  // node serves its own certificate).
  std::vector<std::string> fingerprints;
  bool insecure = false;
  int timeout_s = 10;
};

struct Guest {
  std::string name;
  std::string node;
  int64_t vmid = 0;
  GuestType type = GuestType::qemu;
  std::optional<int> startup_order;  // unset: startup not checked
};

struct Tunnel {
  std::string name;
  std::string guest;
  TunnelRole role = TunnelRole::primary;
  std::string vps_host;
  int vps_port = 22;
  std::string user;
  std::string key_file;
  std::optional<std::string> passphrase_file;
  std::string known_hosts_file;
  HostPort remote;
  bool allow_public_bind = false;
  HostPort local;
  int keepalive_interval_s = 10;
  int keepalive_count_max = 3;
  bool probe = true;
  std::string probe_path = "/healthz";
  int probe_interval_s = 10;
  int probe_failures_max = 3;
  int forward_pending_max_s = 60;
  int drain_timeout_s = 30;
  HostPort control_listen{"127.0.0.1", 9190};
  // A control API on anything but loopback is a new door: only when asked for (and warned about).
  bool allow_remote_control = false;
  // Forwarded connections relayed at once; beyond it new ones are refused (and logged). Each can
  // pin about 2.5 MiB (libssh2's fixed receive window plus our buffers) when the VPS side stalls.
  int max_connections = 1024;
  std::optional<std::string> control_url;
  std::optional<std::string> control_token_file;
  std::string control_token;  // read from control_token_file when the command needs it
};

struct BackupSection {
  std::optional<std::string> storage;
  int max_age_h = 192;
  int grace_h = 12;
  // A backup younger than this may still wait for its first verification (PBS verify jobs run
  // after the backup window); older and still unverified is a WARNING.
  int verify_grace_h = 36;
  std::optional<int64_t> restore_test_vmid;
  std::optional<std::string> restore_test_storage;
};

struct ControllerSection {
  int interval_s = 10;
  std::vector<std::string> enforce;  // subset of start, onboot, backup, reconnect
  HostPort listen{"127.0.0.1", 9191};
  std::string lock_dir = "/etc/pve/priv/lock";
  // Cluster-wide flags (planned maintenance) live here, on the cluster filesystem, so that a
  // restart or another node's controller sees them; default <lock_dir>/../pvectl-tunnel.
  std::string state_dir = "/etc/pve/priv/pvectl-tunnel";
  int lease_s = 120;
  int start_min_interval_s = 60;
  int start_backoff_max_s = 900;
  int reconnect_after_cycles = 3;
  int backup_check_interval_s = 300;
  std::string audit_log = "/var/log/pvectl-tunnel/audit.jsonl";
  std::optional<std::string> token_file;
  std::string token;  // read from token_file when the command needs it

  bool enforces(std::string_view action) const;
};

struct VpsSection {
  std::optional<std::string> public_url;
};

struct Config {
  std::string path;
  std::optional<PveSection> pve;  // absent when the file has no [pve] table
  std::vector<Guest> guests;
  std::vector<Tunnel> tunnels;
  BackupSection backup;
  ControllerSection controller;
  VpsSection vps;

  const Guest* find_guest(std::string_view name) const;
  const Tunnel* find_tunnel(std::string_view name) const;
};

// One validation problem, printed as `FILE:LINE:COLUMN: KEY: message`.
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key;  // dotted, e.g. "tunnel[1].remote"; empty for file-level problems
  std::string message;

  std::string format() const;
};

using Problems = std::vector<Problem>;

struct ParseOptions {
  // false: skip the checks of files named by keys (exist, readable, 0600) and leave secrets
  // empty; for validating a config written for another machine, such as the shipped examples.
  bool check_files = true;
};

// Parses and validates `text` (named `path` in messages) for `command`: every problem at once.
// Files named by keys the command reads are checked (exist, readable, secrets 0600) and
// secrets are read into the model.
// Relative paths in the file are resolved against the directory of `path`.
Result<Config, Problems> parse(std::string_view text, const std::string& path, Command command,
                               const ParseOptions& options = {});

// Reads `path`, then parse(). A missing or unreadable file is one Problem at line 0.
Result<Config, Problems> load(const std::string& path, Command command,
                              const ParseOptions& options = {});

}  // namespace pvt::config
