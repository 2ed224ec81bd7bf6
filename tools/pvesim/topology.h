// The simulator's world: what a topology file describes and what the API changes.
// docs/pvesim.md documents the file format.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "tools/pvesim/access.h"

namespace pvt::sim {

using Json = nlohmann::json;

struct Node {
  std::string name;
  std::string ip;
  bool online = true;
  std::string timezone = "UTC";
};

struct Guest {
  int64_t vmid = 0;
  std::string type;  // qemu | lxc
  std::string node;
  std::string name;
  std::string status = "stopped";  // running | stopped
  bool is_template = false;
  std::optional<std::string> lock;
  std::optional<std::string> pool;
  bool ha_managed = false;
  Json config = Json::object();  // key -> value as GET config shows it (absent keys: defaults)
};

struct Storage {
  std::string id;
  std::string type;  // dir, pbs, lvmthin, nfs, ...
  std::vector<std::string> content;
  bool shared = false;
  std::vector<std::string> nodes;  // empty: every node
  std::string prune_backups;       // "keep-last=3,keep-weekly=4"
  bool has_content(const std::string& c) const;
  bool on_node(const std::string& n) const;
};

struct BackupVolume {
  std::string storage;
  std::string volid;
  int64_t vmid = 0;
  std::string subtype;  // qemu | lxc
  int64_t ctime = 0;
  int64_t size = 0;
  std::string format;
  std::string notes;
  bool is_protected = false;
  std::optional<std::string> verification;  // ok | failed
  std::string guest_config;                 // what extractconfig returns
  bool unreadable = false;                  // extractconfig fails, as for a damaged archive
};

struct Job {
  Json raw;  // as GET /cluster/backup returns it
};

struct Task {
  std::string upid;
  std::string node;
  std::string type;
  std::string id;
  std::string user;
  int64_t starttime = 0;
  int64_t endtime = 0;  // when it finishes (or finished)
  bool finished = false;
  std::string exitstatus;
  std::vector<std::string> log;
};

struct Token {
  std::string id;  // user@realm!name
  std::string secret;
  // The format before [[user]]: privileges the token is given on each path (propagating). When
  // its user is not declared with [[user]], the user is given the same, so that the token has
  // exactly these privileges whatever privsep says.
  std::map<std::string, std::set<std::string>> acl;
  bool privsep = true;  // PVE's default: the token's own ACLs, intersected with its user's
  std::string comment;
  int64_t expire = 0;
  std::string user() const;
};

// One `pveum acl modify PATH --roles R --users U --tokens T [--propagate 0]`.
struct AclGrant {
  std::string path;
  std::vector<std::string> roles, users, tokens;
  bool propagate = true;
};

struct Faults {
  int latency_ms = 0;
  double error_rate = 0;
  std::set<std::string> offline_nodes;
  bool quorum_lost = false;
  std::vector<std::string> garbage_paths;           // path prefixes answered with broken JSON
  std::map<int64_t, std::string> fail_next_vzdump;  // vmid -> error message
  std::map<int64_t, std::string> fail_next_start;
  // vmid -> (message, how many starts in a row fail).
  std::map<int64_t, std::pair<std::string, int>> fail_starts;
  // vmid of the new guest -> message: the restore stops midway and leaves the half-restored
  // guest behind (as a restore whose own clean-up failed, or one killed midway, does).
  std::map<int64_t, std::string> fail_next_restore;
  std::map<int64_t, std::string> fail_next_destroy;  // the guest stays
};

struct Timing {
  int start_delay_ms = 1000;
  int vzdump_duration_ms = 2000;
  int auth_failure_delay_ms = 3000;  // real PVE delays rejected authentication
  int restore_duration_ms = 2000;
  int destroy_duration_ms = 500;
};

struct Topology {
  std::optional<std::string> cluster_name;  // nullopt: standalone node
  bool qdevice = false;
  std::string version = "8.2.4";
  std::vector<Node> nodes;
  std::vector<Guest> guests;
  std::vector<Storage> storages;
  std::vector<Job> jobs;
  std::vector<BackupVolume> backups;
  std::map<std::string, Json> pools;  // poolid -> {"members": [...]} built from guests
  std::vector<Task> tasks;
  std::vector<Token> tokens;
  std::vector<User> users;                             // [[user]]
  std::map<std::string, std::set<std::string>> roles;  // [[role]]: id -> privileges
  std::vector<AclGrant> acls;                          // [[acl]]
  Timing timing;
  Faults faults;
};

// Reads a topology TOML file; ages (age_h) are taken relative to `now` (epoch seconds).
Result<Topology> load_topology(const std::string& path, int64_t now);
Result<Topology> parse_topology(const std::string& text, const std::string& path, int64_t now);

// user.cfg as the topology describes it: built-in and declared roles, the users (declared, or
// implied by a token), the tokens, the ACLs (the legacy per-token privileges as roles of their
// own), and the pools of the guests.
Access make_access(const Topology& t);

// PVE's split_list: items separated by commas, semicolons or blanks (privilege, role, user lists).
std::vector<std::string> pve_list(const std::string& text);

std::string backup_volid(const Storage& s, const std::string& subtype, int64_t vmid, int64_t ctime);
std::string make_upid(const std::string& node, const std::string& type, const std::string& id,
                      const std::string& user, int64_t start, uint32_t pid);

}  // namespace pvt::sim
