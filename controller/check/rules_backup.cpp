// The rules about each tunnel guest's backups: the covering job, the newest backup's age, the
// last vzdump task, PBS verification.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "controller/check/lookups.h"
#include "controller/check/rules.h"
#include "controller/check/rules_internal.h"
#include "controller/check/vzdump_log.h"

namespace pvt::check::detail {

using report::Status;

namespace {

// The outcome of the newest finished vzdump task in `tasks` that covered the guest; notes a log
// that could not be read, since that task may have been the guest's.
std::optional<GuestBackupOutcome> last_outcome(const NodeTasks& tasks, int64_t vmid,
                                               bool& unreadable_log) {
  if (!tasks.tasks) return std::nullopt;
  for (const auto& task : *tasks.tasks) {
    auto log = tasks.logs.find(task.upid);
    const std::vector<pve::TaskLogLine>* lines = nullptr;
    if (log != tasks.logs.end()) {
      if (log->second) {
        lines = &*log->second;
      } else {
        unreadable_log = true;
      }
    }
    if (!task_covers(task, lines, vmid)) continue;
    auto out = outcome_for(task, lines, vmid);
    if (out.result == GuestBackupOutcome::Result::running) continue;
    return out;
  }
  return std::nullopt;
}

}  // namespace

void rule_backup_job(const GuestContext& c, const Observation& o, const pve::BackupJob* job,
                     Builder& b) {
  const auto& g = c.guest;
  const std::string& name = g.name;
  if (!o.jobs) {
    b.add("backup.job", name, Status::unknown, std::nullopt, opt("an enabled job"),
          "cannot read backup jobs: " + o.jobs.error().describe());
    return;
  }
  if (job) {
    const std::string runs = job_runs(*job, node_time(o.node_times, c.node()), o.now);
    b.add("backup.job", name, Status::ok, opt(job->id), opt("an enabled job"),
          fmt::format("covered by job {} ({}{}){}", job->id, job->schedule,
                      job->storage ? " to " + *job->storage : "", runs.empty() ? "" : ": " + runs));
    return;
  }
  std::vector<std::string> unreadable;
  for (const auto& [pool, read] : o.pools) {
    if (!read) unreadable.push_back(pool);
  }
  const auto* disabled = covering_job(*o.jobs, g.vmid, c.node(), o.pools, false);
  if (!unreadable.empty()) {
    b.add("backup.job", name, Status::unknown, std::nullopt, opt("an enabled job"),
          fmt::format("no job names {} directly and the members of pool {} cannot be read", g.vmid,
                      unreadable.front()));
  } else {
    b.add("backup.job", name, Status::critical,
          opt(disabled ? disabled->id + " (disabled)" : "none"), opt("an enabled job"),
          disabled ? fmt::format("only the disabled job {} covers {}", disabled->id, g.vmid)
                   : fmt::format("no enabled backup job covers {}", g.vmid),
          disabled
              ? fmt::format("enable it: `pvesh set /cluster/backup/{} --enabled 1`", disabled->id)
              : fmt::format("add {} to a backup job (Datacenter > Backup)", g.vmid));
  }
}

void rule_backup_age(const GuestContext& c, const config::BackupSection& policy,
                     const Observation& o, const pve::BackupJob* job, Builder& b) {
  const auto& g = c.guest;
  const auto& go = c.observed;
  const std::string& name = g.name;
  const int64_t now_s = epoch_seconds(o.now);
  const BackupAllowance allowance =
      allowed_backup_age(policy, job, node_time(o.node_times, c.node()), o.now);
  const auto allowed = allowance.allowed;
  const std::string allowed_s =
      fmt::format("<= {}h", std::chrono::ceil<std::chrono::hours>(allowed).count());
  const pve::BackupVolume* newest = newest_backup(go, g.vmid);
  const std::string unreadable_storage = unlisted_storage(go);
  if (c.node_down) {
    b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
          fmt::format("node {} cannot be reached", c.node()));
  } else if (c.vis.hidden_backups.count(g.vmid) && !newest) {
    b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
          "the token cannot see this guest's backups (see token.privileges)");
  } else if (!unreadable_storage.empty() && !newest) {
    b.add("backup.age", name, Status::unknown, std::nullopt, opt(allowed_s),
          "cannot list backups on " + unreadable_storage);
  } else if (newest && !o.jobs) {
    // Without the jobs the allowed age is a guess: max_age_h could call a backup fresh that
    // the job's schedule says is overdue.
    b.add(
        "backup.age", name, Status::unknown,
        opt(fmt::format("{} ({})", format_age(std::chrono::seconds(now_s - newest->ctime)),
                        utc(newest->ctime))),
        std::nullopt,
        "cannot read the backup jobs, so the allowed age is unknown: " + o.jobs.error().describe());
  } else if (!newest) {
    b.add("backup.age", name, Status::critical, opt("no backup"), opt(allowed_s),
          go.backups.empty()
              ? fmt::format("no storage with backup content is available on {}", c.node())
              : "no backup of this guest on any backup storage",
          fmt::format("run a backup now: `vzdump {} --storage <storage>`", g.vmid));
  } else {
    const auto age = std::chrono::seconds(now_s - newest->ctime);
    const std::string observed = fmt::format("{} ({})", format_age(age), utc(newest->ctime));
    b.measure(name, "backup_age", static_cast<double>(age.count()), report::Unit::seconds,
              static_cast<double>(allowed.count()));
    b.measure(name, "backup_size", static_cast<double>(newest->size), report::Unit::bytes);
    if (age <= allowed) {
      b.add("backup.age", name, Status::ok, opt(observed), opt(allowed_s),
            fmt::format("newest backup {} is fresh enough ({})", newest->volid, allowance.basis));
    } else {
      b.add("backup.age", name, Status::critical, opt(observed), opt(allowed_s),
            fmt::format("newest backup {} is older than allowed ({})", newest->volid,
                        allowance.basis),
            fmt::format("check the backup job and run one now: `vzdump {}`", g.vmid),
            fmt::format("newest backup {} old (allowed {})", format_age(age), allowed_s));
    }
  }
}

void rule_backup_task(const GuestContext& c, const Observation& o, Builder& b) {
  const auto& g = c.guest;
  const auto& go = c.observed;
  const std::string& name = g.name;
  const std::string& node = c.node();
  auto nt = o.node_tasks.find(node);
  if (c.node_down || nt == o.node_tasks.end()) {
    b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
          c.node_down ? fmt::format("node {} cannot be reached", node) : "task list not read");
    return;
  }
  if (!nt->second.tasks) {
    b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
          "cannot list vzdump tasks: " + nt->second.tasks.error().describe());
    return;
  }
  bool unreadable_log = false;
  std::string task_node = node;
  std::optional<GuestBackupOutcome> outcome = last_outcome(nt->second, g.vmid, unreadable_log);
  // The guest moved since its last backup: that backup's task is on the node it was on.
  for (size_t k = 1; !outcome && k < go.task_nodes.size(); ++k) {
    auto other = o.node_tasks.find(go.task_nodes[k]);
    if (other == o.node_tasks.end()) continue;
    outcome = last_outcome(other->second, g.vmid, unreadable_log);
    if (outcome) task_node = go.task_nodes[k];
  }
  const std::string where = task_node == node ? "" : fmt::format(" on {}", task_node);
  if (!outcome) {
    if (c.vis.hidden_task_nodes.count(node)) {
      b.add(
          "backup.task", name, Status::unknown, std::nullopt, opt("OK"),
          fmt::format("the token cannot see root@pam's tasks on {} (needs Sys.Audit on /nodes/{})",
                      node, node));
    } else if (unreadable_log) {
      b.add("backup.task", name, Status::unknown, std::nullopt, opt("OK"),
            "some vzdump task logs could not be read");
    } else {
      b.add("backup.task", name, Status::warning, opt("none"), opt("OK"),
            fmt::format(
                "no vzdump task for {} in the recent task history of {}", g.vmid,
                go.task_nodes.empty() ? node : fmt::format("{}", fmt::join(go.task_nodes, ", "))),
            fmt::format("run a backup: `vzdump {}`", g.vmid));
    }
    return;
  }
  const std::string when = utc(outcome->starttime);
  switch (outcome->result) {
    case GuestBackupOutcome::Result::ok:
      b.add("backup.task", name, Status::ok, opt("OK"), opt("OK"),
            fmt::format("last vzdump task ({}{}) backed it up", when, where));
      break;
    case GuestBackupOutcome::Result::warnings:
      b.add("backup.task", name, Status::warning, opt(outcome->detail), opt("OK"),
            fmt::format("last vzdump task ({}{}) ended with warnings", when, where),
            fmt::format("read the log on {}: `pvenode task log {}`", task_node, outcome->upid),
            "last backup ended with warnings");
      break;
    default:
      b.add("backup.task", name, Status::critical, opt(outcome->detail), opt("OK"),
            fmt::format("last vzdump task ({}{}) failed for {}", when, where, g.vmid),
            fmt::format("read the log on {}: `pvenode task log {}`, fix the cause, run "
                        "`vzdump {}`",
                        task_node, outcome->upid, g.vmid),
            "last backup failed");
  }
}

void rule_backup_verification(const GuestContext& c, const config::BackupSection& policy,
                              std::chrono::system_clock::time_point now, Builder& b) {
  const pve::BackupVolume* newest_pbs = newest_backup(c.observed, c.guest.vmid, "pbs");
  if (newest_pbs == nullptr) return;
  const std::string& name = c.name();
  const auto& v = *newest_pbs;
  const auto verify_grace = std::chrono::hours(policy.verify_grace_h);
  const auto backup_age = std::chrono::seconds(epoch_seconds(now) - v.ctime);
  if (!v.verification && backup_age <= verify_grace) {
    b.add("backup.verification", name, Status::ok, opt("not verified yet"), opt("ok"),
          fmt::format("{} is {} old: not verified yet, which is fine for up to "
                      "verify_grace_h {}h",
                      v.volid, format_age(backup_age), policy.verify_grace_h));
  } else if (!v.verification) {
    b.add("backup.verification", name, Status::warning, opt("never verified"), opt("ok"),
          fmt::format("{} is {} old and has never been verified (verify_grace_h {}h)", v.volid,
                      format_age(backup_age), policy.verify_grace_h),
          "add a verify job on the PBS datastore that runs after the backup window",
          "newest backup never verified");
  } else if (v.verification->state == "ok") {
    b.add("backup.verification", name, Status::ok, opt("ok"), opt("ok"),
          fmt::format("{} verified", v.volid));
  } else {
    b.add("backup.verification", name, Status::critical, opt(v.verification->state), opt("ok"),
          fmt::format("verification of {} {}", v.volid, v.verification->state),
          "inspect the verify task on PBS and make a new backup");
  }
}

}  // namespace pvt::check::detail
