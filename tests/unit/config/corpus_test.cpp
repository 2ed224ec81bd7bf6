// Runs the config corpus (tests/config/README.md): every invalid file must give exactly the
// problems its .expected file lists, every valid file and every shipped example must give none.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "config_files.h"
#include "tests/support/lines.h"

namespace pvt::config {
namespace {

using pvt::testing::lines_of;

namespace fs = std::filesystem;
using testing::ConfigFiles;

const fs::path kCorpus = fs::path(PVT_SOURCE_DIR) / "tests" / "config";
const fs::path kExamples = fs::path(PVT_SOURCE_DIR) / "examples";
const std::vector<Command> kAllCommands = {Command::check, Command::controller, Command::tunnel,
                                           Command::backup, Command::vps};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<fs::path> files_in(const fs::path& dir, const std::string& extension) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == extension) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// "# for: tunnel vps" names the commands a file is meant for.
std::vector<Command> commands_of(const std::string& first_line, std::vector<Command> fallback) {
  const std::string marker = "# for:";
  if (first_line.rfind(marker, 0) != 0) return fallback;
  std::vector<Command> commands;
  std::istringstream words(first_line.substr(marker.size()));
  for (std::string word; words >> word;) {
    auto c = command_from_string(word);
    if (!c) throw std::runtime_error("unknown command in '# for:' line: " + word);
    commands.push_back(*c);
  }
  return commands;
}

std::string test_name(const ::testing::TestParamInfo<fs::path>& info) {
  std::string name = info.param.stem().string();
  std::replace_if(
      name.begin(), name.end(), [](unsigned char c) { return !std::isalnum(c); }, '_');
  return name;
}

std::string formatted(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.format() + "\n";
  return out;
}

class InvalidConfig : public ::testing::TestWithParam<fs::path> {};

TEST_P(InvalidConfig, ReportsExactlyTheExpectedProblems) {
  const fs::path source = GetParam();
  ConfigFiles files;
  const std::string config_path = files.path(source.filename().string());
  files.write(source.filename().string(), files.substitute(read_text(source)), 0644);

  std::vector<std::string> expected_lines;
  std::vector<Command> commands = {Command::check};
  const fs::path expected_file = fs::path(source).replace_extension(".expected");
  const bool have_expected = fs::exists(expected_file);
  if (have_expected) {
    expected_lines = lines_of(read_text(expected_file));
    if (!expected_lines.empty()) {
      commands = commands_of(expected_lines.front(), commands);
      if (expected_lines.front().rfind("# for:", 0) == 0)
        expected_lines.erase(expected_lines.begin());
    }
    for (auto& line : expected_lines) {
      line = ConfigFiles::replace_all(files.substitute(line), "@FILE@", config_path);
    }
  }

  for (Command command : commands) {
    SCOPED_TRACE(fmt::format("for {}", to_string(command)));
    auto loaded = load(config_path, command);
    ASSERT_FALSE(loaded) << source << " is valid for " << to_string(command);
    std::vector<std::string> actual;
    for (const auto& p : loaded.error()) actual.push_back(p.format());
    // Shown in the corpus's own spelling, so a new case's .expected can be written from it.
    ASSERT_TRUE(have_expected) << "missing " << expected_file << "; the loader reports:\n"
                               << ConfigFiles::replace_all(
                                      ConfigFiles::replace_all(formatted(loaded.error()),
                                                               config_path, "@FILE@"),
                                      files.dir().string(), "@DIR@");
    EXPECT_EQ(actual, expected_lines);
    for (const auto& p : loaded.error()) {
      // Secrets never appear in messages, whatever went wrong.
      EXPECT_EQ(p.message.find(ConfigFiles::kPveSecret), std::string::npos);
      EXPECT_EQ(p.message.find(ConfigFiles::kControlSecret), std::string::npos);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, InvalidConfig,
                         ::testing::ValuesIn(files_in(kCorpus / "invalid", ".toml")), test_name);

class ValidConfig : public ::testing::TestWithParam<fs::path> {};

TEST_P(ValidConfig, HasNoProblemForItsCommands) {
  const fs::path source = GetParam();
  ConfigFiles files;
  const std::string text = files.substitute(read_text(source));
  const std::string config_path = files.path(source.filename().string());
  files.write(source.filename().string(), text, 0644);
  auto lines = lines_of(text);
  for (Command command : commands_of(lines.empty() ? "" : lines.front(), kAllCommands)) {
    auto loaded = load(config_path, command);
    EXPECT_TRUE(loaded) << source << " for " << to_string(command) << ":\n"
                        << (loaded ? "" : formatted(loaded.error()));
  }
}

INSTANTIATE_TEST_SUITE_P(Corpus, ValidConfig,
                         ::testing::ValuesIn(files_in(kCorpus / "valid", ".toml")), test_name);

// The shipped examples name files of a real deployment (/etc/pvectl-tunnel/...), so their file
// checks are off; everything else must hold for every command. Simulator topologies are not
// configs.
std::vector<fs::path> example_configs() {
  std::vector<fs::path> configs;
  for (const auto& p : files_in(kExamples, ".toml")) {
    if (p.filename().string().rfind("topology", 0) != 0) configs.push_back(p);
  }
  return configs;
}

class ExampleConfig : public ::testing::TestWithParam<fs::path> {};

TEST_P(ExampleConfig, IsValidForEveryCommand) {
  for (Command command : kAllCommands) {
    auto loaded = load(GetParam().string(), command, ParseOptions{.check_files = false});
    EXPECT_TRUE(loaded) << GetParam() << " for " << to_string(command) << ":\n"
                        << (loaded ? "" : formatted(loaded.error()));
  }
}

INSTANTIATE_TEST_SUITE_P(Shipped, ExampleConfig, ::testing::ValuesIn(example_configs()), test_name);

TEST(ConfigCorpus, IsCompleteAndPaired) {
  auto invalid = files_in(kCorpus / "invalid", ".toml");
  EXPECT_GE(invalid.size(), 35u);
  EXPECT_GE(files_in(kCorpus / "valid", ".toml").size(), 5u);
  for (const auto& e : files_in(kCorpus / "invalid", ".expected")) {
    EXPECT_TRUE(fs::exists(fs::path(e).replace_extension(".toml"))) << e << " has no .toml";
  }
  auto examples = example_configs();
  EXPECT_NE(std::find(examples.begin(), examples.end(), kExamples / "config.toml"), examples.end());
}

TEST(ReferenceExample, DescribesTheReferenceTopology) {
  auto loaded = load((kExamples / "config.toml").string(), Command::check,
                     ParseOptions{.check_files = false});
  ASSERT_TRUE(loaded) << formatted(loaded.error());
  const Config& c = *loaded;
  ASSERT_EQ(c.guests.size(), 2u);
  EXPECT_EQ(c.guests[0].vmid, 110);
  EXPECT_EQ(c.guests[0].type, GuestType::qemu);
  EXPECT_EQ(c.guests[1].vmid, 210);
  EXPECT_EQ(c.guests[1].type, GuestType::lxc);
  ASSERT_EQ(c.tunnels.size(), 2u);
  EXPECT_EQ(c.tunnels[0].role, TunnelRole::primary);
  EXPECT_EQ(c.tunnels[0].remote.str(), "127.0.0.1:29000");
  EXPECT_EQ(c.tunnels[1].role, TunnelRole::backup);
  EXPECT_EQ(c.tunnels[1].remote.str(), "127.0.0.1:39000");
  EXPECT_EQ(c.tunnels[1].local.str(), "127.0.0.1:18080");
  EXPECT_FALSE(c.tunnels[0].control_url.has_value());
}

}  // namespace
}  // namespace pvt::config
