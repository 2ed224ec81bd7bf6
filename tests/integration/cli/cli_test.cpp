// The command-line contract (commands, options, output, exit codes; README.md), exercised on
// the real binary.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "tests/support/subprocess.h"

namespace pvt {
namespace {

const std::string kBinary = PVT_BINARY_DIR "/pvectl-tunnel";
const std::string kExample = PVT_SOURCE_DIR "/examples/config.toml";

testing::Completed cli(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  return testing::run(std::move(args));
}

TEST(Cli, VersionFlagAndSubcommandAgree) {
  auto flag = cli({"--version"});
  auto sub = cli({"version"});
  EXPECT_EQ(flag.exit_code, 0);
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_EQ(flag.out, sub.out);
  EXPECT_EQ(sub.out.rfind("pvectl-tunnel ", 0), 0u) << sub.out;
}

TEST(Cli, HelpExplainsEverySubcommand) {
  auto help = cli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("config"), std::string::npos) << help.out;
  auto validate = cli({"config", "validate", "--help"});
  EXPECT_EQ(validate.exit_code, 0);
  EXPECT_NE(validate.out.find("--for"), std::string::npos) << validate.out;
}

TEST(Cli, BadArgumentsExitTwo) {
  EXPECT_EQ(cli({}).exit_code, 2);
  EXPECT_EQ(cli({"config", "validate", "--for", "nonsense"}).exit_code, 2);
  EXPECT_EQ(cli({"config", "validate", "--no-such-flag"}).exit_code, 2);
}

TEST(Cli, ValidateNamesEveryProblemAndExitsTwo) {
  auto r = cli({"config", "validate", "--config", kExample, "--for", "check"});
  EXPECT_EQ(r.exit_code, 2);
  // The example points at /etc/pvectl-tunnel files that do not exist on a build machine.
  EXPECT_NE(r.err.find(kExample + ":16:21: pve.token_secret_file: cannot read"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("pve.ca_file: cannot read"), std::string::npos) << r.err;
}

TEST(Cli, ValidateForVpsNeedsNoPveToken) {
  auto r = cli({"config", "validate", "--config", kExample, "--for", "vps"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, kExample + ": valid for vps\n");
}

TEST(Cli, VerbosityFlagsAreAcceptedAnywhere) {
  EXPECT_EQ(cli({"-v", "config", "validate", "--config", kExample, "--for", "vps", "-q"}).exit_code,
            0);
}

TEST(Cli, MissingConfigIsOneClearLine) {
  auto r = cli({"config", "validate", "--config", "/nonexistent/config.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err,
            "cannot read the config file /nonexistent/config.toml: No such file or directory\n");
}

}  // namespace
}  // namespace pvt
