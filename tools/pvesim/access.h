// Users, API tokens, roles and ACLs as Proxmox VE keeps them in user.cfg, and the one function
// that turns them into effective privileges (pve-access-control's AccessControl::roles and
// RPCEnvironment::permissions): every privilege check of the simulator goes through
// Access::permissions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvt::sim {

// Privilege -> propagate flag, as GET /access/permissions shows it. A privilege is held when it
// is a key, whatever the flag (the flag only says whether it came with propagation).
using Privileges = std::map<std::string, bool>;

struct ApiToken {
  std::string user;  // user@realm
  std::string name;  // the part after '!'
  std::string secret;
  bool privsep = true;  // PVE's default
  std::string comment;
  int64_t expire = 0;  // epoch seconds, 0: never
  std::string full_id() const { return user + "!" + name; }
};

struct User {
  std::string id;  // user@realm
  bool enable = true;
  int64_t expire = 0;
  std::string comment, email, firstname, lastname;
};

// One node of the ACL tree: subject -> role -> propagate.
struct AclNode {
  std::map<std::string, std::map<std::string, bool>> users;
  std::map<std::string, std::map<std::string, bool>> tokens;
};

class Access {
 public:
  Access();  // the built-in roles, nothing else

  // Every privilege PVE 8.2 knows (libpve-access-control 8.1), and its built-in roles
  // (Administrator, NoAccess, PVEAuditor, PVEVMAdmin, ...).
  static const std::set<std::string>& valid_privileges();
  static const std::map<std::string, std::set<std::string>>& builtin_roles();
  // PVE's normalize_path: "//vms/110/" -> "/vms/110"; nullopt for characters PVE refuses.
  static std::optional<std::string> normalize_path(const std::string& path);
  // PVE's check_path: the ACL paths PVE accepts (/, /vms/ID, /storage/ID, /pool/ID, ...).
  static bool valid_acl_path(const std::string& path);
  static bool valid_userid(const std::string& userid);
  static bool valid_token_name(const std::string& name);

  // Effective privileges of a user ("u@realm") or token ("u@realm!name") at `path`: the roles
  // of the nearest ACL for that subject along the path (a role at the path itself counts
  // whatever its propagate flag, one above it only when it propagates; a deeper ACL replaces
  // what is inherited; NoAccess takes everything), the roles of a guest's pool (not
  // propagated), and for a token with privilege separation the intersection with its user's
  // privileges (both flags combined); without separation exactly its user's.
  Privileges permissions(const std::string& subject, const std::string& path) const;
  bool has(const std::string& subject, const std::string& path, const std::string& priv) const;
  // GET /access/permissions without path: every ACL path, the top-level paths and the guests
  // of pools, each with the subject's privileges; paths where it has none are left out.
  nlohmann::json effective_permissions(const std::string& subject) const;

  // The token that "PVEAPIToken=ID=SECRET" names, or an error message for the 401.
  const ApiToken* authenticate(const std::string& tokenid, const std::string& secret, int64_t now,
                               std::string& why) const;

  // user.cfg
  std::map<std::string, std::set<std::string>> roles;
  std::map<std::string, User> users;
  std::map<std::string, ApiToken> tokens;  // by full token id
  std::map<std::string, AclNode> acl;      // by normalized path
  std::map<int64_t, std::string> pool_of_guest;

  // Adds `role` for a user or a token at `path` (creating the tree node).
  void grant(const std::string& path, bool token, const std::string& subject,
             const std::string& role, bool propagate);

 private:
  // AccessControl::roles: role -> propagate, for the subject's own ACLs (no intersection).
  std::map<std::string, bool> roles_at(const std::string& subject, bool is_token,
                                       const std::string& path) const;
  Privileges own_privileges(const std::string& subject, bool is_token,
                            const std::string& path) const;
};

}  // namespace pvt::sim
