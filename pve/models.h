// Typed views of the Proxmox VE API answers the product uses. The real API returns numbers as
// strings in places, booleans as 0/1, and omits keys that have their default: every parse_*
// accepts each of those shapes and fails (ErrorKind::malformed, naming the field) only when a
// value cannot mean what the field needs.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "pve/error.h"

namespace pvt::pve {

using Json = nlohmann::json;

template <class T>
using ApiResult = Result<T, ApiError>;

// GET /version
struct Version {
  std::string version;  // "8.2.4"
  std::string release;  // "8.2"
  std::string repoid;
};

// GET /cluster/status
struct ClusterNode {
  std::string name;
  std::optional<int64_t> nodeid;
  std::string ip;
  bool online = false;
  bool local = false;
};
struct ClusterStatus {
  bool is_cluster = false;  // false: standalone node (no "cluster" entry)
  std::string cluster_name;
  std::optional<bool> quorate;            // absent on a standalone node
  std::optional<int64_t> expected_nodes;  // "nodes" of the cluster entry
  std::vector<ClusterNode> nodes;
};

// GET /cluster/config/qdevice ({} when none runs)
struct QDevice {
  bool configured = false;
  Json raw;
};

// GET /cluster/resources?type=vm
struct VmResource {
  std::string id;    // "qemu/110"
  std::string type;  // "qemu" | "lxc"
  int64_t vmid = 0;
  std::string name;
  std::string node;
  std::string status;  // "running", "stopped", "unknown", ...
  bool is_template = false;
  std::optional<std::string> lock;
  std::optional<std::string> pool;
  std::optional<std::string> hastate;
};

// GET /cluster/resources?type=storage
struct StorageResource {
  std::string storage;
  std::string node;
  std::vector<std::string> content;  // "images,rootdir,backup" split
  std::string plugintype;            // "dir", "pbs", "lvmthin", ...
  std::string status;                // "available", ...
  bool shared = false;
  bool has_content(std::string_view c) const;
};

// GET /nodes/{node}/{qemu|lxc}/{vmid}/status/current
struct GuestStatus {
  std::string status;  // "running" | "stopped"
  std::optional<std::string> qmpstatus;
  std::optional<std::string> lock;
  bool is_template = false;
  bool ha_managed = false;
  std::string name;
  int64_t uptime = 0;
};

// GET /nodes/{node}/{qemu|lxc}/{vmid}/config
struct StartupSpec {
  std::optional<int64_t> order;
  std::optional<int64_t> up;
  std::optional<int64_t> down;
};
// "order=1,up=30,down=60" or a bare "1" (order); nullopt when unparsable.
std::optional<StartupSpec> parse_startup(std::string_view text);

struct GuestConfig {
  bool onboot = false;                 // absent means 0
  std::optional<std::string> startup;  // raw property, absent means unset
  bool is_template = false;
  std::optional<std::string> lock;
  std::string name;  // qemu "name" or lxc "hostname"
  std::string digest;
  Json raw;
};

// UPID:node:PID(8 hex):PSTART(8 hex):STARTTIME(8 hex):type:id:user:
struct Upid {
  std::string text;
  std::string node;
  uint32_t pid = 0;
  uint32_t pstart = 0;
  int64_t starttime = 0;
  std::string type;
  std::string id;
  std::string user;
  static std::optional<Upid> parse(std::string_view text);
};

// GET /nodes/{node}/tasks/{upid}/status
struct TaskStatus {
  std::string upid;
  std::string node;
  std::string status;  // "running" | "stopped"
  std::optional<std::string> exitstatus;
  std::string type;
  std::string id;
  std::string user;
  int64_t starttime = 0;
  bool running() const { return status == "running"; }
};

// Task exit status semantics: "OK" and "WARNINGS: N" succeed, anything else fails.
bool exitstatus_ok(std::string_view exitstatus);
std::optional<int> exitstatus_warnings(std::string_view exitstatus);

// GET /nodes/{node}/tasks/{upid}/log
struct TaskLogLine {
  int64_t n = 0;
  std::string t;
};

// GET /nodes/{node}/tasks?typefilter=vzdump
struct TaskListEntry {
  std::string upid;
  std::string node;
  std::string type;
  std::string id;  // empty for a job that backs up several guests
  std::string user;
  int64_t starttime = 0;
  std::optional<int64_t> endtime;
  std::optional<std::string> status;  // exit status once finished; absent while running
};

// GET /cluster/backup
struct BackupJob {
  std::string id;
  std::string schedule;  // calendar event, e.g. "sun 01:00"
  bool enabled = true;   // absent means enabled
  std::vector<int64_t> vmids;
  bool all = false;
  std::vector<int64_t> exclude;
  std::optional<std::string> pool;
  std::optional<std::string> node;
  std::optional<std::string> storage;
  std::optional<std::string> mode;
  std::map<std::string, std::string> prune_backups;  // values as strings ("keep-last" -> "3")
  std::optional<std::string> comment;
  Json raw;
};

// GET /cluster/backup-info/not-backed-up
struct NotBackedUp {
  int64_t vmid = 0;
  std::string name;
  std::string type;
};

// GET /nodes/{node}/storage/{storage}/content?content=backup
struct Verification {
  std::string state;  // "ok" | "failed" | ...
  std::string upid;
};
struct BackupVolume {
  std::string volid;    // "pbs1:backup/vm/110/2026-11-22T01:00:03Z"
  std::string storage;  // filled in by the client from the request
  int64_t vmid = 0;
  int64_t ctime = 0;
  int64_t size = 0;
  std::string format;
  std::string subtype;  // "qemu" | "lxc"
  std::string notes;
  bool is_protected = false;
  bool encrypted = false;
  std::optional<Verification> verification;
};

// GET /access/permissions: effective privileges per ACL path.
struct Permissions {
  // path -> privilege -> propagate (whether it also holds below the path)
  std::map<std::string, std::map<std::string, bool>> by_path;
  // Effective at `path`: the nearest listed path decides ("/vms/110" -> "/vms" -> "/"); a
  // privilege at the path itself counts whatever its propagate flag, at an ancestor only when it
  // propagates.
  bool has(std::string_view path, std::string_view privilege) const;
};

// GET /nodes
struct NodeEntry {
  std::string node;
  std::string status;  // "online" | "offline" | "unknown"
  std::optional<std::string> ssl_fingerprint;
  bool online() const { return status == "online"; }
};

// GET /pools/{poolid}
struct PoolMember {
  std::string id;
  std::string type;
  std::optional<int64_t> vmid;
  std::string node;
};
struct Pool {
  std::string poolid;
  std::vector<PoolMember> members;
};

// GET /nodes/{node}/time
struct NodeTime {
  std::string timezone;  // "Europe/Vienna"
  int64_t time = 0;      // UTC epoch
  int64_t localtime = 0;
};

// GET /storage
struct StorageConfig {
  std::string storage;
  std::string type;
  std::vector<std::string> content;
  std::map<std::string, std::string> prune_backups;
  bool shared = false;
  bool disabled = false;
  std::vector<std::string> nodes;  // empty: all nodes
};

// Parsers take the "data" member of the answer. `what` names the endpoint in errors.
ApiResult<Version> parse_version(const Json& data);
ApiResult<ClusterStatus> parse_cluster_status(const Json& data);
ApiResult<QDevice> parse_qdevice(const Json& data);
ApiResult<std::vector<VmResource>> parse_vm_resources(const Json& data);
ApiResult<std::vector<StorageResource>> parse_storage_resources(const Json& data);
ApiResult<GuestStatus> parse_guest_status(const Json& data);
ApiResult<GuestConfig> parse_guest_config(const Json& data);
ApiResult<TaskStatus> parse_task_status(const Json& data);
ApiResult<std::vector<TaskLogLine>> parse_task_log(const Json& data);
ApiResult<std::vector<TaskListEntry>> parse_task_list(const Json& data);
ApiResult<std::vector<BackupJob>> parse_backup_jobs(const Json& data);
ApiResult<std::vector<NotBackedUp>> parse_not_backed_up(const Json& data);
ApiResult<std::vector<BackupVolume>> parse_backup_volumes(const Json& data,
                                                          const std::string& storage);
ApiResult<Permissions> parse_permissions(const Json& data);
ApiResult<std::vector<NodeEntry>> parse_nodes(const Json& data);
ApiResult<Pool> parse_pool(const Json& data, const std::string& poolid);
ApiResult<NodeTime> parse_node_time(const Json& data);
ApiResult<std::vector<StorageConfig>> parse_storage_configs(const Json& data);

}  // namespace pvt::pve
