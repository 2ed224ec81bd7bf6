#include "controller/backup/verify.h"

#include <fmt/format.h>

#include <algorithm>

#include "controller/backup/archive_checks.h"
#include "controller/check/rules.h"

namespace pvt::backup {
namespace {

using report::Status;

bool kept_from_check(const std::string& rule) {
  return rule.rfind("backup.", 0) == 0 || rule == "token.privileges";
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

}  // namespace

report::Report verify(const config::Config& cfg, pve::Client& client,
                      const check::CollectOptions& options,
                      std::chrono::system_clock::time_point now) {
  const check::Observation observed = check::collect(cfg, client, options, now);
  const report::Report full = check::evaluate(cfg, observed);
  report::Report r;
  r.checked_at = full.checked_at;
  r.error = full.error;
  for (const auto& result : full.results) {
    if (kept_from_check(result.rule)) r.results.push_back(result);
  }

  for (size_t i = 0; i < cfg.guests.size(); ++i) {
    const config::Guest& g = cfg.guests[i];
    const check::GuestObservation& go = observed.guests[i];
    if (!go.resource) {
      add_unknown(r, "backup.size", g.name, "guest not found");
      add_unknown(r, "backup.archive", g.name, "guest not found");
      continue;
    }
    std::vector<pve::BackupVolume> volumes;
    std::string unreadable;
    for (const auto& sb : go.backups) {
      if (!sb.volumes) {
        unreadable = sb.storage + ": " + sb.volumes.error().describe();
        continue;
      }
      for (const auto& v : *sb.volumes) {
        if (v.vmid == g.vmid) volumes.push_back(v);
      }
    }
    std::sort(volumes.begin(), volumes.end(),
              [](const auto& a, const auto& b) { return a.ctime > b.ctime; });
    if (volumes.empty()) {
      const std::string why = unreadable.empty() ? "no backup to check (see backup.age)"
                                                 : "cannot list backups on " + unreadable;
      add_unknown(r, "backup.size", g.name, why);
      add_unknown(r, "backup.archive", g.name, why);
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
  }
  return r;
}

}  // namespace pvt::backup
