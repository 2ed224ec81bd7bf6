#include "controller/backup/verify.h"

#include <fmt/format.h>

#include <algorithm>

#include "controller/backup/archive_checks.h"
#include "controller/backup/retention.h"
#include "controller/check/lookups.h"
#include "controller/check/rules.h"

namespace pvt::backup {
namespace {

using report::Status;

bool kept_from_check(const std::string& rule) {
  return rule.rfind("backup.", 0) == 0 || rule == "token.privileges" || rule == "pve.tls";
}

// Each target's results together, in the config's order (the token and the cluster first), so
// the report lists each guest once.
void group_by_target(report::Report& r, const config::Config& cfg) {
  auto rank = [&](const std::string& target) {
    for (size_t i = 0; i < cfg.guests.size(); ++i) {
      if (cfg.guests[i].name == target) return i + 1;
    }
    return size_t{0};
  };
  std::stable_sort(r.results.begin(), r.results.end(),
                   [&](const report::RuleResult& a, const report::RuleResult& b) {
                     return rank(a.target) < rank(b.target);
                   });
}

void add(report::Report& r, const char* rule, const std::string& target, const Finding& f) {
  r.results.push_back(
      report::RuleResult{rule, target, f.status, f.observed, f.expected, f.message, f.remediation});
}

void add_unknown(report::Report& r, const char* rule, const std::string& target,
                 const std::string& why) {
  r.results.push_back(
      report::RuleResult{rule, target, Status::unknown, std::nullopt, std::nullopt, why, ""});
}

// backup.retention for the storage that holds the guest's newest verified backup, pruned with
// the covering job's settings (or the storage's) in the node's time zone.
Finding retention_of(const check::Observation& observed, const check::GuestObservation& go,
                     const config::Guest& g, const std::vector<pve::BackupVolume>& volumes,
                     const std::map<std::string, std::map<std::string, std::string>>& storage_prune,
                     int64_t now_s) {
  const pve::BackupVolume* verified = check::newest_verified(volumes);
  const std::string storage = verified ? verified->storage : volumes.front().storage;
  std::vector<pve::BackupVolume> here;
  for (const auto& v : volumes) {
    if (v.storage == storage) here.push_back(v);
  }
  const pve::BackupJob* job =
      observed.jobs
          ? check::covering_job(*observed.jobs, g.vmid, go.resource->node, observed.pools, true)
          : nullptr;
  static const std::map<std::string, std::string> none;
  auto sp = storage_prune.find(storage);
  const auto& keep = effective_prune(job ? job->prune_backups : none,
                                     sp == storage_prune.end() ? none : sp->second);
  return retention_finding(here, keep, check::node_zone(observed.node_times, go.resource->node).tz,
                           now_s);
}

// What a restore test of the guest needs from the verification.
struct Restorable {
  std::optional<RestoreSubject> subject;
  std::string why_not;  // when there is no subject
  report::Status why_not_status = report::Status::unknown;
};

report::Report verify_guests(const config::Config& cfg, pve::Client& client, Clock& clock,
                             const check::CollectOptions& options,
                             std::vector<Restorable>& restorable) {
  const check::Observation observed = check::collect(cfg, client, clock, options);
  const report::Report full = check::evaluate(cfg, observed);
  report::Report r;
  r.checked_at = full.checked_at;
  r.error = full.error;
  for (const auto& result : full.results) {
    if (kept_from_check(result.rule)) r.results.push_back(result);
  }
  for (const auto& m : full.measurements) {
    if (m.name.rfind("backup_", 0) == 0) r.measurements.push_back(m);
  }

  // Prune settings of the storages, for jobs that have none of their own.
  std::map<std::string, std::map<std::string, std::string>> storage_prune;
  if (auto storages = client.storage_configs()) {
    for (const auto& s : *storages) storage_prune[s.storage] = s.prune_backups;
  }
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(observed.now.time_since_epoch()).count();

  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const config::Guest& g = cfg.guests[i];
    const check::GuestObservation& go = observed.guests[i];
    Restorable& restore = restorable.emplace_back();
    if (!go.resource) {
      for (const char* rule : {"backup.size", "backup.archive", "backup.retention"}) {
        add_unknown(r, rule, g.name, "guest not found");
      }
      restore.why_not = "guest not found";
      continue;
    }
    std::vector<pve::BackupVolume> volumes = check::backups_of(go, g.vmid);
    const std::string unreadable = check::unlisted_storage(go);
    std::sort(volumes.begin(), volumes.end(),
              [](const auto& a, const auto& b) { return a.ctime > b.ctime; });
    if (volumes.empty()) {
      const std::string why = unreadable.empty() ? "no backup to check (see backup.age)"
                                                 : "cannot list backups on " + unreadable;
      for (const char* rule : {"backup.size", "backup.archive", "backup.retention"}) {
        add_unknown(r, rule, g.name, why);
      }
      restore.why_not = why;
      continue;
    }
    add(r, "backup.size", g.name,
        size_finding(volumes[0], volumes.size() > 1 ? &volumes[1] : nullptr));

    std::string name;
    if (go.config && *go.config) name = (*go.config)->name;
    auto text = client.extract_config(go.resource->node, volumes[0].volid);
    const std::optional<std::string> extracted =
        text ? std::optional<std::string>(*text) : std::nullopt;
    add(r, "backup.archive", g.name,
        archive_finding(volumes[0].volid, extracted, text ? "" : text.error().describe(), g.type,
                        name));
    add(r, "backup.retention", g.name,
        retention_of(observed, go, g, volumes, storage_prune, now_s));
    if (text) {
      restore.subject = RestoreSubject{g.name, g.type, go.resource->node, volumes[0].volid, *text};
    } else {
      restore.why_not = "the archive's config cannot be read (see backup.archive)";
      restore.why_not_status = report::Status::critical;
    }
  }
  group_by_target(r, cfg);
  return r;
}

}  // namespace

report::Report verify(const config::Config& cfg, pve::Client& client, Clock& clock,
                      const check::CollectOptions& options) {
  std::vector<Restorable> unused;
  return verify_guests(cfg, client, clock, options, unused);
}

report::Report verify_with_restore(const config::Config& cfg, pve::Client& client, Clock& clock,
                                   const check::CollectOptions& options,
                                   const RestoreTestOptions& restore_options) {
  std::vector<Restorable> restorable;
  report::Report r = verify_guests(cfg, client, clock, options, restorable);
  for (size_t i = 0; i < cfg.guests.size() && i < restorable.size(); ++i) {
    const Restorable& x = restorable[i];
    Finding f;
    if (restore_options.interrupted && restore_options.interrupted()) {
      f = restore_not_run(report::Status::unknown, "interrupted before this guest's test");
    } else if (!x.subject) {
      f = restore_not_run(x.why_not_status, x.why_not);
    } else {
      f = restore_test(client, clock, cfg.backup, *x.subject, restore_options);
    }
    add(r, "backup.restore", cfg.guests[i].name, f);
  }
  group_by_target(r, cfg);
  return r;
}

}  // namespace pvt::backup
