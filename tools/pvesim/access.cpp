#include "tools/pvesim/access.h"

#include <algorithm>
#include <cctype>

namespace pvt::sim {
namespace {

// PVE's privilege groups (PVE/AccessControl.pm, libpve-access-control 8.1 as in PVE 8.2): the
// built-in roles are made from them as PVE makes them.
struct PrivGroup {
  const char* name;
  std::vector<std::string> root, admin, user, audit;
};

const std::vector<PrivGroup>& priv_groups() {
  static const std::vector<PrivGroup> groups = {
      {"VM",
       {},
       {"VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
        "VM.Config.HWType", "VM.Config.Options", "VM.Allocate", "VM.Clone", "VM.Migrate",
        "VM.Monitor", "VM.Snapshot", "VM.Snapshot.Rollback"},
       {"VM.Config.CDROM", "VM.Config.Cloudinit", "VM.Console", "VM.Backup", "VM.PowerMgmt"},
       {"VM.Audit"}},
      {"Sys",
       {"Sys.PowerMgmt", "Sys.Modify", "Sys.Incoming", "Sys.AccessNetwork"},
       {"Sys.Console", "Sys.Syslog"},
       {},
       {"Sys.Audit"}},
      {"Datastore",
       {},
       {"Datastore.Allocate", "Datastore.AllocateTemplate"},
       {"Datastore.AllocateSpace"},
       {"Datastore.Audit"}},
      {"SDN", {}, {"SDN.Allocate", "SDN.Audit"}, {"SDN.Use"}, {"SDN.Audit"}},
      {"User", {"Realm.Allocate"}, {"User.Modify", "Group.Allocate", "Realm.AllocateUser"}, {}, {}},
      {"Pool", {}, {"Pool.Allocate"}, {"Pool.Audit"}, {"Pool.Audit"}},
      {"Mapping", {}, {"Mapping.Modify"}, {"Mapping.Use"}, {"Mapping.Audit"}},
  };
  return groups;
}

bool is_token_id(const std::string& subject) { return subject.find('!') != std::string::npos; }

bool all_of(const std::string& s, const char* extra) {
  for (unsigned char c : s) {
    if (!std::isalnum(c) && std::string(extra).find(static_cast<char>(c)) == std::string::npos)
      return false;
  }
  return true;
}

bool valid_realm(const std::string& r) {
  return r.size() >= 2 && std::isalpha(static_cast<unsigned char>(r[0])) && all_of(r, ".-_");
}

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    if (slash > start) out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

// "/", "/vms", "/vms/110" for "/vms/110".
std::vector<std::string> prefixes(const std::string& path) {
  std::vector<std::string> out{"/"};
  std::string cur;
  for (const auto& c : components(path)) {
    cur += "/" + c;
    out.push_back(cur);
  }
  return out;
}

}  // namespace

const std::set<std::string>& Access::valid_privileges() {
  static const std::set<std::string> all = [] {
    std::set<std::string> s{"Permissions.Modify"};
    for (const auto& g : priv_groups()) {
      for (const auto* list : {&g.root, &g.admin, &g.user, &g.audit})
        s.insert(list->begin(), list->end());
    }
    return s;
  }();
  return all;
}

const std::map<std::string, std::set<std::string>>& Access::builtin_roles() {
  static const std::map<std::string, std::set<std::string>> roles = [] {
    std::map<std::string, std::set<std::string>> r;
    r["NoAccess"] = {};
    r["Administrator"] = valid_privileges();
    r["PVEAuditor"] = {};
    r["PVEAdmin"] = {};
    for (const auto& g : priv_groups()) {
      auto& admin = r[std::string("PVE") + g.name + "Admin"];
      for (const auto* list : {&g.admin, &g.user, &g.audit}) {
        admin.insert(list->begin(), list->end());
        r["PVEAdmin"].insert(list->begin(), list->end());
      }
      if (!g.user.empty()) {
        auto& user = r[std::string("PVE") + g.name + "User"];
        user.insert(g.user.begin(), g.user.end());
        user.insert(g.audit.begin(), g.audit.end());
      }
      r["PVEAuditor"].insert(g.audit.begin(), g.audit.end());
    }
    r["PVEAdmin"].erase("Mapping.Modify");
    r["PVETemplateUser"] = {"VM.Clone", "VM.Audit"};
    return r;
  }();
  return roles;
}

std::optional<std::string> Access::normalize_path(const std::string& path) {
  if (path.empty()) return std::nullopt;
  std::string p;
  for (char c : path) {
    if (c == '/' && !p.empty() && p.back() == '/') continue;
    p += c;
  }
  if (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty() || p == "/") return std::string("/");
  if (p[0] != '/') p = "/" + p;
  if (!all_of(p, ".-_/")) return std::nullopt;
  return p;
}

bool Access::valid_acl_path(const std::string& path) {
  if (path == "/") return true;
  if (path.empty() || path[0] != '/' || path.back() == '/' || path.find("//") != std::string::npos)
    return false;
  const auto c = components(path);
  auto name = [](const std::string& s) { return !s.empty() && all_of(s, ".-_"); };
  auto alnum = [](const std::string& s) { return !s.empty() && all_of(s, ""); };
  const std::string& top = c[0];
  const size_t n = c.size();
  if (top == "access") {
    if (n == 1) return true;
    if (c[1] != "groups" && c[1] != "realm") return false;
    return n == 2 || (n == 3 && name(c[2]));
  }
  if (top == "nodes" || top == "storage") return n == 1 || (n == 2 && name(c[1]));
  if (top == "pool") {
    if (n == 1) return true;
    if (n > 4) return false;
    for (size_t i = 1; i < n; ++i) {
      if (!name(c[i])) return false;
    }
    return true;
  }
  if (top == "vms") {
    if (n == 1) return true;
    return n == 2 && c[1].size() >= 3 && c[1][0] != '0' &&
           std::all_of(c[1].begin(), c[1].end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  }
  if (top == "mapping") {
    if (n > 3) return false;
    for (size_t i = 1; i < n; ++i) {
      if (!name(c[i])) return false;
    }
    return true;
  }
  if (top == "sdn") {
    if (n == 1) return true;
    const std::string& kind = c[1];
    if (kind == "controllers") return n == 2 || (n == 3 && all_of(c[2], "_-") && !c[2].empty());
    if (kind == "dns" || kind == "ipams") return n == 2 || (n == 3 && alnum(c[2]));
    if (kind == "zones") {
      if (n == 2) return true;
      if (n == 3 || n == 4) return name(c[2]) && (n == 3 || name(c[3]));
      if (n == 5) {
        const std::string& tag = c[4];
        return name(c[2]) && name(c[3]) && !tag.empty() && tag.size() <= 4 && tag[0] != '0' &&
               std::all_of(tag.begin(), tag.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      }
    }
    return false;
  }
  return false;
}

bool Access::valid_userid(const std::string& userid) {
  const auto at = userid.rfind('@');
  if (at == std::string::npos || at == 0) return false;
  for (size_t i = 0; i < at; ++i) {
    const char c = userid[i];
    if (std::isspace(static_cast<unsigned char>(c)) || c == ':' || c == '/') return false;
  }
  return valid_realm(userid.substr(at + 1));
}

bool Access::valid_token_name(const std::string& name) { return valid_realm(name); }

Access::Access() : roles(builtin_roles()) {}

void Access::grant(const std::string& path, bool token, const std::string& subject,
                   const std::string& role, bool propagate) {
  for (const auto& p : prefixes(path)) acl[p];  // the tree's inner nodes, as PVE's tree has them
  auto& node = acl[path];
  (token ? node.tokens : node.users)[subject][role] = propagate;
}

std::map<std::string, bool> Access::roles_at(const std::string& subject, bool is_token,
                                             const std::string& path) const {
  std::map<std::string, bool> result;
  const auto along = prefixes(path);
  for (size_t i = 0; i < along.size(); ++i) {
    const bool final = i + 1 == along.size();
    auto node = acl.find(along[i]);
    if (node == acl.end()) continue;
    const auto& subjects = is_token ? node->second.tokens : node->second.users;
    auto it = subjects.find(subject);
    if (it == subjects.end()) continue;
    std::map<std::string, bool> here;
    for (const auto& [role, propagate] : it->second) {
      if (final || propagate) here[role] = propagate;
    }
    if (!here.empty()) result = std::move(here);  // a deeper ACL replaces what is inherited
  }
  if (auto no = result.find("NoAccess"); no != result.end()) return {{"NoAccess", no->second}};
  return result;
}

Privileges Access::own_privileges(const std::string& subject, bool is_token,
                                  const std::string& path) const {
  auto assigned = roles_at(subject, is_token, path);
  // A guest in a pool gets the roles of the pool's ACLs, never propagated, unless NoAccess.
  const auto c = components(path);
  if (c.size() == 2 && c[0] == "vms" && !assigned.count("NoAccess")) {
    try {
      auto pool = pool_of_guest.find(std::stoll(c[1]));
      if (pool != pool_of_guest.end()) {
        auto from_pool = roles_at(subject, is_token, "/pool/" + pool->second);
        if (from_pool.count("NoAccess")) {
          assigned = {{"NoAccess", false}};
        } else {
          for (const auto& [role, propagate] : from_pool) assigned.emplace(role, false);
        }
      }
    } catch (const std::exception&) {
    }
  }
  Privileges privs;
  for (const auto& [role, propagate] : assigned) {
    auto r = roles.find(role);
    if (r == roles.end()) continue;
    for (const auto& p : r->second) privs[p] = privs[p] || propagate;
  }
  return privs;
}

Privileges Access::permissions(const std::string& subject, const std::string& path) const {
  if (!is_token_id(subject)) return own_privileges(subject, false, path);
  auto t = tokens.find(subject);
  if (t == tokens.end()) return {};
  Privileges of_user = own_privileges(t->second.user, false, path);
  if (!t->second.privsep) return of_user;
  Privileges out;
  for (const auto& [priv, propagate] : own_privileges(subject, true, path)) {
    auto u = of_user.find(priv);
    if (u != of_user.end()) out[priv] = propagate && u->second;
  }
  return out;
}

bool Access::has(const std::string& subject, const std::string& path,
                 const std::string& priv) const {
  return permissions(subject, path).count(priv) > 0;
}

nlohmann::json Access::effective_permissions(const std::string& subject) const {
  std::set<std::string> paths = {"/",     "/access", "/access/groups", "/nodes",
                                 "/pool", "/sdn",    "/storage",       "/vms"};
  for (const auto& [path, node] : acl) paths.insert(path);
  for (const auto& [vmid, pool] : pool_of_guest) paths.insert("/vms/" + std::to_string(vmid));
  nlohmann::json out = nlohmann::json::object();
  for (const auto& path : paths) {
    const auto privs = permissions(subject, path);
    if (privs.empty()) continue;  // PVE leaves out paths where the subject has nothing
    nlohmann::json set = nlohmann::json::object();
    for (const auto& [priv, propagate] : privs) set[priv] = propagate ? 1 : 0;
    out[path] = set;
  }
  return out;
}

const ApiToken* Access::authenticate(const std::string& tokenid, const std::string& secret,
                                     int64_t now, std::string& why) const {
  why = "invalid token value!";
  auto t = tokens.find(tokenid);
  if (t == tokens.end()) return nullptr;
  auto u = users.find(t->second.user);
  if (u == users.end()) return nullptr;
  if (!u->second.enable) {
    why = "user '" + u->second.id + "' is disabled";
    return nullptr;
  }
  if (u->second.expire && u->second.expire < now) {
    why = "user '" + u->second.id + "' access expired";
    return nullptr;
  }
  if (t->second.expire && t->second.expire < now) {
    why = "token '" + t->second.name + "' access expired";
    return nullptr;
  }
  if (t->second.secret != secret) return nullptr;
  return &t->second;
}

}  // namespace pvt::sim
