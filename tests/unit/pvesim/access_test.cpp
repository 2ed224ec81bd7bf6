// Users, tokens, roles and ACLs as Proxmox VE evaluates them (pve-access-control's
// AccessControl::roles and RPCEnvironment::permissions), and the access API that sets them up.
#include "tools/pvesim/access.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/fake_clock.h"
#include "tools/pvesim/simulator.h"

namespace pvt::sim {
namespace {

const std::string kBase = R"(
[[node]]
name = "pve1"
[[guest]]
vmid = 110
node = "pve1"
status = "running"
[[guest]]
vmid = 210
type = "lxc"
node = "pve1"
status = "running"
[[guest]]
vmid = 310
node = "pve1"
pool = "lab"
[[user]]
id = "pvectl@pve"
[[token]]
id = "pvectl@pve!tunnel"
secret = "s1"
[[user]]
id = "admin@pve"
[[token]]
id = "admin@pve!setup"
secret = "s2"
privsep = false
[[acl]]
path = "/"
users = ["admin@pve"]
roles = ["Administrator"]
)";
const std::string kToken = "pvectl@pve!tunnel";
const std::string kAuth = "PVEAPIToken=pvectl@pve!tunnel=s1";
const std::string kAdmin = "PVEAPIToken=admin@pve!setup=s2";

// The simulators here answer at the topology's time; none of these tests lets time pass.
const FakeClock kClock{Clock::time_point{std::chrono::seconds{1795000000}}};

Topology topology(const std::string& extra) {
  auto t = parse_topology(kBase + extra, "test.toml", 1795000000);
  EXPECT_TRUE(t) << t.error().message;
  return t ? *t : Topology{};
}

Access access(const std::string& extra) { return make_access(topology(extra)); }

std::string acl(const std::string& path, const std::string& roles, const std::string& subjects,
                bool propagate = true) {
  return "[[acl]]\npath = \"" + path + "\"\nroles = [" + roles + "]\n" + subjects +
         (propagate ? "" : "propagate = false\n");
}
const std::string kBoth = "users = [\"pvectl@pve\"]\ntokens = [\"pvectl@pve!tunnel\"]\n";
const std::string kUser = "users = [\"pvectl@pve\"]\n";
const std::string kTok = "tokens = [\"pvectl@pve!tunnel\"]\n";

std::set<std::string> names(const Privileges& p) {
  std::set<std::string> out;
  for (const auto& [k, v] : p) out.insert(k);
  return out;
}

Json call(Simulator& sim, const std::string& auth, const std::string& method,
          const std::string& path, std::map<std::string, std::string> params = {},
          int expect = 200) {
  auto r = sim.handle(SimRequest{method, path, std::move(params), auth});
  EXPECT_EQ(r.status, expect) << method << " " << path << ": " << r.reason << " " << r.body;
  auto j = Json::parse(r.body, nullptr, false);
  return j.is_discarded() ? Json() : j;
}

TEST(Access, BuiltInRolesAreThoseOfPve) {
  const auto& roles = Access::builtin_roles();
  EXPECT_EQ(roles.at("PVEAuditor"),
            (std::set<std::string>{"Datastore.Audit", "Mapping.Audit", "Pool.Audit", "SDN.Audit",
                                   "Sys.Audit", "VM.Audit"}));
  EXPECT_TRUE(roles.at("NoAccess").empty());
  EXPECT_EQ(roles.at("Administrator"), Access::valid_privileges());
  EXPECT_TRUE(roles.at("PVEVMAdmin").count("VM.Allocate"));
  EXPECT_TRUE(roles.at("PVEVMAdmin").count("VM.PowerMgmt"));
  EXPECT_FALSE(roles.at("PVEVMAdmin").count("Sys.Modify"));
  EXPECT_TRUE(Access::valid_privileges().count("Permissions.Modify"));
  EXPECT_FALSE(Access::valid_privileges().count("VM.Frobnicate"));
}

TEST(Access, PrivilegeSeparatedTokenHasTheIntersectionWithItsUser) {
  auto a = access(acl("/", "\"PVEAuditor\"", kUser) + acl("/vms", "\"PVEVMAdmin\"", kTok));
  // The token was given PVEVMAdmin on /vms, the user only PVEAuditor (from /).
  EXPECT_EQ(names(a.permissions(kToken, "/vms/110")), (std::set<std::string>{"VM.Audit"}));
  EXPECT_EQ(names(a.permissions("pvectl@pve", "/vms/110")),
            names(a.permissions("pvectl@pve", "/")));
  // Nothing at / for the token: the user's privileges alone give it nothing.
  EXPECT_TRUE(a.permissions(kToken, "/").empty());
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.PowerMgmt"));
}

TEST(Access, TokenWithoutPrivilegeSeparationHasExactlyItsUsersPrivileges) {
  auto t = topology(acl("/", "\"PVEAuditor\"", kUser) + acl("/vms", "\"NoAccess\"", kTok));
  t.tokens.at(0).privsep = false;
  auto a = make_access(t);
  EXPECT_EQ(a.permissions(kToken, "/vms/110"), a.permissions("pvectl@pve", "/vms/110"));
  EXPECT_TRUE(a.has(kToken, "/vms/110", "VM.Audit"));  // its own NoAccess does not count
}

TEST(Access, PropagateZeroHoldsAtThePathButNotBelow) {
  auto a = access(acl("/vms", "\"PVEAuditor\"", kBoth, false));
  EXPECT_TRUE(a.has(kToken, "/vms", "VM.Audit"));
  EXPECT_FALSE(a.permissions(kToken, "/vms").at("VM.Audit"));  // the flag says: not propagated
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.Audit"));
  // Propagated on one side only: held, flag 0.
  a = access(acl("/vms", "\"PVEAuditor\"", kUser, false) + acl("/vms", "\"PVEAuditor\"", kTok));
  EXPECT_FALSE(a.permissions(kToken, "/vms").at("VM.Audit"));
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.Audit"));
}

TEST(Access, NoAccessAndDeeperAclsReplaceWhatIsInherited) {
  auto a = access(acl("/", "\"PVEAuditor\"", kBoth) + acl("/vms/210", "\"NoAccess\"", kBoth));
  EXPECT_TRUE(a.has(kToken, "/vms/110", "VM.Audit"));
  EXPECT_TRUE(a.permissions(kToken, "/vms/210").empty());
  // NoAccess next to another role on the same path still takes everything.
  a = access(acl("/", "\"PVEAuditor\"", kBoth) +
             acl("/vms/210", "\"NoAccess\",\"PVEVMAdmin\"", kBoth));
  EXPECT_TRUE(a.permissions(kToken, "/vms/210").empty());
  // Any ACL on a deeper path replaces the inherited roles: a role without VM.Audit on /vms
  // takes away the VM.Audit that PVEAuditor on / gave.
  a = access("[[role]]\nid = \"BackupRead\"\nprivs = \"Datastore.AllocateSpace VM.Backup\"\n" +
             acl("/", "\"PVEAuditor\"", kBoth) + acl("/vms", "\"BackupRead\"", kBoth));
  EXPECT_TRUE(a.has(kToken, "/vms/110", "VM.Backup"));
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.Audit"));
  EXPECT_TRUE(a.has(kToken, "/nodes/pve1", "Sys.Audit"));
}

TEST(Access, PoolAclsReachTheirGuestsWithoutPropagation) {
  auto a = access(acl("/pool/lab", "\"PVEAuditor\"", kBoth));
  EXPECT_TRUE(a.has(kToken, "/vms/310", "VM.Audit"));
  EXPECT_FALSE(a.permissions(kToken, "/vms/310").at("VM.Audit"));
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.Audit"));
}

TEST(Access, LegacyTokenPrivilegesKeepTheirMeaning) {
  auto t = load_topology(PVT_SOURCE_DIR "/examples/topology.toml", 1795000000);
  ASSERT_TRUE(t) << t.error().message;
  auto a = make_access(*t);
  EXPECT_TRUE(a.has(kToken, "/vms/110", "VM.Backup"));
  EXPECT_TRUE(a.has(kToken, "/vms/9999", "VM.Allocate"));
  EXPECT_FALSE(a.has(kToken, "/vms/9999", "VM.Backup"));  // the nearest path decides
  EXPECT_FALSE(a.has(kToken, "/vms/110", "VM.Allocate"));
}

TEST(Access, PermissionsListsEveryPathWithPrivilegesAndLeavesOutEmptyOnes) {
  Simulator sim(
      topology(acl("/", "\"PVEAuditor\"", kBoth) + acl("/vms/210", "\"NoAccess\"", kBoth) +
               acl("/vms/9999", "\"PVEVMAdmin\"", kBoth, false)),
      kClock);
  auto all = call(sim, kAuth, "GET", "/access/permissions")["data"];
  EXPECT_EQ(all["/"]["VM.Audit"], 1);
  EXPECT_EQ(all["/vms"]["Sys.Audit"], 1);         // top-level paths are listed, inherited from /
  EXPECT_EQ(all["/vms/9999"]["VM.Allocate"], 0);  // not propagated
  EXPECT_FALSE(all.contains("/vms/210"));         // NoAccess: left out
  EXPECT_FALSE(all.contains("/vms/110"));         // no ACL there: not a path of its own
  EXPECT_FALSE(all.contains("/vms/210")) << all.dump();
  auto one = call(sim, kAuth, "GET", "/access/permissions", {{"path", "/vms/210"}})["data"];
  EXPECT_EQ(one, Json({{"/vms/210", Json::object()}}));
  one = call(sim, kAuth, "GET", "/access/permissions", {{"path", "/vms/110"}})["data"];
  EXPECT_EQ(one["/vms/110"]["VM.Audit"], 1);
  EXPECT_EQ(one.size(), 1u);
  // Another user's permissions: with Sys.Audit on /access (PVEAuditor on / gives it).
  auto admin = call(sim, kAuth, "GET", "/access/permissions", {{"userid", "admin@pve"}})["data"];
  EXPECT_EQ(admin["/"]["Permissions.Modify"], 1);
}

TEST(Access, EveryPrivilegeCheckSeesTheIntersection) {
  // The token may see everything, its user nothing below /vms: no guest is listed or readable.
  Simulator sim(topology(acl("/", "\"PVEAuditor\"", kBoth) + acl("/vms", "\"NoAccess\"", kUser)),
                kClock);
  auto list = call(sim, kAuth, "GET", "/cluster/resources", {{"type", "vm"}})["data"];
  EXPECT_TRUE(list.empty()) << list.dump();
  auto r = sim.handle(SimRequest{"GET", "/nodes/pve1/qemu/110/config", {}, kAuth});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "Permission check failed (/vms/110, VM.Audit)");
  EXPECT_EQ(call(sim, kAuth, "GET", "/cluster/status")["data"].size(), 1u);  // Sys.Audit on /
}

TEST(AccessApi, SetsUpAUserATokenARoleAndAcls) {
  Simulator sim(topology(""), kClock);
  call(sim, kAdmin, "POST", "/access/users", {{"userid", "mon@pve"}, {"comment", "monitoring"}});
  auto dup = call(sim, kAdmin, "POST", "/access/users", {{"userid", "mon@pve"}}, 500);
  EXPECT_EQ(dup["message"], "create user failed: user 'mon@pve' already exists\n");
  auto tok = call(sim, kAdmin, "POST", "/access/users/mon@pve/token/check",
                  {{"privsep", "1"}, {"comment", "c"}})["data"];
  EXPECT_EQ(tok["full-tokenid"], "mon@pve!check");
  EXPECT_EQ(tok["info"], Json({{"privsep", 1}, {"comment", "c"}}));
  const std::string secret = tok["value"];
  EXPECT_EQ(secret.size(), 36u);
  auto again = call(sim, kAdmin, "POST", "/access/users/mon@pve/token/check", {}, 400);
  EXPECT_EQ(again["errors"]["tokenid"], "Token already exists.\n");
  call(sim, kAdmin, "POST", "/access/users/nobody@pve/token/check", {}, 403);

  auto bad = call(sim, kAdmin, "POST", "/access/roles",
                  {{"roleid", "Reader"}, {"privs", "VM.Audit VM.Frobnicate"}}, 400);
  EXPECT_EQ(bad["errors"]["privs"], "invalid format - invalid privilege 'VM.Frobnicate'\n");
  call(sim, kAdmin, "POST", "/access/roles", {{"roleid", "PVEMine"}, {"privs", "VM.Audit"}}, 400);
  call(sim, kAdmin, "POST", "/access/roles",
       {{"roleid", "Reader"}, {"privs", "VM.Audit,Sys.Audit"}});
  auto roles = call(sim, kAdmin, "GET", "/access/roles")["data"];
  bool found = false;
  for (const auto& r : roles) {
    if (r["roleid"] == "Reader") {
      found = true;
      EXPECT_EQ(r["privs"], "Sys.Audit,VM.Audit");
      EXPECT_EQ(r["special"], 0);
    }
  }
  EXPECT_TRUE(found);

  const std::string auth = "PVEAPIToken=mon@pve!check=" + secret;
  // Authenticated, but no ACL yet: no privileges.
  EXPECT_EQ(call(sim, auth, "GET", "/access/permissions")["data"], Json::object());
  call(sim, kAdmin, "PUT", "/access/acl",
       {{"path", "/"}, {"roles", "Reader"}, {"tokens", "mon@pve!check"}});
  EXPECT_EQ(call(sim, auth, "GET", "/access/permissions")["data"], Json::object());  // user: none
  call(sim, kAdmin, "PUT", "/access/acl",
       {{"path", "/"}, {"roles", "Reader"}, {"users", "mon@pve"}});
  EXPECT_EQ(call(sim, auth, "GET", "/access/permissions")["data"]["/"],
            Json({{"Sys.Audit", 1}, {"VM.Audit", 1}}));
  auto acls = call(sim, kAdmin, "GET", "/access/acl")["data"];
  const Json entry = {{"path", "/"},
                      {"type", "token"},
                      {"ugid", "mon@pve!check"},
                      {"roleid", "Reader"},
                      {"propagate", 1}};
  EXPECT_NE(std::find(acls.begin(), acls.end(), entry), acls.end()) << acls.dump();
  call(sim, kAdmin, "PUT", "/access/acl",
       {{"path", "/"}, {"roles", "Reader"}, {"users", "mon@pve"}, {"delete", "1"}});
  EXPECT_EQ(call(sim, auth, "GET", "/access/permissions")["data"], Json::object());

  auto users = call(sim, kAdmin, "GET", "/access/users")["data"];
  bool listed = false;
  for (const auto& u : users) listed |= u["userid"] == "mon@pve" && u["comment"] == "monitoring";
  EXPECT_TRUE(listed) << users.dump();

  // Parameters as PVE checks them.
  auto e = call(sim, kAdmin, "PUT", "/access/acl",
                {{"path", "/vms/abc"}, {"roles", "Reader"}, {"users", "mon@pve"}}, 400);
  EXPECT_EQ(e["errors"]["path"], "invalid ACL path '/vms/abc'\n");
  e = call(sim, kAdmin, "PUT", "/access/acl",
           {{"path", "/"}, {"roles", "Nope"}, {"users", "mon@pve"}}, 500);
  EXPECT_EQ(e["message"], "ACL update failed: role 'Nope' does not exist\n");
  e = call(sim, kAdmin, "PUT", "/access/acl", {{"path", "/"}, {"roles", "Reader"}}, 400);
  EXPECT_TRUE(e["errors"].contains("users"));
  e = call(sim, kAdmin, "PUT", "/access/acl",
           {{"path", "/"}, {"roles", "Reader"}, {"tokens", "mon@pve!other"}}, 500);
  EXPECT_EQ(e["message"], "ACL update failed: no such token 'other' for user 'mon@pve'\n");
}

TEST(AccessApi, NeedsTheCallersPrivileges) {
  Simulator sim(topology(acl("/", "\"PVEAuditor\"", kBoth)), kClock);
  auto r = sim.handle(SimRequest{"POST", "/access/users", {{"userid", "x@pve"}}, kAuth});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.reason, "Permission check failed (/access/realm/pve, Realm.AllocateUser)");
  r = sim.handle(SimRequest{"POST", "/access/roles", {{"roleid", "R"}}, kAuth});
  EXPECT_EQ(r.reason, "Permission check failed (/access, Sys.Modify)");
  r = sim.handle(SimRequest{"PUT",
                            "/access/acl",
                            {{"path", "/"}, {"roles", "PVEAuditor"}, {"users", "pvectl@pve"}},
                            kAuth});
  EXPECT_EQ(r.reason, "Permission check failed (/, Permissions.Modify)");
  r = sim.handle(
      SimRequest{"PUT",
                 "/access/acl",
                 {{"path", "/vms/110"}, {"roles", "PVEAuditor"}, {"users", "pvectl@pve"}},
                 kAuth});
  EXPECT_EQ(r.reason, "Permission check failed (/vms/110, Permissions.Modify|VM.Allocate)");
  r = sim.handle(SimRequest{"POST", "/access/users/pvectl@pve/token/second", {}, kAuth});
  EXPECT_EQ(r.reason, "Permission check failed");
  // Without Sys.Audit on /access (nor Permissions.Modify) no ACL is shown; without User.Modify
  // or Sys.Audit on /access/groups no user.
  Simulator narrow(topology(acl("/vms", "\"PVEAuditor\"", kBoth)), kClock);
  EXPECT_TRUE(call(narrow, kAuth, "GET", "/access/acl")["data"].empty());
  EXPECT_TRUE(call(narrow, kAuth, "GET", "/access/users")["data"].empty());
  call(narrow, kAuth, "GET", "/access/permissions", {{"userid", "admin@pve"}}, 403);
}

}  // namespace
}  // namespace pvt::sim
