#include "controller/backup/retention.h"

#include <gtest/gtest.h>

#include "schedule/calendar_event.h"

namespace pvt::backup {
namespace {

using report::Status;
constexpr int64_t kDay = 86400;
// 2026-11-25 12:00:00 UTC, a Wednesday.
constexpr int64_t kNoon = 1795608000;

std::vector<PruneMark> marks(std::vector<PruneEntry> e, std::map<std::string, std::string> keep,
                             const date::time_zone* tz = nullptr) {
  return prune_marks(e, keep, tz);
}

constexpr auto K = PruneMark::keep;
constexpr auto R = PruneMark::remove;
constexpr auto P = PruneMark::is_protected;

TEST(PruneMarks, KeepLastKeepsTheNewest) {
  std::vector<PruneEntry> e;
  for (int i = 0; i < 5; ++i) e.push_back({kNoon - i * kDay, false});
  EXPECT_EQ(marks(e, {{"keep-last", "3"}}), (std::vector<PruneMark>{K, K, K, R, R}));
  // Any input order: the result follows the input.
  std::reverse(e.begin(), e.end());
  EXPECT_EQ(marks(e, {{"keep-last", "3"}}), (std::vector<PruneMark>{R, R, K, K, K}));
}

TEST(PruneMarks, NothingSetOrKeepAllKeepsEverything) {
  std::vector<PruneEntry> e = {{kNoon, false}, {kNoon - kDay, false}};
  EXPECT_EQ(marks(e, {}), (std::vector<PruneMark>{K, K}));
  EXPECT_EQ(marks(e, {{"keep-all", "1"}, {"keep-last", "1"}}), (std::vector<PruneMark>{K, K}));
}

TEST(PruneMarks, DailyKeepsTheNewestOfEachDay) {
  // Two backups a day for three days: keep-daily=2 keeps the later one of the two newest days.
  std::vector<PruneEntry> e = {{kNoon, false},
                               {kNoon - 3600, false},
                               {kNoon - kDay, false},
                               {kNoon - kDay - 3600, false},
                               {kNoon - 2 * kDay, false},
                               {kNoon - 2 * kDay - 3600, false}};
  EXPECT_EQ(marks(e, {{"keep-daily", "2"}}), (std::vector<PruneMark>{K, R, K, R, R, R}));
}

TEST(PruneMarks, LaterOptionsSkipBucketsAlreadyKept) {
  // keep-last=1 keeps today's; keep-daily=2 then adds two *other* days.
  std::vector<PruneEntry> e = {{kNoon, false},
                               {kNoon - 3600, false},
                               {kNoon - kDay, false},
                               {kNoon - 2 * kDay, false},
                               {kNoon - 3 * kDay, false}};
  EXPECT_EQ(marks(e, {{"keep-last", "1"}, {"keep-daily", "2"}}),
            (std::vector<PruneMark>{K, R, K, K, R}));
}

TEST(PruneMarks, WeeklyUsesIsoWeeks) {
  // Wednesday, Monday of the same ISO week, Sunday before (previous week).
  std::vector<PruneEntry> e = {
      {kNoon, false}, {kNoon - 2 * kDay, false}, {kNoon - 3 * kDay, false}};
  EXPECT_EQ(marks(e, {{"keep-weekly", "2"}}), (std::vector<PruneMark>{K, R, K}));
}

TEST(PruneMarks, ProtectedNeverGoAndDoNotCount) {
  std::vector<PruneEntry> e = {{kNoon, false}, {kNoon - kDay, true}, {kNoon - 2 * kDay, false}};
  EXPECT_EQ(marks(e, {{"keep-last", "2"}}), (std::vector<PruneMark>{K, P, K}));
}

TEST(PruneMarks, DaysAreTheNodesLocalDays) {
  // 23:30 UTC and 00:30 UTC the next day are the same local day in New York.
  auto ny = schedule::find_time_zone("America/New_York");
  ASSERT_TRUE(ny);
  const int64_t midnight = kNoon + 12 * 3600;  // 2026-11-26 00:00 UTC
  std::vector<PruneEntry> e = {{midnight + 1800, false}, {midnight - 1800, false}};
  EXPECT_EQ(marks(e, {{"keep-daily", "2"}}, nullptr), (std::vector<PruneMark>{K, K}));
  EXPECT_EQ(marks(e, {{"keep-daily", "2"}}, *ny), (std::vector<PruneMark>{K, R}));
}

pve::BackupVolume vol(int64_t ctime, const char* state, bool prot = false) {
  pve::BackupVolume v;
  v.volid = "pbs1:backup/vm/110/" + std::to_string(ctime);
  v.storage = "pbs1";
  v.ctime = ctime;
  v.is_protected = prot;
  if (state != nullptr) v.verification = pve::Verification{state, "UPID:x"};
  return v;
}

TEST(RetentionFinding, KeepLastOneLosesTheVerifiedBackupAtTheNextRun) {
  std::vector<pve::BackupVolume> v = {vol(kNoon - kDay, "ok")};
  auto f = retention_finding(v, {{"keep-last", "1"}}, nullptr, kNoon);
  EXPECT_EQ(f.status, Status::warning);
  EXPECT_NE(f.message.find("removes pbs1:backup/vm/110/"), std::string::npos) << f.message;
  EXPECT_EQ(retention_finding(v, {{"keep-last", "2"}}, nullptr, kNoon).status, Status::ok);
  EXPECT_EQ(retention_finding(v, {}, nullptr, kNoon).status, Status::ok);
  // Protected: kept whatever the settings say.
  std::vector<pve::BackupVolume> p = {vol(kNoon - kDay, "ok", true)};
  auto kept = retention_finding(p, {{"keep-last", "1"}}, nullptr, kNoon);
  EXPECT_EQ(kept.status, Status::ok);
  EXPECT_NE(kept.message.find("protected"), std::string::npos);
}

TEST(RetentionFinding, TheNewestVerifiedNotTheNewest) {
  // Newest failed verification, the one before is the last good one: keep-last=2 drops it once
  // the next backup comes.
  std::vector<pve::BackupVolume> v = {vol(kNoon - kDay, "failed"), vol(kNoon - 2 * kDay, "ok")};
  EXPECT_EQ(retention_finding(v, {{"keep-last", "2"}}, nullptr, kNoon).status, Status::warning);
  EXPECT_EQ(retention_finding(v, {{"keep-last", "3"}}, nullptr, kNoon).status, Status::ok);
  std::vector<pve::BackupVolume> none = {vol(kNoon - kDay, nullptr)};
  EXPECT_EQ(retention_finding(none, {{"keep-last", "1"}}, nullptr, kNoon).observed,
            "no verified backup");
}

TEST(EffectivePrune, JobBeforeStorage) {
  const std::map<std::string, std::string> job = {{"keep-last", "3"}},
                                           storage = {{"keep-all", "1"}};
  EXPECT_EQ(effective_prune(job, storage), job);
  EXPECT_EQ(effective_prune({}, storage), storage);
}

}  // namespace
}  // namespace pvt::backup
