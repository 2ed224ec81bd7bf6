// Following a task: the log as it grows, a stop asked once, and bounded waits, on virtual time.
#include "controller/backup/task_follow.h"
#include "controller/backup/task_watch.h"

#include <gtest/gtest.h>

#include "tests/support/fake_clock.h"

namespace pvt::backup {
namespace {

const std::string kUpid = "UPID:pve1:00001234:00005678:6A4AB624:qmrestore:9999:root@pam:";

// A task that runs until `ends_after` status reads (never, by default) and whose log grows by one
// line per read; records what was asked.
class ScriptedTask : public pve::Transport {
 public:
  int ends_after = -1;
  std::vector<std::string> seen;
  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    seen.push_back(r.method + " " + r.path);
    if (r.method == "DELETE") return ok("null");
    if (r.path.size() >= 4 && r.path.compare(r.path.size() - 4, 4, "/log") == 0) {
      std::string lines = "[";
      if (lines_ == 0) {
        lines += R"({"n":1,"t":"no content"})";
      } else {
        for (int i = 1; i <= lines_; ++i) {
          lines += (i > 1 ? "," : "") + std::string(R"({"n":)") + std::to_string(i) +
                   R"(,"t":"line )" + std::to_string(i) + "\"}";
        }
      }
      return ok(lines + "]");
    }
    ++reads_;
    const bool ended = ends_after >= 0 && reads_ > ends_after;
    if (!ended) ++lines_;
    return ok(std::string(R"({"upid":")") + kUpid + R"(","status":")" +
              (ended ? R"(stopped","exitstatus":"OK"})" : R"(running"})"));
  }

 private:
  static pve::Response ok(const std::string& data) {
    return pve::Response{200, "OK", "{\"data\":" + data + "}", "e"};
  }
  int reads_ = 0;
  int lines_ = 0;
};

struct TaskFollow : ::testing::Test {
  ScriptedTask t;
  FakeClock clock;
  pve::Client client{t, clock};
  std::vector<std::string> lines;
  TaskFollowOptions options() {
    TaskFollowOptions o;
    o.on_line = [this](const std::string& l) { lines.push_back(l); };
    return o;
  }
};

TEST_F(TaskFollow, PassesEachLineOnceAndNeverTheEmptyLogMarker) {
  t.ends_after = 3;
  const TaskOutcome out = follow_task(client, clock, "pve1", kUpid, options());
  EXPECT_TRUE(out.ok());
  EXPECT_EQ(lines, (std::vector<std::string>{"line 1", "line 2", "line 3"}));
}

TEST_F(TaskFollow, AStopIsAskedOnceThenTheWaitIsBounded) {
  auto o = options();
  o.should_stop = [] { return true; };
  o.stop_wait = std::chrono::seconds(30);
  const TaskOutcome out = follow_task(client, clock, "pve1", kUpid, o);
  EXPECT_TRUE(out.stop_requested);
  EXPECT_FALSE(out.ended);
  EXPECT_EQ(out.exitstatus, "still running 30 s after the request to stop");
  EXPECT_EQ(std::count(t.seen.begin(), t.seen.end(),
                       "DELETE /nodes/pve1/tasks/UPID%3Apve1%3A00001234%3A00005678%3A6A4AB624%"
                       "3Aqmrestore%3A9999%3Aroot%40pam%3A"),
            1);
}

TEST_F(TaskFollow, ALimitEndsTheFollowingNotTheTask) {
  auto o = options();
  o.limit = std::chrono::seconds(10);
  const TaskOutcome out = follow_task(client, clock, "pve1", kUpid, o);
  EXPECT_FALSE(out.ended);
  EXPECT_EQ(out.exitstatus, "still running after 10 s; stopped following it");
  for (const auto& s : t.seen) EXPECT_EQ(s.rfind("DELETE", 0), std::string::npos) << s;
}

// A task whose status and log the test sets. Records each request: "status", "log from N"
// (N: the line to read after), "stop".
class TaskScript : public pve::Transport {
 public:
  std::string status = "running";
  std::string exitstatus;
  std::vector<std::string> log;
  int lose_status = 0;  // this many status requests from now on get no answer
  int lose_log = 0;
  std::vector<std::string> seen;
  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    if (r.method == "DELETE") {
      seen.push_back("stop");
      return ok("null");
    }
    if (r.path.ends_with("/status")) {
      seen.push_back("status");
      if (lose_status > 0 && lose_status--) return lost(r);
      return ok(std::string(R"({"upid":")") + kUpid + R"(","status":")" + status + "\"" +
                (status == "stopped" ? R"(,"exitstatus":")" + exitstatus + "\"" : "") + "}");
    }
    std::string start;
    for (const auto& [k, v] : r.params) {
      if (k == "start") start = v;
    }
    seen.push_back("log from " + start);
    if (lose_log > 0 && lose_log--) return lost(r);
    if (log.empty()) return ok(R"([{"n":1,"t":"no content"}])");
    std::string lines;
    for (size_t i = std::stoul(start); i < log.size(); ++i) {
      lines += (lines.empty() ? "" : ",") + std::string(R"({"n":)") + std::to_string(i + 1) +
               R"(,"t":")" + log[i] + "\"}";
    }
    return ok("[" + lines + "]");
  }

 private:
  static pve::Response ok(const std::string& data) {
    return pve::Response{200, "OK", "{\"data\":" + data + "}", "e"};
  }
  static tl::unexpected<pve::ApiError> lost(const pve::Request& r) {
    pve::ApiError e;
    e.kind = pve::ErrorKind::timeout;
    e.method = r.method;
    e.path = r.path;
    e.message = "Operation timed out after 30000 milliseconds with 0 bytes received";
    return tl::unexpected(e);
  }
};

struct TaskWatching : ::testing::Test {
  TaskScript t;
  FakeClock clock;
  // One try per call: a lost answer is the call's error.
  pve::Client client{t, clock, pve::RetryPolicy{1}};
  TaskWatch watch{"pve1", kUpid};
  TaskPoll poll() {
    clock.advance(std::chrono::seconds(10));
    return watch.poll(client, clock.steady_now());
  }
  using Lines = std::vector<std::string>;
};

TEST_F(TaskWatching, EachLineOnceAcrossPollsReadFromTheLastLineSeen) {
  EXPECT_EQ(poll().lines, Lines{});  // the empty log's "no content" is no line
  t.log = {"INFO: starting new backup job"};
  EXPECT_EQ(poll().lines, Lines{"INFO: starting new backup job"});
  t.log.push_back("INFO: Starting Backup of VM 110 (qemu)");
  t.log.push_back("INFO: status: 10%");
  EXPECT_EQ(poll().lines, (Lines{"INFO: Starting Backup of VM 110 (qemu)", "INFO: status: 10%"}));
  const auto quiet_since = *watch.last_progress();
  const TaskPoll quiet = poll();
  EXPECT_EQ(quiet.lines, Lines{});
  EXPECT_FALSE(quiet.exitstatus);
  EXPECT_EQ(watch.last_progress(), quiet_since);
  t.log.push_back("INFO: Finished Backup of VM 110 (00:01:02)");
  t.status = "stopped";
  t.exitstatus = "OK";
  const TaskPoll end = poll();
  EXPECT_EQ(end.lines, Lines{"INFO: Finished Backup of VM 110 (00:01:02)"});
  EXPECT_EQ(end.exitstatus, "OK");
  EXPECT_TRUE(watch.finished());
  EXPECT_EQ(watch.last_progress(), clock.steady_now());
  // One status and one log call per poll, the log read on from the last line delivered.
  EXPECT_EQ(t.seen, (Lines{"status", "log from 0", "status", "log from 0", "status", "log from 1",
                           "status", "log from 3", "status", "log from 3"}));
}

TEST_F(TaskWatching, AFailedTaskEndsWithItsExitStatusAndItsLastLines) {
  t.log = {"INFO: Starting Backup of VM 110 (qemu)"};
  EXPECT_EQ(poll().lines, Lines{"INFO: Starting Backup of VM 110 (qemu)"});
  t.log.push_back("ERROR: Backup of VM 110 failed - no space left on device");
  t.status = "stopped";
  t.exitstatus = "job errors";
  const TaskPoll end = poll();
  EXPECT_EQ(end.lines, Lines{"ERROR: Backup of VM 110 failed - no space left on device"});
  EXPECT_EQ(end.exitstatus, "job errors");
  EXPECT_TRUE(watch.finished());
  EXPECT_FALSE(pve::exitstatus_ok(*watch.exitstatus()));
}

TEST_F(TaskWatching, ALostStatusAnswerIsAnErrorAndTheNextPollRecovers) {
  t.log = {"line 1"};
  t.lose_status = 1;
  const TaskPoll lost = poll();
  ASSERT_TRUE(lost.status_error);
  EXPECT_EQ(lost.status_error->kind, pve::ErrorKind::timeout);
  EXPECT_EQ(lost.lines, Lines{"line 1"});  // the log is read all the same
  EXPECT_FALSE(lost.exitstatus);
  EXPECT_FALSE(watch.ended());
  t.log.push_back("line 2");
  t.status = "stopped";
  t.exitstatus = "OK";
  const TaskPoll next = poll();
  EXPECT_FALSE(next.status_error);
  EXPECT_EQ(next.lines, Lines{"line 2"});
  EXPECT_EQ(next.exitstatus, "OK");
}

// The end seen but the log call lost: the next poll reads the log only, and completes the task.
TEST_F(TaskWatching, TheEndWithItsLastLinesLostIsCompletedWithoutAnotherStatusCall) {
  t.log = {"line 1", "line 2"};
  t.status = "stopped";
  t.exitstatus = "WARNINGS: 1";
  t.lose_log = 1;
  const TaskPoll first = poll();
  ASSERT_TRUE(first.log_error);
  EXPECT_EQ(first.lines, Lines{});
  EXPECT_FALSE(first.exitstatus);
  EXPECT_TRUE(watch.ended());
  EXPECT_FALSE(watch.finished());
  t.seen.clear();
  const TaskPoll second = poll();
  EXPECT_EQ(second.lines, (Lines{"line 1", "line 2"}));
  EXPECT_EQ(second.exitstatus, "WARNINGS: 1");
  EXPECT_EQ(t.seen, Lines{"log from 0"});
}

TEST_F(TaskWatching, NoCallOnceTheTaskHasFinished) {
  t.log = {"line 1"};
  t.status = "stopped";
  t.exitstatus = "OK";
  ASSERT_EQ(poll().exitstatus, "OK");
  const size_t calls = t.seen.size();
  const TaskPoll after = poll();
  EXPECT_EQ(after.lines, Lines{});
  EXPECT_FALSE(after.exitstatus) << "the end is delivered once";
  EXPECT_TRUE(watch.stop(client));
  EXPECT_EQ(t.seen.size(), calls);
  EXPECT_FALSE(watch.stop_requested());
}

TEST_F(TaskWatching, AStopIsOneRequestAndThePollsSeeTheEnd) {
  ASSERT_TRUE(watch.stop(client));
  EXPECT_TRUE(watch.stop_requested());
  t.status = "stopped";
  t.exitstatus = "interrupted by signal";
  EXPECT_EQ(poll().exitstatus, "interrupted by signal");
  EXPECT_EQ(t.seen, (Lines{"stop", "status", "log from 0"}));
}

}  // namespace
}  // namespace pvt::backup
