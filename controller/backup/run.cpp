#include "controller/backup/run.h"

#include <fmt/format.h>

#include <map>

#include "controller/backup/task_follow.h"
#include "controller/check/lookups.h"

namespace pvt::backup {

Result<RunSettings> run_settings(const config::BackupSection& policy, const pve::BackupJob* job) {
  RunSettings s;
  if (policy.storage) {
    s.storage = *policy.storage;
    s.source = "[backup] storage";
  } else if (job != nullptr && job->storage) {
    s.storage = *job->storage;
    s.source = "job " + job->id;
  } else {
    return fail(
        job == nullptr
            ? "no enabled backup job covers it and [backup] storage is not set: set "
              "storage in [backup] or add the guest to a job"
            : fmt::format("job {} names no storage and [backup] storage is not set", job->id));
  }
  if (job != nullptr && job->mode) s.mode = *job->mode;
  return s;
}

Result<std::vector<GuestRun>> run_backups(const config::Config& cfg, pve::Client& client,
                                          Clock& clock, const RunOptions& options) {
  auto resources = client.vm_resources();
  if (!resources) return fail("cannot list the guests: " + resources.error().describe());
  auto jobs = client.backup_jobs();
  if (!jobs) return fail("cannot read the backup jobs: " + jobs.error().describe());
  std::map<std::string, check::Read<pve::Pool>> pools;
  for (const auto& j : *jobs) {
    if (j.pool && !pools.count(*j.pool)) pools.emplace(*j.pool, client.pool(*j.pool));
  }

  std::vector<GuestRun> runs;
  for (const auto& g : cfg.guests) {
    GuestRun run;
    run.guest = g.name;
    const pve::VmResource* res = nullptr;
    for (const auto& r : *resources) {
      if (r.vmid == g.vmid) res = &r;
    }
    if (res == nullptr) {
      run.outcome = fmt::format("guest {} not found in the cluster", g.vmid);
      runs.push_back(std::move(run));
      continue;
    }
    run.node = res->node;
    const pve::BackupJob* job = check::covering_job(*jobs, g.vmid, res->node, pools, true);
    auto settings = run_settings(cfg.backup, job);
    if (!settings) {
      run.outcome = settings.error().message;
      runs.push_back(std::move(run));
      continue;
    }
    run.storage = settings->storage;
    pve::VzdumpOptions o;
    o.vmids = {g.vmid};
    o.storage = settings->storage;
    o.mode = settings->mode;
    if (options.on_log) {
      options.on_log(g.name,
                     fmt::format("vzdump {} --storage {} --mode {} on {} (from {})", g.vmid,
                                 settings->storage, settings->mode, res->node, settings->source));
    }
    auto upid = client.vzdump(res->node, o);
    if (!upid) {
      run.outcome = "vzdump was refused: " + upid.error().describe();
    } else if (!*upid) {
      run.outcome = fmt::format("node {} started no backup (the guest moved?)", res->node);
    } else {
      run.upid = (*upid)->text;
      TaskFollowOptions follow;
      follow.poll = options.poll;
      if (options.on_log)
        follow.on_line = [&](const std::string& line) { options.on_log(g.name, line); };
      const TaskOutcome outcome = follow_task(client, clock, res->node, run.upid, follow);
      run.outcome = outcome.exitstatus;
      run.errors = outcome.errors;
      run.ok = outcome.ok();
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace pvt::backup
