#include <gtest/gtest.h>

#include "controller/backup/run.h"

namespace pvt::backup {
namespace {

TEST(RunSettings, ConfiguredStorageFirstThenTheJobs) {
  pve::BackupJob job;
  job.id = "backup-tunnels";
  job.storage = "pbs1";
  job.mode = "stop";
  config::BackupSection policy;
  auto from_job = run_settings(policy, &job);
  ASSERT_TRUE(from_job);
  EXPECT_EQ(from_job->storage, "pbs1");
  EXPECT_EQ(from_job->mode, "stop");
  EXPECT_EQ(from_job->source, "job backup-tunnels");
  policy.storage = "local";
  auto configured = run_settings(policy, &job);
  ASSERT_TRUE(configured);
  EXPECT_EQ(configured->storage, "local");
  EXPECT_EQ(configured->mode, "stop");  // the job's mode still applies
  auto no_job = run_settings(policy, nullptr);
  ASSERT_TRUE(no_job);
  EXPECT_EQ(no_job->mode, "snapshot");
}

TEST(RunSettings, NoStorageAnywhereSaysWhatToSet) {
  config::BackupSection policy;
  auto none = run_settings(policy, nullptr);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("set storage in [backup]"), std::string::npos);
  pve::BackupJob job;
  job.id = "j1";
  auto bare = run_settings(policy, &job);
  ASSERT_FALSE(bare);
  EXPECT_NE(bare.error().message.find("job j1 names no storage"), std::string::npos);
}

}  // namespace
}  // namespace pvt::backup
