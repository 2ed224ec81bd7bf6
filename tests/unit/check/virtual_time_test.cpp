// Virtual time end to end: the PVE client, the task follower and an in-process simulator share
// one FakeClock, so a task of an hour runs to its end in milliseconds, as the controller's
// scenarios will (pve-ha-manager's simulated environment: sleeping only moves the clock).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "controller/backup/task_follow.h"
#include "pve/client.h"
#include "tests/support/fake_clock.h"
#include "tests/support/reference_guests.h"
#include "tests/support/sim_transport.h"

namespace pvt::backup {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int64_t kNow = 1795000000;  // 2026-11-18 11:06:40 UTC

TEST(VirtualTime, AnHourOfVzdumpRunsToItsEndInMilliseconds) {
  auto topology = sim::load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(topology) << topology.error().message;
  topology->timing.vzdump_duration_ms = 3600000;
  FakeClock clock{Clock::time_point{seconds{kNow}}};
  sim::Simulator simulator(std::move(*topology), clock);
  testing::SimTransport transport(simulator, testing::kReferenceTokenAuth);
  pve::Client client(transport, clock);

  pve::VzdumpOptions backup;
  backup.vmids = {110};
  backup.storage = "pbs1";
  auto upid = client.vzdump("pve1", backup);
  ASSERT_TRUE(upid) << upid.error().describe();
  ASSERT_TRUE(upid->has_value());
  TaskFollowOptions follow;
  follow.poll = seconds(10);
  follow.limit = hours(2);  // fails rather than hangs if the task never ends
  std::vector<std::string> log;
  follow.on_line = [&log](const std::string& line) { log.push_back(line); };
  const TaskOutcome outcome = follow_task(client, clock, "pve1", (*upid)->text, follow);

  // No wall-clock bound here (shared machines are noisy): every wait goes through the FakeClock,
  // so the hour passes only on it.
  EXPECT_TRUE(outcome.ok()) << outcome.exitstatus;
  // The follower slept (virtually) until the hour was over, and not much longer.
  EXPECT_GE(clock.now(), Clock::time_point{seconds{kNow}} + hours(1));
  EXPECT_LE(clock.now(), Clock::time_point{seconds{kNow}} + hours(1) + seconds(10));
  auto has = [&log](const std::string& line) {
    return std::find(log.begin(), log.end(), line) != log.end();
  };
  EXPECT_TRUE(has("INFO: Backup started at 2026-11-18 11:06:40")) << ::testing::PrintToString(log);
  EXPECT_TRUE(has("INFO: Backup finished at 2026-11-18 12:06:40")) << ::testing::PrintToString(log);
  EXPECT_TRUE(has("INFO: Finished Backup of VM 110 (01:00:00)")) << ::testing::PrintToString(log);

  // The task list and the new backup carry the simulated times too.
  auto tasks = client.node_tasks("pve1", "vzdump");
  ASSERT_TRUE(tasks) << tasks.error().describe();
  ASSERT_FALSE(tasks->empty());
  EXPECT_EQ(tasks->front().upid, (*upid)->text);
  EXPECT_EQ(tasks->front().starttime, kNow);
  EXPECT_EQ(tasks->front().endtime, kNow + 3600);
  auto volumes = client.backup_volumes("pve1", "pbs1", 110);
  ASSERT_TRUE(volumes) << volumes.error().describe();
  int64_t newest = 0;
  for (const auto& v : *volumes) newest = std::max(newest, v.ctime);
  EXPECT_EQ(newest, kNow + 3600);
}

}  // namespace
}  // namespace pvt::backup
