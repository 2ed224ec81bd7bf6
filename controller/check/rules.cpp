#include "controller/check/rules.h"

#include "schedule/calendar_event.h"

#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>

#include "controller/check/lookups.h"
#include "controller/check/rules_internal.h"

namespace pvt::check {

namespace detail {

void Builder::add(std::string rule, std::string target, report::Status status,
                  std::optional<std::string> observed, std::optional<std::string> expected,
                  std::string message, std::string remediation, std::string headline) {
  if (status == report::Status::ok) remediation.clear();
  out.push_back(report::RuleResult{std::move(rule), std::move(target), status, std::move(observed),
                                   std::move(expected), std::move(message), std::move(remediation),
                                   std::move(headline)});
}

report::Measurement& Builder::measure(std::string target, std::string name, double value,
                                      report::Unit unit, std::optional<double> crit) {
  report::Measurement& m = measurements.emplace_back();
  m.target = std::move(target);
  m.name = std::move(name);
  m.value = value;
  m.unit = unit;
  m.crit = crit;
  m.min = 0;
  return m;
}

std::string vm_path(int64_t vmid) { return fmt::format("/vms/{}", vmid); }

std::string format_age(std::chrono::seconds age) {
  auto h = std::chrono::duration_cast<std::chrono::hours>(age).count();
  if (h >= 48) return fmt::format("{}d {}h", h / 24, h % 24);
  auto m = std::chrono::duration_cast<std::chrono::minutes>(age).count() % 60;
  return fmt::format("{}h {}m", h, m);
}

std::string utc(int64_t epoch) {
  return report::format_utc(std::chrono::system_clock::time_point(std::chrono::seconds(epoch)));
}

int64_t epoch_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace detail

namespace {

// A schedule's run in the node's zone, or UTC without one.
std::string local_time(std::chrono::sys_seconds t, const date::time_zone* tz) {
  if (tz == nullptr) return date::format("%a %Y-%m-%d %H:%M UTC", t);
  return date::format("%a %Y-%m-%d %H:%M %Z", date::make_zoned(tz, t));
}

}  // namespace

std::string job_runs(const pve::BackupJob& job, const Read<pve::NodeTime>* node_time,
                     std::chrono::system_clock::time_point now) {
  auto event = schedule::parse_calendar_event(job.schedule);
  if (!event) return "";
  const auto [tz, zone] = node_zone(node_time);
  const auto at = std::chrono::time_point_cast<std::chrono::seconds>(now);
  const auto last = schedule::previous_before(*event, at, tz);
  const auto next = schedule::next_after(*event, at, tz);
  if (!last && !next) return "";
  std::string out = last ? "last " + local_time(*last, tz) : "never ran before";
  out += next ? ", next " + local_time(*next, tz) : ", no further run";
  if (tz == nullptr && zone != "UTC") out += " (" + zone + ")";
  return out;
}

BackupAllowance allowed_backup_age(const config::BackupSection& policy,
                                   const pve::BackupJob* covering_job,
                                   const Read<pve::NodeTime>* node_time,
                                   std::chrono::system_clock::time_point now) {
  const std::chrono::seconds grace = std::chrono::hours(policy.grace_h);
  const std::chrono::seconds fallback = std::chrono::hours(policy.max_age_h) + grace;
  if (covering_job == nullptr) {
    return {fallback, fmt::format("no enabled job covers it: max_age_h {} + grace_h {}",
                                  policy.max_age_h, policy.grace_h)};
  }
  const pve::BackupJob& job = *covering_job;
  auto event = schedule::parse_calendar_event(job.schedule);
  if (!event) {
    return {fallback,
            fmt::format("schedule of job {} not understood ({}): max_age_h {} + grace_h {}", job.id,
                        event.error().message, policy.max_age_h, policy.grace_h)};
  }
  const auto [tz, zone] = node_zone(node_time);
  const auto at = std::chrono::time_point_cast<std::chrono::seconds>(now);
  auto gap = schedule::longest_gap(*event, at, tz);
  if (!gap) {
    return {fallback, fmt::format("job {} \"{}\" runs less than twice around now: max_age_h {} + "
                                  "grace_h {}",
                                  job.id, job.schedule, policy.max_age_h, policy.grace_h)};
  }
  return {*gap + grace,
          fmt::format("job {} \"{}\" ({}) runs at most {} apart, + grace_h {}", job.id,
                      job.schedule, zone, detail::format_age(*gap), policy.grace_h)};
}

bool job_selects(const pve::BackupJob& job, int64_t vmid, const std::string& node,
                 const std::map<std::string, Read<pve::Pool>>& pools) {
  if (job.node && !job.node->empty() && *job.node != node) return false;
  if (job.all) return std::find(job.exclude.begin(), job.exclude.end(), vmid) == job.exclude.end();
  if (std::find(job.vmids.begin(), job.vmids.end(), vmid) != job.vmids.end()) return true;
  if (job.pool) {
    auto p = pools.find(*job.pool);
    if (p != pools.end() && p->second) {
      for (const auto& m : p->second->members) {
        if (m.vmid && *m.vmid == vmid) return true;
      }
    }
  }
  return false;
}

report::Report evaluate(const config::Config& cfg, const Observation& o) {
  using namespace detail;
  report::Report rep;
  rep.checked_at = o.now;
  Builder b{rep.results, rep.measurements};
  if (!o.version) {
    rep.error = fmt::format("the Proxmox VE API cannot be used: {}", o.version.error().describe());
  }

  rule_pve_tls(cfg, b);
  rule_cluster_quorum(o.cluster, b);
  rule_cluster_two_node(o.cluster, o.qdevice, b);
  const Visibility vis = rule_token_privileges(cfg, o, b);

  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const auto& g = cfg.guests[i];
    const auto& go = observed_guest(o, i);
    if (!rule_guest_exists(g, go, o, vis, b)) continue;
    const GuestContext c = guest_context(g, go, vis);
    rule_guest_node(c, b);
    rule_guest_type(c, b);
    rule_guest_template(c, b);
    rule_guest_boot(c, b);
    rule_guest_running(c, b);
    rule_guest_lock(c, b);
    // backup.job reports the job whose schedule backup.age allows for.
    const pve::BackupJob* job =
        o.jobs ? covering_job(*o.jobs, g.vmid, c.node(), o.pools, true) : nullptr;
    rule_backup_job(c, o, job, b);
    rule_backup_age(c, cfg.backup, o, job, b);
    rule_backup_task(c, o, b);
    rule_backup_verification(c, cfg.backup, o.now, b);
  }

  for (const auto& t : cfg.tunnels) {
    if (!t.control_url) continue;
    rule_tunnel_worker(t, o, b);
    rule_tunnel_probe(t, o, b);
  }
  return rep;
}

}  // namespace pvt::check
