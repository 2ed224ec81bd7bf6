#include "tools/pvesim/topology.h"

#include <fmt/format.h>

#include <cctype>

#include "common/text.h"

#include <toml++/toml.h>

namespace pvt::sim {
namespace {

std::string where(const std::string& path, const toml::node& n, const std::string& key) {
  const auto& src = n.source();
  return fmt::format("{}:{}:{}: {}", path, src.begin.line, src.begin.column, key);
}

Json to_json(const toml::node& n) {
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_boolean()) return v->get() ? 1 : 0;  // PVE sends booleans as 0/1
  if (auto a = n.as_array()) {
    Json out = Json::array();
    for (const auto& e : *a) out.push_back(to_json(e));
    return out;
  }
  if (auto t = n.as_table()) {
    Json out = Json::object();
    for (const auto& [k, v] : *t) out[std::string(k.str())] = to_json(v);
    return out;
  }
  return nullptr;
}

class Reader {
 public:
  Reader(const std::string& path, const toml::table& t, std::string key)
      : path_(path), t_(t), key_(std::move(key)) {}

  Result<std::string> str(const char* k, std::optional<std::string> def = std::nullopt) const {
    auto n = t_.get(k);
    if (!n) {
      if (def) return *def;
      return fail(fmt::format("{}: {}.{}: required", where(path_, t_, key_), key_, k));
    }
    if (auto v = n->as_string()) return v->get();
    return fail(fmt::format("{}.{}: expected a string", where(path_, *n, key_), k));
  }
  Result<int64_t> num(const char* k, std::optional<int64_t> def = std::nullopt) const {
    auto n = t_.get(k);
    if (!n) {
      if (def) return *def;
      return fail(fmt::format("{}: {}.{}: required", where(path_, t_, key_), key_, k));
    }
    if (auto v = n->as_integer()) return v->get();
    return fail(fmt::format("{}.{}: expected an integer", where(path_, *n, key_), k));
  }
  Result<bool> flag(const char* k, bool def) const {
    auto n = t_.get(k);
    if (!n) return def;
    if (auto v = n->as_boolean()) return v->get();
    return fail(fmt::format("{}.{}: expected true or false", where(path_, *n, key_), k));
  }
  Result<std::vector<std::string>> list(const char* k) const {
    std::vector<std::string> out;
    auto n = t_.get(k);
    if (!n) return out;
    if (auto s = n->as_string()) return text::split_list(s->get(), ',');
    if (auto a = n->as_array()) {
      for (const auto& e : *a) {
        if (auto s = e.as_string())
          out.push_back(s->get());
        else
          return fail(fmt::format("{}.{}: expected strings", where(path_, e, key_), k));
      }
      return out;
    }
    return fail(fmt::format("{}.{}: expected a list", where(path_, *n, key_), k));
  }

 private:
  const std::string& path_;
  const toml::table& t_;
  std::string key_;
};

#define SIM_TRY(var, expr)                              \
  auto var##_r = (expr);                                \
  if (!var##_r) return tl::unexpected(var##_r.error()); \
  auto var = std::move(*var##_r)

std::string stamp(int64_t epoch, const char* fmt_) {
  std::time_t t = epoch;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, fmt_, &tm);
  return buf;
}

}  // namespace

bool Storage::has_content(const std::string& c) const {
  for (const auto& x : content) {
    if (x == c) return true;
  }
  return false;
}

bool Storage::on_node(const std::string& n) const {
  if (nodes.empty()) return true;
  for (const auto& x : nodes) {
    if (x == n) return true;
  }
  return false;
}

Access make_access(const Topology& t) {
  Access a;
  for (const auto& [id, privs] : t.roles) a.roles[id] = privs;
  for (const auto& u : t.users) a.users[u.id] = u;
  std::set<std::string> implied;  // users only a [[token]] names
  int legacy = 0;
  for (const auto& tok : t.tokens) {
    ApiToken at;
    at.user = tok.user();
    at.name = tok.id.substr(tok.id.find('!') + 1);
    at.secret = tok.secret;
    at.privsep = tok.privsep;
    at.comment = tok.comment;
    at.expire = tok.expire;
    a.tokens[tok.id] = at;
    if (!a.users.count(at.user)) {
      a.users[at.user].id = at.user;
      implied.insert(at.user);
    }
    // The legacy per-token privileges: a role of their own on each path, given to the token
    // and, when the user is only implied, to the user as well.
    for (const auto& [path, privs] : tok.acl) {
      const std::string role = fmt::format("PvesimTokenAcl{}", ++legacy);
      a.roles[role] = privs;
      a.grant(path, true, tok.id, role, true);
      if (implied.count(at.user)) a.grant(path, false, at.user, role, true);
    }
  }
  for (const auto& g : t.acls) {
    for (const auto& role : g.roles) {
      for (const auto& u : g.users) a.grant(g.path, false, u, role, g.propagate);
      for (const auto& tk : g.tokens) a.grant(g.path, true, tk, role, g.propagate);
    }
  }
  for (const auto& guest : t.guests) {
    if (guest.pool) a.pool_of_guest[guest.vmid] = *guest.pool;
  }
  return a;
}

std::string Token::user() const { return id.substr(0, id.find('!')); }

std::vector<std::string> pve_list(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : text) {
    if (c == ',' || c == ';' || std::isspace(static_cast<unsigned char>(c))) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string make_upid(const std::string& node, const std::string& type, const std::string& id,
                      const std::string& user, int64_t start, uint32_t pid) {
  return fmt::format("UPID:{}:{:08X}:{:08X}:{:08X}:{}:{}:{}:", node, pid, pid * 7 + 1000,
                     static_cast<uint32_t>(start), type, id, user);
}

std::string backup_volid(const Storage& s, const std::string& subtype, int64_t vmid,
                         int64_t ctime) {
  if (s.type == "pbs") {
    return fmt::format("{}:backup/{}/{}/{}", s.id, subtype == "qemu" ? "vm" : "ct", vmid,
                       stamp(ctime, "%Y-%m-%dT%H:%M:%SZ"));
  }
  return fmt::format("{}:backup/vzdump-{}-{}-{}.{}", s.id, subtype, vmid,
                     stamp(ctime, "%Y_%m_%d-%H_%M_%S"), subtype == "qemu" ? "vma.zst" : "tar.zst");
}

Result<Topology> parse_topology(const std::string& text, const std::string& path, int64_t now) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return fail(fmt::format("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column,
                            e.description()));
  }
  Topology t;
  if (auto c = root["cluster"].as_table()) {
    Reader r(path, *c, "cluster");
    SIM_TRY(name, r.str("name"));
    SIM_TRY(qdevice, r.flag("qdevice", false));
    t.cluster_name = name;
    t.qdevice = qdevice;
  }
  if (auto v = root["version"].as_string()) t.version = v->get();
  auto tables = [&](const char* key) -> std::vector<std::pair<std::string, const toml::table*>> {
    std::vector<std::pair<std::string, const toml::table*>> out;
    if (auto a = root[key].as_array()) {
      for (size_t i = 0; i < a->size(); ++i) {
        if (auto tt = a->get(i)->as_table()) out.emplace_back(fmt::format("{}[{}]", key, i), tt);
      }
    }
    return out;
  };
  for (auto& [key, tt] : tables("node")) {
    Reader r(path, *tt, key);
    SIM_TRY(name, r.str("name"));
    SIM_TRY(ip, r.str("ip", "192.0.2.1"));
    SIM_TRY(online, r.flag("online", true));
    SIM_TRY(tz, r.str("timezone", "UTC"));
    t.nodes.push_back(Node{name, ip, online, tz});
  }
  if (t.nodes.empty()) return fail(fmt::format("{}: at least one [[node]] is required", path));
  for (auto& [key, tt] : tables("storage")) {
    Reader r(path, *tt, key);
    Storage s;
    SIM_TRY(id, r.str("id"));
    SIM_TRY(type, r.str("type", "dir"));
    SIM_TRY(content, r.list("content"));
    SIM_TRY(shared, r.flag("shared", type == "pbs"));
    SIM_TRY(nodes, r.list("nodes"));
    SIM_TRY(prune, r.str("prune-backups", ""));
    s.id = id;
    s.type = type;
    s.content = content;
    s.shared = shared;
    s.nodes = nodes;
    s.prune_backups = prune;
    t.storages.push_back(s);
  }
  for (auto& [key, tt] : tables("guest")) {
    Reader r(path, *tt, key);
    Guest g;
    SIM_TRY(vmid, r.num("vmid"));
    SIM_TRY(type, r.str("type", "qemu"));
    SIM_TRY(node, r.str("node"));
    SIM_TRY(name, r.str("name", fmt::format("guest{}", vmid)));
    SIM_TRY(status, r.str("status", "stopped"));
    SIM_TRY(tmpl, r.flag("template", false));
    SIM_TRY(lock, r.str("lock", ""));
    SIM_TRY(pool, r.str("pool", ""));
    SIM_TRY(ha, r.flag("ha", false));
    if (type != "qemu" && type != "lxc")
      return fail(fmt::format("{}.type: qemu or lxc", where(path, *tt, key)));
    g.vmid = vmid;
    g.type = type;
    g.node = node;
    g.name = name;
    g.status = status;
    g.is_template = tmpl;
    if (!lock.empty()) g.lock = lock;
    if (!pool.empty()) g.pool = pool;
    g.ha_managed = ha;
    if (auto c = tt->get_as<toml::table>("config")) g.config = to_json(*c);
    g.config[type == "qemu" ? "name" : "hostname"] = name;
    if (tmpl) g.config["template"] = 1;
    if (g.lock) g.config["lock"] = *g.lock;
    if (!g.config.contains("memory")) g.config["memory"] = type == "qemu" ? "2048" : "512";
    g.config["digest"] = fmt::format("{:040x}", static_cast<uint64_t>(vmid) * 2654435761u);
    t.guests.push_back(std::move(g));
    if (!pool.empty()) {
      auto& p = t.pools[pool];
      if (p.is_null()) p = Json{{"members", Json::array()}};
      p["members"].push_back({{"id", fmt::format("{}/{}", type, vmid)},
                              {"type", type},
                              {"vmid", vmid},
                              {"node", node},
                              {"name", name}});
    }
  }
  for (auto& [key, tt] : tables("job")) {
    Job j;
    j.raw = to_json(*tt);
    if (!j.raw.contains("id")) return fail(fmt::format("{}.id: required", where(path, *tt, key)));
    if (!j.raw.contains("type")) j.raw["type"] = "vzdump";
    t.jobs.push_back(std::move(j));
  }
  auto find_storage = [&](const std::string& id) -> const Storage* {
    for (const auto& s : t.storages) {
      if (s.id == id) return &s;
    }
    return nullptr;
  };
  auto find_guest = [&](int64_t vmid) -> const Guest* {
    for (const auto& g : t.guests) {
      if (g.vmid == vmid) return &g;
    }
    return nullptr;
  };
  for (auto& [key, tt] : tables("backup")) {
    Reader r(path, *tt, key);
    BackupVolume b;
    SIM_TRY(storage, r.str("storage"));
    SIM_TRY(vmid, r.num("vmid"));
    SIM_TRY(age_h, r.num("age_h", 24));
    SIM_TRY(size, r.num("size", 1536LL * 1024 * 1024));
    SIM_TRY(notes, r.str("notes", ""));
    SIM_TRY(prot, r.flag("protected", false));
    SIM_TRY(config_text, r.str("config", ""));
    SIM_TRY(unreadable, r.flag("unreadable", false));
    SIM_TRY(verification, r.str("verification", ""));
    const Storage* s = find_storage(storage);
    if (!s)
      return fail(fmt::format("{}.storage: no [[storage]] {}", where(path, *tt, key), storage));
    const Guest* g = find_guest(vmid);
    b.storage = storage;
    b.vmid = vmid;
    b.subtype = g ? g->type : "qemu";
    b.ctime = now - age_h * 3600;
    b.size = size;
    b.notes = notes;
    b.is_protected = prot;
    if (!verification.empty()) b.verification = verification;
    b.volid = backup_volid(*s, b.subtype, vmid, b.ctime);
    b.format = s->type == "pbs" ? (b.subtype == "qemu" ? "pbs-vm" : "pbs-ct")
                                : (b.subtype == "qemu" ? "vma.zst" : "tar.zst");
    b.unreadable = unreadable;
    if (!config_text.empty()) {
      b.guest_config = config_text;  // e.g. another guest's config under this VMID
    } else if (g) {
      for (const auto& [k, v] : g->config.items()) {
        if (k == "digest") continue;
        b.guest_config +=
            fmt::format("{}: {}\n", k, v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    t.backups.push_back(std::move(b));
  }
  uint32_t pid = 0x1000;
  for (auto& [key, tt] : tables("task")) {
    Reader r(path, *tt, key);
    SIM_TRY(node, r.str("node"));
    SIM_TRY(age_h, r.num("age_h", 24));
    SIM_TRY(user, r.str("user", "root@pam"));
    SIM_TRY(storage, r.str("storage", "local"));
    SIM_TRY(duration, r.num("duration_s", 90));
    Task task;
    task.node = node;
    task.type = "vzdump";
    task.user = user;
    task.starttime = now - age_h * 3600;
    task.endtime = task.starttime + duration;
    task.finished = true;
    std::vector<std::tuple<int64_t, std::string, std::string>> guests;
    if (auto a = tt->get_as<toml::array>("guests")) {
      for (const auto& e : *a) {
        auto gt = e.as_table();
        if (!gt) return fail(fmt::format("{}.guests: expected tables", where(path, e, key)));
        Reader gr(path, *gt, key + ".guests");
        SIM_TRY(vmid, gr.num("vmid"));
        SIM_TRY(outcome, gr.str("outcome", "ok"));
        SIM_TRY(message, gr.str("message", "unable to create temporary directory"));
        guests.emplace_back(vmid, outcome, message);
      }
    }
    task.id = guests.size() == 1 ? std::to_string(std::get<0>(guests[0])) : "";
    std::string vmids;
    for (auto& g : guests) vmids += (vmids.empty() ? "" : " ") + std::to_string(std::get<0>(g));
    task.log.push_back(fmt::format(
        "INFO: starting new backup job: vzdump {} --storage {} --mode snapshot", vmids, storage));
    int errors = 0, warnings = 0;
    for (auto& [vmid, outcome, message] : guests) {
      const Guest* g = find_guest(vmid);
      const std::string type = g ? g->type : "qemu";
      task.log.push_back(fmt::format("INFO: Starting Backup of VM {} ({})", vmid, type));
      task.log.push_back(
          fmt::format("INFO: Backup started at {}", stamp(task.starttime, "%Y-%m-%d %H:%M:%S")));
      if (outcome == "error") {
        task.log.push_back(fmt::format("ERROR: Backup of VM {} failed - {}", vmid, message));
        ++errors;
      } else {
        if (outcome == "warning") {
          task.log.push_back(fmt::format("WARN: {}", message));
          ++warnings;
        }
        task.log.push_back(fmt::format("INFO: Finished Backup of VM {} (00:01:02)", vmid));
      }
    }
    if (errors) {
      task.log.push_back("INFO: Backup job finished with errors");
      task.log.push_back("TASK ERROR: job errors");
      task.exitstatus = "job errors";
    } else if (warnings) {
      task.log.push_back("INFO: Backup job finished successfully");
      task.log.push_back(fmt::format("TASK WARNINGS: {}", warnings));
      task.exitstatus = fmt::format("WARNINGS: {}", warnings);
    } else {
      task.log.push_back("INFO: Backup job finished successfully");
      task.log.push_back("TASK OK");
      task.exitstatus = "OK";
    }
    task.upid = make_upid(node, "vzdump", task.id, user, task.starttime, pid++);
    t.tasks.push_back(std::move(task));
  }
  for (auto& [key, tt] : tables("token")) {
    Reader r(path, *tt, key);
    Token tok;
    SIM_TRY(id, r.str("id"));
    SIM_TRY(secret, r.str("secret"));
    SIM_TRY(privsep, r.flag("privsep", true));
    SIM_TRY(comment, r.str("comment", ""));
    SIM_TRY(expire, r.num("expire", 0));
    const auto bang = id.find('!');
    if (bang == std::string::npos || !Access::valid_userid(id.substr(0, bang)) ||
        !Access::valid_token_name(id.substr(bang + 1))) {
      return fail(
          fmt::format("{}.id: not a token ID USER@REALM!NAME: {}", where(path, *tt, key), id));
    }
    tok.id = id;
    tok.secret = secret;
    tok.privsep = privsep;
    tok.comment = comment;
    tok.expire = expire;
    if (auto acl = tt->get_as<toml::table>("acl")) {
      for (const auto& [p, privs] : *acl) {
        auto& set = tok.acl[std::string(p.str())];
        if (auto a = privs.as_array()) {
          for (const auto& e : *a) {
            if (auto s = e.as_string()) set.insert(s->get());
          }
        }
      }
    }
    t.tokens.push_back(std::move(tok));
  }
  for (auto& [key, tt] : tables("role")) {
    Reader r(path, *tt, key);
    SIM_TRY(id, r.str("id"));
    std::vector<std::string> privs;
    if (auto n = tt->get("privs"); n && n->is_string()) {
      privs = pve_list(n->as_string()->get());  // "A B" or "A,B" as pveum takes them
    } else {
      SIM_TRY(list, r.list("privs"));
      privs = list;
    }
    if (Access::builtin_roles().count(id))
      return fail(fmt::format("{}.id: {} is a built-in role", where(path, *tt, key), id));
    for (const auto& p : privs) {
      if (!Access::valid_privileges().count(p))
        return fail(fmt::format("{}.privs: invalid privilege '{}'", where(path, *tt, key), p));
    }
    t.roles[id] = {privs.begin(), privs.end()};
  }
  for (auto& [key, tt] : tables("user")) {
    Reader r(path, *tt, key);
    User u;
    SIM_TRY(id, r.str("id"));
    SIM_TRY(enable, r.flag("enable", true));
    SIM_TRY(expire, r.num("expire", 0));
    SIM_TRY(comment, r.str("comment", ""));
    if (!Access::valid_userid(id))
      return fail(fmt::format("{}.id: not a user ID USER@REALM: {}", where(path, *tt, key), id));
    u.id = id;
    u.enable = enable;
    u.expire = expire;
    u.comment = comment;
    t.users.push_back(u);
  }
  for (auto& [key, tt] : tables("acl")) {
    Reader r(path, *tt, key);
    AclGrant g;
    SIM_TRY(acl_path, r.str("path"));
    SIM_TRY(roles, r.list("roles"));
    SIM_TRY(users, r.list("users"));
    SIM_TRY(tokens, r.list("tokens"));
    SIM_TRY(propagate, r.flag("propagate", true));
    const auto norm = Access::normalize_path(acl_path);
    if (!norm || !Access::valid_acl_path(*norm))
      return fail(fmt::format("{}.path: invalid ACL path '{}'", where(path, *tt, key), acl_path));
    if (roles.empty()) return fail(fmt::format("{}.roles: required", where(path, *tt, key)));
    for (const auto& role : roles) {
      if (!Access::builtin_roles().count(role) && !t.roles.count(role))
        return fail(fmt::format("{}.roles: role '{}' does not exist", where(path, *tt, key), role));
    }
    for (const auto& u : users) {
      bool known = false;
      for (const auto& x : t.users) known |= x.id == u;
      for (const auto& x : t.tokens) known |= x.user() == u;
      if (!known)
        return fail(fmt::format("{}.users: user '{}' does not exist", where(path, *tt, key), u));
    }
    for (const auto& tk : tokens) {
      bool known = false;
      for (const auto& x : t.tokens) known |= x.id == tk;
      if (!known)
        return fail(fmt::format("{}.tokens: no [[token]] '{}'", where(path, *tt, key), tk));
    }
    if (users.empty() && tokens.empty())
      return fail(fmt::format("{}: either 'users' or 'tokens' is required", where(path, *tt, key)));
    g.path = *norm;
    g.roles = roles;
    g.users = users;
    g.tokens = tokens;
    g.propagate = propagate;
    t.acls.push_back(std::move(g));
  }
  if (auto tm = root["timing"].as_table()) {
    Reader r(path, *tm, "timing");
    SIM_TRY(start, r.num("start_delay_ms", t.timing.start_delay_ms));
    SIM_TRY(vzdump, r.num("vzdump_duration_ms", t.timing.vzdump_duration_ms));
    SIM_TRY(auth, r.num("auth_failure_delay_ms", t.timing.auth_failure_delay_ms));
    SIM_TRY(restore, r.num("restore_duration_ms", t.timing.restore_duration_ms));
    SIM_TRY(destroy, r.num("destroy_duration_ms", t.timing.destroy_duration_ms));
    t.timing = Timing{static_cast<int>(start), static_cast<int>(vzdump), static_cast<int>(auth),
                      static_cast<int>(restore), static_cast<int>(destroy)};
  }
  if (auto f = root["faults"].as_table()) {
    Reader r(path, *f, "faults");
    SIM_TRY(latency, r.num("latency_ms", 0));
    SIM_TRY(offline, r.list("offline_nodes"));
    SIM_TRY(quorum_lost, r.flag("quorum_lost", false));
    SIM_TRY(garbage, r.list("garbage_paths"));
    t.faults.latency_ms = static_cast<int>(latency);
    t.faults.offline_nodes = {offline.begin(), offline.end()};
    t.faults.quorum_lost = quorum_lost;
    t.faults.garbage_paths = garbage;
    if (auto e = f->get_as<double>("error_rate")) t.faults.error_rate = e->get();
  }
  return t;
}

Result<Topology> load_topology(const std::string& path, int64_t now) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return fail(fmt::format("{}: cannot read topology: {}", path, std::strerror(errno)));
  std::string text;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  std::fclose(f);
  return parse_topology(text, path, now);
}

}  // namespace pvt::sim
