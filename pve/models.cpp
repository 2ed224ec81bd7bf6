#include "pve/models.h"

#include <fmt/format.h>

#include "common/text.h"

#include <charconv>
#include <sstream>

#include "pve/json_fields.h"

// Unwraps an ApiResult into `var` or returns its error from the enclosing parser.
#define PVT_TRY(var, expr)                                        \
  auto var##_result = (expr);                                     \
  if (!var##_result) return tl::unexpected(var##_result.error()); \
  auto var = std::move(*var##_result)

// Returns the error of a void ApiResult from the enclosing parser.
#define PVT_CHECK(expr) \
  if (auto check_result = (expr); !check_result) return tl::unexpected(check_result.error())

namespace pvt::pve {
namespace {

using fields::malformed;

ApiResult<void> expect_object(const Json& data, const char* what) {
  if (!data.is_object()) {
    return tl::unexpected(
        malformed(fmt::format("{}: expected an object, got {}", what, data.type_name())));
  }
  return {};
}

ApiResult<void> expect_array(const Json& data, const char* what) {
  if (!data.is_array()) {
    return tl::unexpected(
        malformed(fmt::format("{}: expected a list, got {}", what, data.type_name())));
  }
  return {};
}

// Element `i` of a list named `what`, prefixing its errors with the position.
template <class T, class F>
ApiResult<std::vector<T>> parse_list(const Json& data, const char* what, F&& one) {
  PVT_CHECK(expect_array(data, what));
  std::vector<T> out;
  out.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    if (!data[i].is_object()) {
      return tl::unexpected(malformed(fmt::format("{}[{}]: expected an object", what, i)));
    }
    auto item = one(data[i]);
    if (!item) {
      ApiError e = item.error();
      e.message = fmt::format("{}[{}]: {}", what, i, e.message);
      return tl::unexpected(e);
    }
    out.push_back(std::move(*item));
  }
  return out;
}

ApiResult<std::vector<int64_t>> vmid_list(const Json& obj, const char* key) {
  std::vector<int64_t> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (it->is_number_integer()) return std::vector<int64_t>{it->get<int64_t>()};
  if (!it->is_string()) {
    return tl::unexpected(malformed(fmt::format("field \"{}\": expected a vmid list", key)));
  }
  for (const auto& part : text::split_list(it->get<std::string>(), ',')) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc() || p != part.data() + part.size()) {
      return tl::unexpected(
          malformed(fmt::format("field \"{}\": \"{}\" is not a vmid", key, part)));
    }
    out.push_back(v);
  }
  return out;
}

// prune-backups comes as an object ({"keep-last":"3"} or numbers) or, in /storage, as the
// property string "keep-last=3,keep-weekly=4".
ApiResult<std::map<std::string, std::string>> prune_settings(const Json& obj) {
  std::map<std::string, std::string> out;
  auto it = obj.find("prune-backups");
  if (it == obj.end() || it->is_null()) return out;
  if (it->is_object()) {
    for (const auto& [k, v] : it->items()) {
      if (v.is_string()) {
        out[k] = v.get<std::string>();
      } else if (v.is_number_integer()) {
        out[k] = std::to_string(v.get<int64_t>());
      } else if (v.is_boolean()) {
        out[k] = v.get<bool>() ? "1" : "0";
      } else {
        return tl::unexpected(
            malformed(fmt::format("field \"prune-backups.{}\": unexpected {}", k, v.type_name())));
      }
    }
    return out;
  }
  if (it->is_string()) {
    for (const auto& part : text::split_list(it->get<std::string>(), ',')) {
      auto eq = part.find('=');
      if (eq == std::string::npos) {
        return tl::unexpected(
            malformed(fmt::format("field \"prune-backups\": \"{}\" is not key=value", part)));
      }
      out[part.substr(0, eq)] = part.substr(eq + 1);
    }
    return out;
  }
  return tl::unexpected(malformed("field \"prune-backups\": expected an object or a string"));
}

ApiResult<std::vector<std::string>> content_list(const Json& obj) {
  PVT_TRY(content, fields::opt_string(obj, "content"));
  if (!content) return std::vector<std::string>{};
  return text::split_list(*content, ',');
}

}  // namespace

bool StorageResource::has_content(std::string_view c) const {
  for (const auto& x : content) {
    if (x == c) return true;
  }
  return false;
}

std::optional<StartupSpec> parse_startup(std::string_view text) {
  StartupSpec spec;
  auto parse_num = [](std::string_view s) -> std::optional<int64_t> {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
  };
  for (const auto& part : text::split_list(text, ',')) {
    auto eq = part.find('=');
    std::string_view key = eq == std::string::npos ? "order" : std::string_view(part).substr(0, eq);
    std::string_view value =
        eq == std::string::npos ? std::string_view(part) : std::string_view(part).substr(eq + 1);
    auto v = parse_num(value);
    if (!v) return std::nullopt;
    if (key == "order") {
      spec.order = v;
    } else if (key == "up") {
      spec.up = v;
    } else if (key == "down") {
      spec.down = v;
    } else {
      return std::nullopt;
    }
  }
  return spec;
}

std::optional<Upid> Upid::parse(std::string_view text) {
  // UPID:node:PID:PSTART:STARTTIME:type:id:user:  — the id may be empty and the user (a token
  // "root@pam!name") has no ':' in it, so a plain split works.
  std::vector<std::string> parts;
  std::string cur;
  for (char c : text) {
    if (c == ':') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) return std::nullopt;  // must end with ':'
  if (parts.size() != 8 || parts[0] != "UPID" || parts[1].empty()) return std::nullopt;
  auto hex = [](const std::string& s, int64_t& out) {
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
    return ec == std::errc() && p == s.data() + s.size();
  };
  int64_t pid = 0, pstart = 0, start = 0;
  if (!hex(parts[2], pid) || !hex(parts[3], pstart) || !hex(parts[4], start)) return std::nullopt;
  if (parts[5].empty() || parts[7].empty()) return std::nullopt;
  Upid u;
  u.text = std::string(text);
  u.node = parts[1];
  u.pid = static_cast<uint32_t>(pid);
  u.pstart = static_cast<uint32_t>(pstart);
  u.starttime = start;
  u.type = parts[5];
  u.id = parts[6];
  u.user = parts[7];
  return u;
}

bool exitstatus_ok(std::string_view exitstatus) {
  return exitstatus == "OK" || exitstatus_warnings(exitstatus).has_value();
}

std::optional<int> exitstatus_warnings(std::string_view exitstatus) {
  constexpr std::string_view prefix = "WARNINGS: ";
  if (exitstatus.substr(0, prefix.size()) != prefix) return std::nullopt;
  auto rest = exitstatus.substr(prefix.size());
  int n = 0;
  auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
  if (ec != std::errc() || p != rest.data() + rest.size()) return std::nullopt;
  return n;
}

bool Permissions::has(std::string_view path, std::string_view privilege) const {
  std::string p(path);
  while (true) {
    auto it = by_path.find(p);
    if (it != by_path.end()) {
      // The flag is "propagate": a privilege held at the path itself counts either way, one held
      // at an ancestor only when it propagates.
      auto priv = it->second.find(std::string(privilege));
      return priv != it->second.end() && (p == path || priv->second);
    }
    if (p == "/" || p.empty()) return false;
    auto slash = p.rfind('/');
    p = slash == 0 ? "/" : p.substr(0, slash);
  }
}

ApiResult<Version> parse_version(const Json& data) {
  PVT_CHECK(expect_object(data, "version"));
  PVT_TRY(version, fields::req_string(data, "version"));
  PVT_TRY(release, fields::opt_string(data, "release"));
  PVT_TRY(repoid, fields::opt_string(data, "repoid"));
  return Version{version, release.value_or(""), repoid.value_or("")};
}

ApiResult<ClusterStatus> parse_cluster_status(const Json& data) {
  PVT_CHECK(expect_array(data, "cluster status"));
  ClusterStatus cs;
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& e = data[i];
    if (!e.is_object())
      return tl::unexpected(malformed(fmt::format("cluster status[{}]: expected an object", i)));
    PVT_TRY(type, fields::req_string(e, "type"));
    if (type == "cluster") {
      cs.is_cluster = true;
      PVT_TRY(name, fields::opt_string(e, "name"));
      PVT_TRY(quorate, fields::opt_bool(e, "quorate"));
      PVT_TRY(nodes, fields::opt_int(e, "nodes"));
      cs.cluster_name = name.value_or("");
      cs.quorate = quorate;
      cs.expected_nodes = nodes;
    } else if (type == "node") {
      ClusterNode n;
      PVT_TRY(name, fields::req_string(e, "name"));
      PVT_TRY(nodeid, fields::opt_int(e, "nodeid"));
      PVT_TRY(ip, fields::opt_string(e, "ip"));
      PVT_TRY(online, fields::opt_bool(e, "online"));
      PVT_TRY(local, fields::opt_bool(e, "local"));
      n.name = name;
      n.nodeid = nodeid;
      n.ip = ip.value_or("");
      n.online = online.value_or(false);
      n.local = local.value_or(false);
      cs.nodes.push_back(std::move(n));
    }
  }
  return cs;
}

ApiResult<QDevice> parse_qdevice(const Json& data) {
  if (data.is_null()) return QDevice{false, data};
  PVT_CHECK(expect_object(data, "qdevice"));
  return QDevice{!data.empty(), data};
}

ApiResult<std::vector<VmResource>> parse_vm_resources(const Json& data) {
  PVT_CHECK(expect_array(data, "cluster resources"));
  std::vector<VmResource> out;
  out.reserve(data.size());
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& e = data[i];
    if (!e.is_object())
      return tl::unexpected(malformed(fmt::format("cluster resources[{}]: expected an object", i)));
    auto t = e.find("type");
    if (t == e.end() || !t->is_string()) continue;
    const auto& type = t->get_ref<const std::string&>();
    if (type != "qemu" && type != "lxc") continue;  // the unfiltered list has nodes, storages...
    auto item = [&]() -> ApiResult<VmResource> {
      VmResource r;
      r.type = type;
      PVT_TRY(id, fields::opt_string(e, "id"));
      PVT_TRY(vmid, fields::req_int(e, "vmid"));
      PVT_TRY(name, fields::opt_string(e, "name"));
      PVT_TRY(node, fields::req_string(e, "node"));
      PVT_TRY(status, fields::opt_string(e, "status"));
      PVT_TRY(tmpl, fields::opt_bool(e, "template"));
      PVT_TRY(lock, fields::opt_string(e, "lock"));
      PVT_TRY(pool, fields::opt_string(e, "pool"));
      PVT_TRY(hastate, fields::opt_string(e, "hastate"));
      r.id = id.value_or(type + "/" + std::to_string(vmid));
      r.vmid = vmid;
      r.name = name.value_or("");
      r.node = node;
      r.status = status.value_or("unknown");
      r.is_template = tmpl.value_or(false);
      r.lock = lock;
      r.pool = pool;
      r.hastate = hastate;
      return r;
    }();
    if (!item) {
      ApiError err = item.error();
      err.message = fmt::format("cluster resources[{}]: {}", i, err.message);
      return tl::unexpected(err);
    }
    out.push_back(std::move(*item));
  }
  return out;
}

ApiResult<std::vector<StorageResource>> parse_storage_resources(const Json& data) {
  PVT_CHECK(expect_array(data, "cluster resources"));
  std::vector<StorageResource> out;
  for (size_t i = 0; i < data.size(); ++i) {
    const Json& e = data[i];
    if (!e.is_object() || e.value("type", "") != "storage") continue;
    StorageResource s;
    PVT_TRY(storage, fields::req_string(e, "storage"));
    PVT_TRY(node, fields::req_string(e, "node"));
    PVT_TRY(content, content_list(e));
    PVT_TRY(plugintype, fields::opt_string(e, "plugintype"));
    PVT_TRY(status, fields::opt_string(e, "status"));
    PVT_TRY(shared, fields::opt_bool(e, "shared"));
    s.storage = storage;
    s.node = node;
    s.content = content;
    s.plugintype = plugintype.value_or("");
    s.status = status.value_or("");
    s.shared = shared.value_or(false);
    out.push_back(std::move(s));
  }
  return out;
}

ApiResult<GuestStatus> parse_guest_status(const Json& data) {
  PVT_CHECK(expect_object(data, "guest status"));
  GuestStatus g;
  PVT_TRY(status, fields::req_string(data, "status"));
  PVT_TRY(qmp, fields::opt_string(data, "qmpstatus"));
  PVT_TRY(lock, fields::opt_string(data, "lock"));
  PVT_TRY(tmpl, fields::opt_bool(data, "template"));
  PVT_TRY(name, fields::opt_string(data, "name"));
  PVT_TRY(uptime, fields::opt_int(data, "uptime"));
  g.status = status;
  g.qmpstatus = qmp;
  g.lock = lock;
  g.is_template = tmpl.value_or(false);
  g.name = name.value_or("");
  g.uptime = uptime.value_or(0);
  if (auto ha = data.find("ha"); ha != data.end() && ha->is_object()) {
    PVT_TRY(managed, fields::opt_bool(*ha, "managed"));
    g.ha_managed = managed.value_or(false);
  }
  return g;
}

ApiResult<GuestConfig> parse_guest_config(const Json& data) {
  PVT_CHECK(expect_object(data, "guest config"));
  GuestConfig c;
  PVT_TRY(onboot, fields::opt_bool(data, "onboot"));
  PVT_TRY(startup, fields::opt_string(data, "startup"));
  PVT_TRY(tmpl, fields::opt_bool(data, "template"));
  PVT_TRY(lock, fields::opt_string(data, "lock"));
  PVT_TRY(name, fields::opt_string(data, "name"));
  PVT_TRY(hostname, fields::opt_string(data, "hostname"));
  PVT_TRY(digest, fields::opt_string(data, "digest"));
  c.onboot = onboot.value_or(false);
  c.startup = startup;
  c.is_template = tmpl.value_or(false);
  c.lock = lock;
  c.name = name ? *name : hostname.value_or("");
  c.digest = digest.value_or("");
  c.raw = data;
  return c;
}

ApiResult<TaskStatus> parse_task_status(const Json& data) {
  PVT_CHECK(expect_object(data, "task status"));
  TaskStatus t;
  PVT_TRY(upid, fields::req_string(data, "upid"));
  PVT_TRY(node, fields::opt_string(data, "node"));
  PVT_TRY(status, fields::req_string(data, "status"));
  PVT_TRY(exitstatus, fields::opt_string(data, "exitstatus"));
  PVT_TRY(type, fields::opt_string(data, "type"));
  PVT_TRY(id, fields::opt_string(data, "id"));
  PVT_TRY(user, fields::opt_string(data, "user"));
  PVT_TRY(start, fields::opt_int(data, "starttime"));
  t.upid = upid;
  t.node = node.value_or("");
  t.status = status;
  t.exitstatus = exitstatus;
  t.type = type.value_or("");
  t.id = id.value_or("");
  t.user = user.value_or("");
  t.starttime = start.value_or(0);
  return t;
}

ApiResult<std::vector<TaskLogLine>> parse_task_log(const Json& data) {
  return parse_list<TaskLogLine>(data, "task log", [](const Json& e) -> ApiResult<TaskLogLine> {
    PVT_TRY(n, fields::opt_int(e, "n"));
    PVT_TRY(t, fields::opt_string(e, "t"));
    return TaskLogLine{n.value_or(0), t.value_or("")};
  });
}

ApiResult<std::vector<TaskListEntry>> parse_task_list(const Json& data) {
  return parse_list<TaskListEntry>(data, "tasks", [](const Json& e) -> ApiResult<TaskListEntry> {
    TaskListEntry t;
    PVT_TRY(upid, fields::req_string(e, "upid"));
    PVT_TRY(node, fields::opt_string(e, "node"));
    PVT_TRY(type, fields::opt_string(e, "type"));
    PVT_TRY(id, fields::opt_string(e, "id"));
    PVT_TRY(user, fields::opt_string(e, "user"));
    PVT_TRY(start, fields::opt_int(e, "starttime"));
    PVT_TRY(end, fields::opt_int(e, "endtime"));
    PVT_TRY(status, fields::opt_string(e, "status"));
    t.upid = upid;
    t.node = node.value_or("");
    t.type = type.value_or("");
    t.id = id.value_or("");
    t.user = user.value_or("");
    t.starttime = start.value_or(0);
    t.endtime = end;
    t.status = status;
    return t;
  });
}

ApiResult<std::vector<BackupJob>> parse_backup_jobs(const Json& data) {
  return parse_list<BackupJob>(data, "backup jobs", [](const Json& e) -> ApiResult<BackupJob> {
    BackupJob j;
    PVT_TRY(id, fields::req_string(e, "id"));
    PVT_TRY(schedule, fields::opt_string(e, "schedule"));
    PVT_TRY(enabled, fields::opt_bool(e, "enabled"));
    PVT_TRY(vmids, vmid_list(e, "vmid"));
    PVT_TRY(all, fields::opt_bool(e, "all"));
    PVT_TRY(exclude, vmid_list(e, "exclude"));
    PVT_TRY(pool, fields::opt_string(e, "pool"));
    PVT_TRY(node, fields::opt_string(e, "node"));
    PVT_TRY(storage, fields::opt_string(e, "storage"));
    PVT_TRY(mode, fields::opt_string(e, "mode"));
    PVT_TRY(prune, prune_settings(e));
    PVT_TRY(comment, fields::opt_string(e, "comment"));
    // Older jobs carry "starttime" + "dow" instead of a schedule.
    if (!schedule) {
      PVT_TRY(starttime, fields::opt_string(e, "starttime"));
      PVT_TRY(dow, fields::opt_string(e, "dow"));
      if (starttime) schedule = dow ? *dow + " " + *starttime : *starttime;
    }
    j.id = id;
    j.schedule = schedule.value_or("");
    j.enabled = enabled.value_or(true);
    j.vmids = vmids;
    j.all = all.value_or(false);
    j.exclude = exclude;
    j.pool = pool;
    j.node = node;
    j.storage = storage;
    j.mode = mode;
    j.prune_backups = prune;
    j.comment = comment;
    j.raw = e;
    return j;
  });
}

ApiResult<std::vector<NotBackedUp>> parse_not_backed_up(const Json& data) {
  return parse_list<NotBackedUp>(data, "not backed up",
                                 [](const Json& e) -> ApiResult<NotBackedUp> {
                                   PVT_TRY(vmid, fields::req_int(e, "vmid"));
                                   PVT_TRY(name, fields::opt_string(e, "name"));
                                   PVT_TRY(type, fields::opt_string(e, "type"));
                                   return NotBackedUp{vmid, name.value_or(""), type.value_or("")};
                                 });
}

ApiResult<std::vector<BackupVolume>> parse_backup_volumes(const Json& data,
                                                          const std::string& storage) {
  return parse_list<BackupVolume>(
      data, "storage content", [&](const Json& e) -> ApiResult<BackupVolume> {
        BackupVolume v;
        PVT_TRY(volid, fields::req_string(e, "volid"));
        PVT_TRY(vmid, fields::opt_int(e, "vmid"));
        PVT_TRY(ctime, fields::opt_int(e, "ctime"));
        PVT_TRY(size, fields::opt_int(e, "size"));
        PVT_TRY(format, fields::opt_string(e, "format"));
        PVT_TRY(subtype, fields::opt_string(e, "subtype"));
        PVT_TRY(notes, fields::opt_string(e, "notes"));
        PVT_TRY(prot, fields::opt_bool(e, "protected"));
        v.volid = volid;
        v.storage = storage;
        v.vmid = vmid.value_or(0);
        v.ctime = ctime.value_or(0);
        v.size = size.value_or(0);
        v.format = format.value_or("");
        v.subtype = subtype.value_or("");
        v.notes = notes.value_or("");
        v.is_protected = prot.value_or(false);
        if (auto enc = e.find("encrypted"); enc != e.end() && !enc->is_null()) {
          v.encrypted = !(enc->is_string() && enc->get<std::string>().empty());
        }
        if (auto ver = e.find("verification"); ver != e.end() && ver->is_object()) {
          PVT_TRY(state, fields::opt_string(*ver, "state"));
          PVT_TRY(upid, fields::opt_string(*ver, "upid"));
          v.verification = Verification{state.value_or(""), upid.value_or("")};
        }
        return v;
      });
}

ApiResult<Permissions> parse_permissions(const Json& data) {
  PVT_CHECK(expect_object(data, "permissions"));
  Permissions p;
  for (const auto& [path, privs] : data.items()) {
    if (!privs.is_object()) {
      return tl::unexpected(malformed(fmt::format("permissions \"{}\": expected an object", path)));
    }
    auto& m = p.by_path[path];
    for (const auto& [priv, v] : privs.items()) {
      PVT_TRY(b, fields::opt_bool(privs, priv.c_str()));
      (void)v;
      m[priv] = b.value_or(false);
    }
  }
  return p;
}

ApiResult<std::vector<NodeEntry>> parse_nodes(const Json& data) {
  return parse_list<NodeEntry>(data, "nodes", [](const Json& e) -> ApiResult<NodeEntry> {
    PVT_TRY(node, fields::req_string(e, "node"));
    PVT_TRY(status, fields::opt_string(e, "status"));
    PVT_TRY(fp, fields::opt_string(e, "ssl_fingerprint"));
    return NodeEntry{node, status.value_or("unknown"), fp};
  });
}

ApiResult<Pool> parse_pool(const Json& data, const std::string& poolid) {
  // /pools/{poolid} answers an object with "members"; /pools?poolid= a list of such objects.
  const Json* obj = &data;
  if (data.is_array()) {
    if (data.empty())
      return tl::unexpected(malformed(fmt::format("pool {}: empty answer", poolid)));
    obj = &data[0];
  }
  PVT_CHECK(expect_object(*obj, "pool"));
  Pool p;
  p.poolid = poolid;
  auto members = obj->find("members");
  if (members == obj->end() || members->is_null()) return p;
  PVT_TRY(
      list,
      parse_list<PoolMember>(*members, "pool members", [](const Json& e) -> ApiResult<PoolMember> {
        PVT_TRY(id, fields::opt_string(e, "id"));
        PVT_TRY(type, fields::opt_string(e, "type"));
        PVT_TRY(vmid, fields::opt_int(e, "vmid"));
        PVT_TRY(node, fields::opt_string(e, "node"));
        return PoolMember{id.value_or(""), type.value_or(""), vmid, node.value_or("")};
      }));
  p.members = std::move(list);
  return p;
}

ApiResult<NodeTime> parse_node_time(const Json& data) {
  PVT_CHECK(expect_object(data, "node time"));
  PVT_TRY(tz, fields::req_string(data, "timezone"));
  PVT_TRY(time, fields::opt_int(data, "time"));
  PVT_TRY(local, fields::opt_int(data, "localtime"));
  return NodeTime{tz, time.value_or(0), local.value_or(0)};
}

ApiResult<std::vector<StorageConfig>> parse_storage_configs(const Json& data) {
  return parse_list<StorageConfig>(data, "storage", [](const Json& e) -> ApiResult<StorageConfig> {
    StorageConfig s;
    PVT_TRY(storage, fields::req_string(e, "storage"));
    PVT_TRY(type, fields::opt_string(e, "type"));
    PVT_TRY(content, content_list(e));
    PVT_TRY(prune, prune_settings(e));
    PVT_TRY(shared, fields::opt_bool(e, "shared"));
    PVT_TRY(disable, fields::opt_bool(e, "disable"));
    PVT_TRY(nodes, fields::opt_string(e, "nodes"));
    s.storage = storage;
    s.type = type.value_or("");
    s.content = content;
    s.prune_backups = prune;
    s.shared = shared.value_or(false);
    s.disabled = disable.value_or(false);
    if (nodes) s.nodes = text::split_list(*nodes, ',');
    return s;
  });
}

}  // namespace pvt::pve
