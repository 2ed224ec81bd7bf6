// What the command line says when it is used wrongly, on the real binary: an unknown command,
// -V, a -t that is not a number, a config file that does not exist.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace pvt {
namespace {

const std::string kBinary = PVT_BINARY_DIR "/pvectl-tunnel";

testing::Completed cli(std::vector<std::string> args) {
  args.insert(args.begin(), kBinary);
  return testing::run(std::move(args));
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

TEST(ReportCommands, AnUnknownCommandIsNamed) {
  auto r = cli({"bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown command 'bogus'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("check"), std::string::npos) << "lists the commands: " << r.err;
  EXPECT_EQ(r.out, "");
  // Options before it change nothing.
  auto v = cli({"-v", "chekc", "--config", "x.toml"});
  EXPECT_EQ(v.exit_code, 2);
  EXPECT_NE(v.err.find("unknown command 'chekc'"), std::string::npos) << v.err;
}

TEST(ReportCommands, DashCapitalVPrintsTheVersion) {
  auto r = cli({"-V"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, cli({"version"}).out);
  EXPECT_EQ(r.out, cli({"--version"}).out);
  EXPECT_EQ(r.out.rfind("pvectl-tunnel ", 0), 0u) << r.out;
}

// Regression test, the bug it caught (cli/app.cpp, -t/--timeout of check and backup verify): the
// option carries
// ->check(CLI::Range(1, 3600)), and CLI11 runs that check on the text before converting it, so
// `-t abc` fails with "--timeout: Value abc not in range 1 to 3600" and explain(), which only
// rewrites "Could not convert: ...", never sees it: the message never says that abc is not a
// number.
TEST(ReportCommands, ATimeoutThatIsNotANumberIsSaidSo) {
  for (const std::vector<std::string>& args : {std::vector<std::string>{"check", "-t", "abc"},
                                               {"check", "--timeout=abc"},
                                               {"backup", "verify", "-t", "abc"}}) {
    auto r = cli(args);
    EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
    const std::string line = first_line(r.out);
    EXPECT_EQ(line.rfind("PVECTL-TUNNEL UNKNOWN - bad arguments: ", 0), 0u) << line;
    EXPECT_NE(line.find("\"abc\" is not a number"), std::string::npos) << line;
    EXPECT_EQ(line.find("Could not convert"), std::string::npos) << line;
    EXPECT_EQ(line.find("not in range"), std::string::npos) << line;
  }
  // A number out of range keeps its own message.
  auto zero = cli({"check", "-t", "0"});
  EXPECT_EQ(zero.exit_code, 3);
  EXPECT_NE(first_line(zero.out).find("0"), std::string::npos) << zero.out;
}

// Regression test, the bug it caught (cli/check_command.cpp run_report_command, message from
// common/config.cpp): a missing file is a config "problem" at line 0, column 0, and the report
// prints it as such: "invalid config: /nonexistent.toml:0:0: cannot read config: No such file or
// directory". The file has no line 0; the report should name the file without ":0:0:".
TEST(ReportCommands, AMissingConfigIsNamedWithoutALinePosition) {
  auto r = cli({"check", "--config", "/nonexistent.toml"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "");
  const std::string line = first_line(r.out);
  EXPECT_EQ(line.rfind("PVECTL-TUNNEL UNKNOWN - ", 0), 0u) << line;
  EXPECT_NE(line.find("/nonexistent.toml"), std::string::npos) << line;
  EXPECT_NE(line.find("No such file or directory"), std::string::npos) << line;
  EXPECT_EQ(r.out.find(":0:0:"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace pvt
