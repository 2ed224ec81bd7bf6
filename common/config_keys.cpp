#include "common/config_keys.h"

namespace pvt::config {

const std::vector<KnownSection>& known_sections() {
  static const std::vector<KnownSection> sections = {
      {"pve",
       false,
       {"endpoints", "token_id", "token_secret_file", "ca_file", "fingerprint", "insecure",
        "timeout_s"}},
      {"guest", true, {"name", "node", "vmid", "type", "startup_order"}},
      {"tunnel",
       true,
       {"name",
        "guest",
        "role",
        "vps_host",
        "vps_port",
        "user",
        "key_file",
        "passphrase_file",
        "known_hosts_file",
        "remote",
        "allow_public_bind",
        "local",
        "keepalive_interval_s",
        "keepalive_count_max",
        "probe",
        "probe_path",
        "probe_interval_s",
        "probe_failures_max",
        "forward_pending_max_s",
        "drain_timeout_s",
        "control_listen",
        "allow_remote_control",
        "max_connections",
        "control_url",
        "control_token_file"}},
      {"backup",
       false,
       {"storage", "max_age_h", "grace_h", "verify_grace_h", "restore_test_vmid",
        "restore_test_storage"}},
      {"controller",
       false,
       {"interval_s", "enforce", "listen", "lock_dir", "state_dir", "lease_s",
        "start_min_interval_s", "start_backoff_max_s", "reconnect_after_cycles",
        "backup_check_interval_s", "audit_log", "token_file"}},
      {"vps", false, {"public_url"}},
  };
  return sections;
}

const KnownSection* find_known_section(std::string_view name) {
  for (const auto& s : known_sections()) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const std::vector<std::string_view>& known_section_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> out;
    for (const auto& s : known_sections()) out.push_back(s.name);
    return out;
  }();
  return names;
}

}  // namespace pvt::config
