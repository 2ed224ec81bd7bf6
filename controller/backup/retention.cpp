#include "controller/backup/retention.h"

#include <date/tz.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <numeric>
#include <set>

#include "controller/check/lookups.h"

namespace pvt::backup {
namespace {

using report::Status;

int keep_count(const std::map<std::string, std::string>& keep, const char* key) {
  auto it = keep.find(key);
  if (it == keep.end()) return 0;
  int n = 0;
  std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
  return n;
}

// The bucket a backup falls into for one keep-* option, in local time.
std::string bucket(int64_t ctime, const char* option, const date::time_zone* tz) {
  const date::sys_seconds t{std::chrono::seconds(ctime)};
  const date::local_seconds local =
      tz ? tz->to_local(t) : date::local_seconds{t.time_since_epoch()};
  const std::string o = option;
  if (o == "keep-last") return std::to_string(ctime);
  if (o == "keep-hourly") return date::format("%Y/%m/%d/%H", local);
  if (o == "keep-daily") return date::format("%Y/%m/%d", local);
  if (o == "keep-weekly") return date::format("%G/%V", local);  // ISO year and week, as PVE
  if (o == "keep-monthly") return date::format("%Y/%m", local);
  return date::format("%Y", local);
}

std::string describe(const std::map<std::string, std::string>& keep) {
  std::string out;
  for (const auto& [k, v] : keep) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out.empty() ? "keep-all" : out;
}

}  // namespace

std::vector<PruneMark> prune_marks(const std::vector<PruneEntry>& entries,
                                   const std::map<std::string, std::string>& keep,
                                   const date::time_zone* tz) {
  std::vector<std::optional<PruneMark>> marks(entries.size());
  const bool keep_all = keep.empty() || keep_count(keep, "keep-all") > 0;
  std::vector<size_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return entries[a].ctime > entries[b].ctime; });
  for (size_t i : order) {
    if (entries[i].is_protected)
      marks[i] = PruneMark::is_protected;
    else if (keep_all)
      marks[i] = PruneMark::keep;
  }
  // Each option in PVE's order keeps the newest backup of each of its newest N buckets that no
  // earlier option already covered.
  for (const char* option :
       {"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"}) {
    const int count = keep_count(keep, option);
    if (count <= 0 || keep_all) continue;
    std::set<std::string> already;
    for (size_t i : order) {
      if (marks[i] == PruneMark::keep) already.insert(bucket(entries[i].ctime, option, tz));
    }
    std::set<std::string> added;
    for (size_t i : order) {
      if (marks[i]) continue;
      const std::string id = bucket(entries[i].ctime, option, tz);
      if (already.count(id)) continue;
      if (added.count(id)) {
        marks[i] = PruneMark::remove;
        continue;
      }
      if (static_cast<int>(added.size()) >= count) break;
      added.insert(id);
      marks[i] = PruneMark::keep;
    }
  }
  std::vector<PruneMark> out;
  out.reserve(marks.size());
  for (const auto& m : marks) out.push_back(m.value_or(PruneMark::remove));
  return out;
}

const std::map<std::string, std::string>& effective_prune(
    const std::map<std::string, std::string>& job,
    const std::map<std::string, std::string>& storage) {
  return job.empty() ? storage : job;
}

Finding retention_finding(const std::vector<pve::BackupVolume>& volumes,
                          const std::map<std::string, std::string>& keep, const date::time_zone* tz,
                          int64_t now) {
  Finding f;
  f.expected = "the newest verified backup kept";
  const pve::BackupVolume* verified = check::newest_verified(volumes);
  if (verified == nullptr) {
    f.observed = "no verified backup";
    f.message = "no backup here is verified yet (see backup.verification); nothing to keep";
    return f;
  }
  // The next run adds a backup that is not verified until the next verify job.
  std::vector<PruneEntry> entries{{now, false}};
  for (const auto& v : volumes) entries.push_back({v.ctime, v.is_protected});
  const auto marks = prune_marks(entries, keep, tz);
  const size_t at = static_cast<size_t>(verified - volumes.data()) + 1;
  if (marks[at] == PruneMark::remove) {
    f.status = Status::warning;
    f.observed = fmt::format("{} removes {}", describe(keep), verified->volid);
    f.message = fmt::format(
        "with prune-backups {} the prune after the next backup removes {}, the last verified "
        "backup, before the new one is verified",
        describe(keep), verified->volid);
    f.remediation = fmt::format(
        "keep at least two backups (keep-last=2 or more), or protect the verified one: "
        "`pvesh set /nodes/<node>/storage/{}/content/{} --protected 1`",
        verified->storage, verified->volid);
    return f;
  }
  f.observed = fmt::format("{} keeps {}", describe(keep), verified->volid);
  f.message = marks[at] == PruneMark::is_protected
                  ? fmt::format("the last verified backup {} is protected", verified->volid)
                  : fmt::format("the prune after the next backup keeps {}", verified->volid);
  return f;
}

}  // namespace pvt::backup
