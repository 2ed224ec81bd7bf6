// Following a task: the log as it grows, a stop asked once, and bounded waits, on virtual time.
#include "controller/backup/task_follow.h"

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

}  // namespace
}  // namespace pvt::backup
