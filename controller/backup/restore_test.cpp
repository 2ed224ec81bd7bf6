#include "controller/backup/restore_test.h"

#include <fmt/format.h>

#include "controller/backup/restored_guest.h"
#include "controller/backup/task_follow.h"
#include "controller/check/lookups.h"

namespace pvt::backup {
namespace {

using report::Status;

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

// One restore test: its inputs and the steps, so that every way out passes the clean-up.
class RestoreTest {
 public:
  RestoreTest(pve::Client& client, Clock& clock, const RestoreSubject& subject,
              const RestoreTestOptions& options, int64_t scratch, std::string storage)
      : client_(client),
        clock_(clock),
        subject_(subject),
        options_(options),
        scratch_(scratch),
        storage_(std::move(storage)),
        kind_(check::guest_kind(subject.type)) {}

  Finding run() {
    if (auto refused = refuse_if_taken()) return *refused;
    if (auto unsuitable = storage_problem()) return *unsuitable;

    const auto started = clock_.steady_now();
    log(fmt::format("restoring {} to {} {} on storage {} (node {}), not started", subject_.volid,
                    pve::to_string(kind_), scratch_, storage_, subject_.node));
    auto upid = client_.restore_guest(subject_.node, kind_, scratch_, subject_.volid, storage_);
    if (!upid && answer_lost(upid.error())) {
      log(fmt::format("the restore request got no answer ({}); looking for its task",
                      upid.error().message));
      auto found = find_lost_restore();
      if (!found) return outcome_unknown(upid.error());
      upid = *found;
    }
    if (!upid) {
      // PVE answered no: nothing was created, nothing to clean up.
      Finding f = failed("restore refused");
      f.message =
          fmt::format("the restore of {} was refused: {}", subject_.volid, upid.error().describe());
      f.remediation = upid.error().missing_privilege()
                          ? "grant the token what the restore test needs (README: Backup "
                            "verification)"
                          : "read the error; check the backup storage and restore_test_storage";
      return f;
    }
    TaskFollowOptions follow;
    follow.poll = options_.poll;
    follow.on_line = [this](const std::string& line) { log(line); };
    follow.should_stop = options_.interrupted;
    follow.stop_wait = options_.task_end_wait;  // an interrupted restore may take a moment to end
    const TaskOutcome restore = follow_task(client_, clock_, subject_.node, upid->text, follow);
    const double seconds = std::chrono::duration<double>(clock_.steady_now() - started).count();

    std::vector<std::string> problems;
    if (restore.ok() && !restore.stop_requested) {
      log("restore finished; checking the restored guest");
      problems = check_restored();
    }
    auto cleaned = clean_up();

    Finding f;
    f.expected = "restored as archived, then removed";
    if (!cleaned) {
      f.status = Status::critical;
      f.observed = "scratch guest left behind";
      f.message = fmt::format("{}; the scratch guest {} could NOT be removed: {}",
                              outcome_text(restore, problems), scratch_, cleaned.error().message);
      f.remediation = fmt::format(
          "remove it on node {}: `{}` (if it is locked, `{} unlock {}` first); the next restore "
          "test is refused until it is gone",
          subject_.node, destroy_command(), tool(), scratch_);
      return f;
    }
    const std::string removed = fmt::format("scratch guest {} removed", scratch_);
    if (restore.stop_requested) {
      f.status = Status::unknown;
      f.observed = "interrupted";
      f.message = fmt::format("interrupted during the restore of {}; {}", subject_.volid, removed);
      f.remediation = "run the restore test again";
    } else if (!restore.ok()) {
      f.status = Status::critical;
      f.observed = "restore failed";
      f.message = fmt::format("{}; {}", outcome_text(restore, problems), removed);
      f.remediation = fmt::format(
          "this backup cannot be restored: read the task log ({}), check the backup storage, "
          "then run a new backup and test it again",
          upid->text);
    } else if (!problems.empty()) {
      f.status = Status::critical;
      f.observed = "restored with problems";
      f.message = fmt::format("{}; {}", outcome_text(restore, problems), removed);
      f.remediation =
          "the restored guest differs from the archive: check the backup's config and storage";
    } else {
      f.observed = f.expected;
      f.message = fmt::format(
          "restored {} to {} {} on {} in {:.0f} s ({} disk{}, not started), "
          "checked it, {}",
          subject_.volid, pve::to_string(kind_), scratch_, storage_, seconds, disks_,
          disks_ == 1 ? "" : "s", removed);
    }
    return f;
  }

 private:
  void log(const std::string& line) const {
    if (options_.on_log) options_.on_log(subject_.guest, line);
  }

  const char* tool() const { return check::guest_cli(subject_.type); }

  // What a person runs on the node to remove a scratch guest the test could not.
  std::string destroy_command() const {
    return fmt::format("{} destroy {} --purge --destroy-unreferenced-disks 1", tool(), scratch_);
  }

  Finding failed(const std::string& observed) const {
    Finding f;
    f.status = Status::critical;
    f.observed = observed;
    f.expected = "restored as archived, then removed";
    return f;
  }

  std::string outcome_text(const TaskOutcome& restore,
                           const std::vector<std::string>& problems) const {
    if (restore.stop_requested) return "interrupted during the restore of " + subject_.volid;
    if (!restore.ok()) {
      std::string text =
          fmt::format("the restore of {} failed: {}", subject_.volid, restore.exitstatus);
      if (!restore.errors.empty()) text += " (" + join(restore.errors, "; ") + ")";
      return text;
    }
    if (!problems.empty()) {
      return fmt::format("restored {}, but {}", subject_.volid, join(problems, "; "));
    }
    return "restored " + subject_.volid;
  }

  // Sent, but no answer came back: PVE may have started the restore.
  static bool answer_lost(const pve::ApiError& e) {
    return e.kind == pve::ErrorKind::timeout || e.kind == pve::ErrorKind::unreachable ||
           e.kind == pve::ErrorKind::malformed;
  }

  const char* restore_task_type() const {
    return kind_ == pve::GuestKind::qemu ? "qmrestore" : "vzrestore";
  }

  // The task a lost restore request started, if any. The scratch VMID was free when the test
  // began, so a restore task for it that still runs, or whose guest now exists, began since then:
  // ours. A finished one without a guest is an earlier test's.
  std::optional<pve::Upid> find_lost_restore() {
    auto tasks = client_.node_tasks(subject_.node, restore_task_type(), 20);
    if (!tasks) return std::nullopt;
    const std::string id = std::to_string(scratch_);
    for (const auto& t : *tasks) {  // newest first
      if (t.id != id) continue;
      const bool running = !t.endtime && !t.status;
      if (!running && !client_.guest_status(subject_.node, kind_, scratch_)) return std::nullopt;
      auto upid = pve::Upid::parse(t.upid);
      if (upid) log(fmt::format("found it: {}", t.upid));
      return upid;
    }
    return std::nullopt;
  }

  Finding outcome_unknown(const pve::ApiError& e) const {
    Finding f = failed("restore outcome unknown");
    f.message = fmt::format(
        "the restore request of {} got no answer ({}) and no {} task for {} shows on node {}; "
        "PVE may still have received it",
        subject_.volid, e.describe(), restore_task_type(), scratch_, subject_.node);
    f.remediation = fmt::format(
        "look at node {}'s tasks for a {} of {}; once none runs, remove guest {} if it exists: "
        "`{}`; the next restore test is refused while it exists",
        subject_.node, restore_task_type(), scratch_, scratch_, destroy_command());
    return f;
  }

  // The scratch VMID must be free in the whole cluster: the test never touches a guest it did
  // not create.
  std::optional<Finding> refuse_if_taken() {
    auto free = client_.vmid_free(scratch_);
    if (free && *free) return std::nullopt;
    Finding f;
    if (!free) {
      f.status = Status::unknown;
      f.message = fmt::format("not run: cannot tell whether VMID {} is free: {}", scratch_,
                              free.error().describe());
      f.remediation = "check the API connection and run the restore test again";
      return f;
    }
    std::string holder;
    if (auto guests = client_.vm_resources()) {
      for (const auto& g : *guests) {
        if (g.vmid == scratch_) holder = fmt::format(" ({} \"{}\" on {})", g.type, g.name, g.node);
      }
    }
    f = failed(fmt::format("VMID {} in use", scratch_));
    f.expected = fmt::format("VMID {} free", scratch_);
    f.message = fmt::format(
        "refused: the scratch VMID {} is in use{}; the restore test never "
        "touches an existing guest",
        scratch_, holder);
    f.remediation = fmt::format(
        "set [backup] restore_test_vmid to a VMID no guest uses; if {} is left over from an "
        "interrupted test, check it and remove it by hand",
        scratch_);
    return f;
  }

  // restore_test_storage must exist on the node and hold disks of this kind; PVE would say so
  // too, but only after taking the scratch VMID.
  std::optional<Finding> storage_problem() {
    auto storages = client_.storage_resources();
    if (!storages) return std::nullopt;  // the restore itself will tell
    const char* content = kind_ == pve::GuestKind::qemu ? "images" : "rootdir";
    std::string problem =
        fmt::format("storage {} does not exist on node {}", storage_, subject_.node);
    for (const auto& s : *storages) {
      if (s.storage != storage_ || s.node != subject_.node) continue;
      if (!s.has_content(content)) {
        problem = fmt::format("storage {} does not hold {} (content: {})", storage_,
                              kind_ == pve::GuestKind::qemu ? "VM images" : "container root dirs",
                              join(s.content, ","));
      } else if (s.status != "available") {
        problem = fmt::format("storage {} on node {} is {}", storage_, subject_.node, s.status);
      } else {
        return std::nullopt;
      }
      break;
    }
    Finding f = failed("unsuitable storage");
    f.message = "not run: " + problem;
    f.remediation =
        fmt::format("set [backup] restore_test_storage to a storage of node {} with content \"{}\"",
                    subject_.node, content);
    return f;
  }

  std::vector<std::string> check_restored() {
    auto restored = client_.guest_config(subject_.node, kind_, scratch_);
    if (!restored) return {"cannot read the restored config: " + restored.error().describe()};
    auto status = client_.guest_status(subject_.node, kind_, scratch_);
    const RestoreExpectation expected =
        expectation_from_archive(subject_.archived_config, subject_.type, scratch_, storage_);
    disks_ = expected.disks.size();
    return restored_guest_problems(expected, restored->raw, status ? status->status : "unknown");
  }

  // Destroys the scratch guest if it exists. It can only be ours: the VMID was free, and PVE
  // refuses to restore over an existing guest.
  Result<void> clean_up() {
    auto status = client_.guest_status(subject_.node, kind_, scratch_);
    if (!status) {
      if (status.error().kind == pve::ErrorKind::not_found) {
        log(fmt::format("scratch guest {} does not exist (nothing to remove)", scratch_));
        return {};
      }
      return fail("cannot look at it: " + status.error().describe());
    }
    log(fmt::format("destroying scratch guest {}", scratch_));
    auto upid = client_.destroy_guest(subject_.node, kind_, scratch_);
    if (!upid) return fail("the destroy was refused: " + upid.error().describe());
    TaskFollowOptions follow;
    follow.poll = options_.poll;
    follow.on_line = [this](const std::string& line) { log(line); };
    follow.limit = options_.task_end_wait;
    const TaskOutcome destroyed = follow_task(client_, clock_, subject_.node, upid->text, follow);
    if (!destroyed.ok()) return fail("the destroy task: " + destroyed.exitstatus);
    auto after = client_.guest_status(subject_.node, kind_, scratch_);
    if (after) return fail("it still exists after the destroy task");
    if (after.error().kind != pve::ErrorKind::not_found)
      return fail("cannot confirm it is gone: " + after.error().describe());
    log(fmt::format("scratch guest {} removed", scratch_));
    return {};
  }

  pve::Client& client_;
  Clock& clock_;
  const RestoreSubject& subject_;
  const RestoreTestOptions& options_;
  const int64_t scratch_;
  const std::string storage_;
  const pve::GuestKind kind_;
  size_t disks_ = 0;
};

}  // namespace

Finding restore_not_run(report::Status status, const std::string& why) {
  Finding f;
  f.status = status;
  f.expected = "restored as archived, then removed";
  f.message = "not run: " + why;
  return f;
}

Finding restore_test(pve::Client& client, Clock& clock, const config::BackupSection& policy,
                     const RestoreSubject& subject, const RestoreTestOptions& options) {
  if (!policy.restore_test_vmid || !policy.restore_test_storage) {
    return restore_not_run(Status::unknown,
                           "[backup] restore_test_vmid and restore_test_storage are not set");
  }
  client.set_deadline(std::nullopt);
  RestoreTest test(client, clock, subject, options, *policy.restore_test_vmid,
                   *policy.restore_test_storage);
  return test.run();
}

}  // namespace pvt::backup
