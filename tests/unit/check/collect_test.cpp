// What `check` reads, against an in-process simulator: the calls it makes and where it looks.
#include "controller/check/collect.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "controller/check/rules.h"
#include "tests/support/fake_clock.h"
#include "tests/support/reference_guests.h"
#include "tests/support/sim_transport.h"

namespace pvt::check {
namespace {

constexpr int64_t kNow = 1795000000;

const report::RuleResult* find(const report::Report& r, const std::string& rule,
                               const std::string& target) {
  for (const auto& x : r.results) {
    if (x.rule == rule && x.target == target) return &x;
  }
  return nullptr;
}

// tunnel2 was backed up on pve2 and has been migrated to pve1 since: pve1's task list has no task
// for it, so check asks pve2 (around the newest backup's time) and judges that task.
TEST(Collect, BackupTaskOfAMigratedGuestIsFoundOnItsFormerNode) {
  auto topology = sim::load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(topology) << topology.error().message;
  auto guest = std::find_if(topology->guests.begin(), topology->guests.end(),
                            [](const sim::Guest& g) { return g.vmid == 210; });
  ASSERT_NE(guest, topology->guests.end());
  ASSERT_EQ(guest->node, "pve2");
  guest->node = "pve1";
  FakeClock clock{std::chrono::system_clock::time_point{std::chrono::seconds{kNow}}};
  sim::Simulator simulator(*topology, clock);
  testing::SimTransport transport(simulator, testing::kReferenceTokenAuth);
  pve::Client client(transport, clock);
  const auto cfg = testing::reference_guests();
  const Observation o = collect(cfg, client, clock, CollectOptions{});
  EXPECT_EQ(o.guests[1].task_nodes, (std::vector<std::string>{"pve1", "pve2"}));
  EXPECT_EQ(o.guests[0].task_nodes, (std::vector<std::string>{"pve1"}));  // found at home
  const auto rep = evaluate(cfg, o);
  const auto* task = find(rep, "backup.task", "tunnel2");
  ASSERT_NE(task, nullptr);
  EXPECT_EQ(task->status, report::Status::ok) << task->message;
  EXPECT_NE(task->message.find(" on pve2)"), std::string::npos) << task->message;
  EXPECT_EQ(std::count(transport.log().begin(), transport.log().end(), "GET /nodes/pve2/tasks"), 1);
}

// The search on other nodes comes after every guest's own node was read whole: tunnel1, which
// moved from pve2 to pve1, makes check ask pve2 "since" its backup's time, and that must not hide
// tunnel2's own, older task on pve2.
TEST(Collect, ASearchForAMovedGuestDoesNotHideAnotherGuestsOlderTask) {
  auto topology = sim::load_topology(PVT_SOURCE_DIR "/examples/topology.toml", kNow);
  ASSERT_TRUE(topology) << topology.error().message;
  // tunnel1 (on pve1) was backed up on pve2, before it moved.
  bool moved_task = false;
  for (auto& t : topology->tasks) {
    if (t.type == "vzdump" && t.node == "pve1") {  // the job of 110 and 111
      t.node = "pve2";
      t.upid.replace(t.upid.find(":pve1:"), 6, ":pve2:");
      moved_task = true;
    }
    if (t.type == "vzdump" && t.id == "210") {
      // Three days older than tunnel1's backup: before "since" of the search for tunnel1.
      t.starttime -= 3 * 86400;
      t.endtime -= 3 * 86400;
    }
  }
  ASSERT_TRUE(moved_task) << "the reference topology has a vzdump task on pve1";
  FakeClock clock{std::chrono::system_clock::time_point{std::chrono::seconds{kNow}}};
  sim::Simulator simulator(*topology, clock);
  testing::SimTransport transport(simulator, testing::kReferenceTokenAuth);
  pve::Client client(transport, clock);
  const auto cfg = testing::reference_guests();
  const auto rep = evaluate(cfg, collect(cfg, client, clock, CollectOptions{}));
  for (const char* guest : {"tunnel1", "tunnel2"}) {
    const auto* task = find(rep, "backup.task", guest);
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(task->status, report::Status::ok) << guest << ": " << task->message;
  }
}

}  // namespace
}  // namespace pvt::check
