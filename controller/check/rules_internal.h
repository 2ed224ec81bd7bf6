// Private to rules*.cpp: what the rule functions share. evaluate() (rules.cpp) calls them in the
// report's order; each file holds one topic's rules.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "controller/check/observation.h"
#include "controller/report.h"

namespace pvt::check::detail {

inline std::optional<std::string> opt(std::string s) {
  return std::optional<std::string>(std::move(s));
}

// Collects the report's results and measurements in the order the rules add them.
struct Builder {
  std::vector<report::RuleResult>& out;
  std::vector<report::Measurement>& measurements;
  // Appends a result; an OK one carries no remediation, whatever the rule passed.
  void add(std::string rule, std::string target, report::Status status,
           std::optional<std::string> observed, std::optional<std::string> expected,
           std::string message, std::string remediation = "", std::string headline = "");
  // Appends a measurement with min 0; returns it for the rare extra field (max).
  report::Measurement& measure(std::string target, std::string name, double value,
                               report::Unit unit, std::optional<double> crit = std::nullopt);
};

// The guest's ACL path, /vms/{vmid}.
std::string vm_path(int64_t vmid);
// An age as people read it: "2d 3h" from two days on, "5h 12m" below.
std::string format_age(std::chrono::seconds age);
// An epoch time in UTC as the report prints times.
std::string utc(int64_t epoch);
// The time as epoch seconds, the unit of PVE's ctime and starttime.
int64_t epoch_seconds(std::chrono::system_clock::time_point t);

// What the token cannot see, found by token.privileges: the rules that would read it say
// UNKNOWN and point there instead of calling it absent.
struct Visibility {
  bool known = false;               // permissions were read
  std::set<int64_t> hidden_guests;  // no VM.Audit
  std::set<int64_t> hidden_backups;
  std::set<std::string> hidden_task_nodes;  // no Sys.Audit on /nodes/{node}
};

// A configured guest that was found in the cluster, with what its rules share.
struct GuestContext {
  const config::Guest& guest;
  const GuestObservation& observed;
  const pve::VmResource& resource;  // where it runs: resource.node
  const Visibility& vis;
  std::string tool;        // qm or pct
  bool node_down = false;  // its node cannot be reached: node-bound rules are UNKNOWN
  const std::string& name() const { return guest.name; }
  const std::string& node() const { return resource.node; }
};

// The context of a guest that rule_guest_exists found.
GuestContext guest_context(const config::Guest& g, const GuestObservation& go,
                           const Visibility& vis);

// rules_cluster.cpp
// pve.tls: whether the API's certificate is verified.
void rule_pve_tls(const config::Config& cfg, Builder& b);
// cluster.quorum: whether the cluster is quorate.
void rule_cluster_quorum(const Read<pve::ClusterStatus>& cluster, Builder& b);
// cluster.two_node: whether losing one node loses quorum (two nodes without a QDevice); also
// measures the nodes online.
void rule_cluster_two_node(const Read<pve::ClusterStatus>& cluster,
                           const Read<pve::QDevice>& qdevice, Builder& b);

// rules_token.cpp
// token.privileges: whether the token has every privilege check and the enabled enforcement
// need; returns what it cannot see, for the other rules.
Visibility rule_token_privileges(const config::Config& cfg, const Observation& o, Builder& b);

// rules_guest.cpp
// guest.exists: whether the guest is in the cluster and visible; when it is not, every other
// guest rule is UNKNOWN and this returns false.
bool rule_guest_exists(const config::Guest& g, const GuestObservation& go, const Observation& o,
                       const Visibility& vis, Builder& b);
// guest.node: whether the guest runs on the configured node.
void rule_guest_node(const GuestContext& c, Builder& b);
// guest.type: whether the vmid is a guest of the configured type.
void rule_guest_type(const GuestContext& c, Builder& b);
// guest.template: whether the guest is a template (which cannot run).
void rule_guest_template(const GuestContext& c, Builder& b);
// guest.onboot and guest.startup: whether its config starts it at boot, in the configured order.
void rule_guest_boot(const GuestContext& c, Builder& b);
// guest.running: whether the guest runs.
void rule_guest_running(const GuestContext& c, Builder& b);
// guest.lock: whether a lock holds up start, config changes and backups.
void rule_guest_lock(const GuestContext& c, Builder& b);

// rules_backup.cpp
// backup.job: whether an enabled job covers the guest (`job`, nullptr when none does).
void rule_backup_job(const GuestContext& c, const Observation& o, const pve::BackupJob* job,
                     Builder& b);
// backup.age: whether the newest backup is younger than the covering job's schedule allows.
void rule_backup_age(const GuestContext& c, const config::BackupSection& policy,
                     const Observation& o, const pve::BackupJob* job, Builder& b);
// backup.task: whether the last vzdump task that covered the guest succeeded.
void rule_backup_task(const GuestContext& c, const Observation& o, Builder& b);
// backup.verification: whether the newest PBS backup is verified (only where PBS verifies).
void rule_backup_verification(const GuestContext& c, const config::BackupSection& policy,
                              std::chrono::system_clock::time_point now, Builder& b);

// rules_tunnel.cpp
// tunnel.worker: whether the tunnel's worker serves its forward.
void rule_tunnel_worker(const config::Tunnel& t, const Observation& o, Builder& b);
// tunnel.probe: whether the end-to-end probe through the VPS succeeds, recently; also measures
// its latency.
void rule_tunnel_probe(const config::Tunnel& t, const Observation& o, Builder& b);

}  // namespace pvt::check::detail
