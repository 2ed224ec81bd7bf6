// The test sshd's version, as tests/support/ssh_server.h reads it to decide which keywords its
// sshd_config may carry.
#include "tests/support/openssh_version.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/ssh_server.h"

namespace pvt::testing {
namespace {

TEST(OpenSshVersion, ParsesWhatSshdAndSshPrint) {
  // `sshd -V` on Debian 12 (to stderr), `ssh -V` on Debian 12 and 13, upstream portable.
  EXPECT_EQ(parse_openssh_version("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026\n"),
            (OpenSshVersion{9, 2}));
  EXPECT_EQ(parse_openssh_version("OpenSSH_9.2p1 Debian-2+deb12u10, OpenSSL 3.0.19 27 Jan 2026"),
            (OpenSshVersion{9, 2}));
  EXPECT_EQ(parse_openssh_version("OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025"),
            (OpenSshVersion{10, 0}));
  EXPECT_EQ(parse_openssh_version("OpenSSH_9.8p1, LibreSSL 3.9.0"), (OpenSshVersion{9, 8}));
  EXPECT_EQ(parse_openssh_version("OpenSSH_9.9"), (OpenSshVersion{9, 9}));
  // Before 9.x sshd had no -V: it printed its usage, the version on the first line.
  EXPECT_EQ(parse_openssh_version("unknown option -- V\nOpenSSH_8.4p1 Debian-5+deb11u3, OpenSSL "
                                  "1.1.1w  11 Sep 2023\nusage: sshd [-46DdeiqTt] ..."),
            (OpenSshVersion{8, 4}));
}

TEST(OpenSshVersion, RejectsWhatIsNotAVersion) {
  EXPECT_EQ(parse_openssh_version(""), std::nullopt);
  EXPECT_EQ(parse_openssh_version("sshd: command not found"), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_"), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_9"), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_9."), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_x.2"), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_9.x"), std::nullopt);
  EXPECT_EQ(parse_openssh_version("OpenSSH_1234567.1"), std::nullopt);  // not a plausible number
  // A malformed first mention does not hide a good second one.
  EXPECT_EQ(parse_openssh_version("OpenSSH_?? then OpenSSH_10.2p1"), (OpenSshVersion{10, 2}));
}

TEST(OpenSshVersion, PerSourcePenaltiesFrom98On) {
  EXPECT_FALSE(has_per_source_penalties({8, 9}));
  EXPECT_FALSE(has_per_source_penalties({9, 2}));  // Debian 12
  EXPECT_FALSE(has_per_source_penalties({9, 7}));
  EXPECT_TRUE(has_per_source_penalties({9, 8}));
  EXPECT_TRUE(has_per_source_penalties({9, 9}));
  EXPECT_TRUE(has_per_source_penalties({10, 0}));  // Debian 13
  EXPECT_TRUE(has_per_source_penalties({11, 0}));
}

}  // namespace
}  // namespace pvt::testing

namespace pvt::testing {
namespace {

TEST(OpenSshVersion, TestSshdTurnsPenaltiesOffOnlyWhereTheKeywordExists) {
  EXPECT_EQ(version_dependent_config(OpenSshVersion{9, 2}), "");  // 9.2 would refuse to start
  EXPECT_EQ(version_dependent_config(std::nullopt), "");
  EXPECT_EQ(version_dependent_config(OpenSshVersion{9, 8}), "PerSourcePenalties no\n");
  EXPECT_EQ(version_dependent_config(OpenSshVersion{10, 0}), "PerSourcePenalties no\n");
}

TEST(OpenSshVersion, TheInstalledSshdIsRecognised) {
  if (!std::filesystem::exists("/usr/sbin/sshd") && !std::filesystem::exists("/usr/bin/ssh")) {
    GTEST_SKIP() << "OpenSSH is not installed";
  }
  const auto v = sshd_version();
  ASSERT_TRUE(v);
  EXPECT_GE(v->major, 7);
}

}  // namespace
}  // namespace pvt::testing
