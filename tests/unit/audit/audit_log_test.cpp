#include "controller/audit/audit_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace pvt::audit {
namespace {

namespace fs = std::filesystem;

struct AuditLogTest : ::testing::Test {
  void SetUp() override {
    dir = fs::temp_directory_path() / ("pvt-audit-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    path = (dir / "audit.jsonl").string();
  }
  void TearDown() override { fs::remove_all(dir); }
  std::vector<nlohmann::json> records(const std::string& file) const {
    std::ifstream in(file);
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }
  fs::path dir;
  std::string path;
};

TEST_F(AuditLogTest, OneJsonObjectPerLine) {
  AuditLog log({path, 1 << 20, 3});
  ASSERT_TRUE(log.append({{"action", "start"}, {"target", "tunnel2"}, {"result", "ok"}}));
  ASSERT_TRUE(log.append({{"action", "onboot"}, {"target", "tunnel1"}, {"result", "failed"}}));
  const auto r = records(path);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1]["action"], "onboot");
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::others_read, fs::perms::none);
}

TEST_F(AuditLogTest, RotatesBySizeAndKeepsTheConfiguredNumber) {
  AuditLog log({path, 200, 2});
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(log.append({{"seq", i}, {"padding", std::string(40, 'x')}}));
  }
  EXPECT_LE(fs::file_size(path), 200u);
  EXPECT_TRUE(fs::exists(path + ".1"));
  EXPECT_TRUE(fs::exists(path + ".2"));
  EXPECT_FALSE(fs::exists(path + ".3"));
  // Nothing lost between the files still kept, newest last, every line whole.
  std::vector<int> seqs;
  for (const auto& f : {path + ".2", path + ".1", path}) {
    for (const auto& r : records(f)) seqs.push_back(r["seq"].get<int>());
  }
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.back(), 19);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], seqs[i - 1] + 1);
}

TEST_F(AuditLogTest, InvalidUtf8FromThePveApiIsRepairedNotAThrow) {
  AuditLog log({path, 1 << 20, 1});
  ASSERT_TRUE(log.append({{"error", std::string("task said \xFF\xFE")}}));
  EXPECT_EQ(records(path).size(), 1u);
}

TEST_F(AuditLogTest, AnUnwritableLogIsAnErrorThatNamesIt) {
  AuditLog log({(dir / "missing" / "audit.jsonl").string(), 1 << 20, 1});
  auto r = log.append({{"x", 1}});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("missing/audit.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace pvt::audit
