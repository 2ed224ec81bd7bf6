// The install rules (cmake/PvtInstall.cmake) on this build tree: `cmake --install --prefix /usr`
// into a DESTDIR of its own per component (cli, worker, sim) and once for everything. Each
// component installs exactly its files, none is in two, the installed units run the installed
// binaries, `systemd-analyze verify` accepts them and `systemd-sysusers` the worker's user.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace fs = std::filesystem;

namespace pvt {
namespace {

using Files = std::set<std::string>;

constexpr const char* kPrefix = "/usr";
const std::vector<std::string> kComponents = {"cli", "worker", "sim"};
constexpr const char* kAll = "all";  // the install without --component

// An install directory as configured: absolute, or under the prefix.
std::string installed_dir(const std::string& dir) {
  return dir.starts_with('/') ? dir : std::string(kPrefix) + "/" + dir;
}

const std::string kBinDir = installed_dir(PVT_INSTALL_BINDIR);
const std::string kDocDir = installed_dir(PVT_INSTALL_DOCDIR);
const std::string kDataDir = installed_dir(PVT_INSTALL_DATADIR);
const std::string kSimDocDir = installed_dir(PVT_INSTALL_SIM_DOCDIR);
const std::string kUnitDir = installed_dir(PVT_INSTALL_UNIT_DIR);
const std::string kSysusersDir = installed_dir(PVT_INSTALL_SYSUSERS_DIR);
const std::string kWorkerDocDir = installed_dir(PVT_INSTALL_WORKER_DOCDIR);
const std::string kMan1Dir = installed_dir(PVT_INSTALL_MANDIR) + "/man1";
constexpr bool kManPages = PVT_INSTALL_MAN_PAGES;  // help2man was found at configure time

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The values of `key=` in a unit file.
std::vector<std::string> unit_values(const std::string& text, const std::string& key) {
  std::vector<std::string> values;
  for (const auto& line : lines_of(text)) {
    if (line.starts_with(key + "=")) values.push_back(line.substr(key.size() + 1));
  }
  return values;
}

// Regular files and symlinks under `root`, as absolute paths of the installed system.
Files files_under(const fs::path& root) {
  Files files;
  if (!fs::exists(root)) return files;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_directory() && !e.is_symlink()) continue;
    files.insert("/" + fs::relative(e.path(), root).string());
  }
  return files;
}

// The files of a source directory, as they are installed under `dest`.
Files source_files(const fs::path& dir, const std::string& dest) {
  Files files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files.insert(dest + "/" + fs::relative(e.path(), dir).string());
  }
  return files;
}

std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/bin:/bin:/usr/sbin:/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

class Install : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/install-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    std::vector<std::string> runs = kComponents;
    runs.push_back(kAll);
    for (const auto& c : runs) {
      fs::path destdir = tmp_ / ("destdir-" + c);
      std::vector<std::string> args = {"/usr/bin/env",
                                       "DESTDIR=" + destdir.string(),
                                       PVT_CMAKE_COMMAND,
                                       "--install",
                                       PVT_BINARY_DIR,
                                       "--prefix",
                                       kPrefix};
      if (c != kAll) {
        args.push_back("--component");
        args.push_back(c);
      }
      auto done = testing::run(args);
      if (done.exit_code != 0) {
        install_errors_ +=
            c + ": exit " + std::to_string(done.exit_code) + "\n" + done.out + done.err + "\n";
      }
      destdir_[c] = destdir;
      installed_[c] = files_under(destdir);
    }
  }

  static void TearDownTestSuite() {
    std::error_code ec;
    if (!tmp_.empty()) fs::remove_all(tmp_, ec);
  }

  void SetUp() override { ASSERT_EQ(install_errors_, "") << "cmake --install failed"; }

  // The installed units of component `c`: name -> text.
  static std::map<std::string, std::string> units_of(const std::string& c) {
    std::map<std::string, std::string> units;
    for (const auto& f : installed_[c]) {
      if (f.starts_with(kUnitDir + "/")) {
        units[fs::path(f).filename().string()] = read_file(destdir_[c].string() + f);
      }
    }
    return units;
  }

  static inline fs::path tmp_;
  static inline std::string install_errors_;
  static inline std::map<std::string, fs::path> destdir_;
  static inline std::map<std::string, Files> installed_;
};

TEST_F(Install, EachComponentInstallsItsFiles) {
  Files cli = {kBinDir + "/pvectl-tunnel",
               kUnitDir + "/pvectl-tunnel-controller.service",
               kUnitDir + "/pvectl-tunnel-backup-verify.service",
               kUnitDir + "/pvectl-tunnel-backup-verify.timer",
               kUnitDir + "/pvectl-tunnel-check-textfile.service",
               kUnitDir + "/pvectl-tunnel-check-textfile.timer",
               kDocDir + "/README.md",
               kDocDir + "/examples/config.toml"};
  for (const auto& e : fs::directory_iterator(PVT_SOURCE_DIR "/docs")) {
    auto name = e.path().filename().string();
    if (e.path().extension() == ".md" && name != "pvesim.md") cli.insert(kDocDir + "/" + name);
  }
  cli.merge(source_files(PVT_SOURCE_DIR "/templates", kDataDir + "/templates"));
  Files worker = {kBinDir + "/pvectl-tunnel-worker", kUnitDir + "/pvectl-tunnel@.service",
                  kSysusersDir + "/pvectl-tunnel.conf"};
  Files sim = {kBinDir + "/pvesim", kSimDocDir + "/pvesim.md",
               kSimDocDir + "/examples/topology.toml"};
  // Each package's copyright and changelog.Debian.gz (cmake/PvtPackaging.cmake), and the man
  // page of its program.
  struct Package {
    Files& files;
    std::string docdir;
    std::string program;
  };
  for (const auto& [files, docdir, program] :
       {Package{cli, kDocDir, "pvectl-tunnel"},
        Package{worker, kWorkerDocDir, "pvectl-tunnel-worker"},
        Package{sim, kSimDocDir, "pvesim"}}) {
    files.insert(docdir + "/copyright");
    files.insert(docdir + "/changelog.Debian.gz");
    if (kManPages) files.insert(kMan1Dir + "/" + program + ".1.gz");
  }

  EXPECT_EQ(installed_["cli"], cli);
  EXPECT_EQ(installed_["worker"], worker);
  EXPECT_EQ(installed_["sim"], sim);
  EXPECT_EQ(kBinDir, "/usr/bin");
  EXPECT_EQ(kDocDir, "/usr/share/doc/pvectl-tunnel");
  EXPECT_EQ(kWorkerDocDir, "/usr/share/doc/pvectl-tunnel-worker");
}

TEST_F(Install, NoFileIsInTwoComponentsAndNoneInNone) {
  Files all_components;
  for (size_t i = 0; i < kComponents.size(); ++i) {
    for (size_t j = i + 1; j < kComponents.size(); ++j) {
      for (const auto& f : installed_[kComponents[i]]) {
        EXPECT_FALSE(installed_[kComponents[j]].contains(f))
            << f << " is in " << kComponents[i] << " and " << kComponents[j];
      }
    }
    all_components.insert(installed_[kComponents[i]].begin(), installed_[kComponents[i]].end());
  }
  // What a plain `cmake --install` installs is what the components install together.
  EXPECT_EQ(installed_[kAll], all_components);
}

TEST_F(Install, InstalledBinariesRun) {
  const std::map<std::string, std::string> binaries = {
      {"cli", "pvectl-tunnel"}, {"worker", "pvectl-tunnel-worker"}, {"sim", "pvesim"}};
  for (const auto& [c, name] : binaries) {
    auto path = destdir_[c].string() + kBinDir + "/" + name;
    auto done = testing::run({path, "--help"});
    EXPECT_EQ(done.exit_code, 0) << path << "\n" << done.out << done.err;
  }
  // The worker's unit runs `pvectl-tunnel-worker tunnel --config ... --name %i`.
  auto tunnel = testing::run(
      {destdir_["worker"].string() + kBinDir + "/pvectl-tunnel-worker", "tunnel", "--help"});
  EXPECT_EQ(tunnel.exit_code, 0) << tunnel.err;
  EXPECT_NE(tunnel.out.find("--name"), std::string::npos) << tunnel.out;
  EXPECT_NE(tunnel.out.find("--config"), std::string::npos) << tunnel.out;
}

TEST_F(Install, UnitsRunTheInstalledBinaries) {
  const std::map<std::string, std::string> binary_of = {{"cli", "pvectl-tunnel"},
                                                        {"worker", "pvectl-tunnel-worker"}};
  for (const auto& [c, binary] : binary_of) {
    auto units = units_of(c);
    EXPECT_FALSE(units.empty()) << c;
    for (const auto& [name, text] : units) {
      SCOPED_TRACE(c + ": " + name);
      EXPECT_EQ(text.find("/usr/local"), std::string::npos) << text;
      // file:// names the cli component's docs (installed with it, or beside the worker on a
      // node); man: a page of the unit's own component, so the worker's package documents its
      // unit on a tunnel guest that has only that package.
      for (const auto& line : unit_values(text, "Documentation")) {
        std::istringstream uris(line);
        for (std::string doc; uris >> doc;) {
          if (doc.starts_with("man:")) {
            const auto page = doc.substr(4, doc.find('(') - 4);
            if (!kManPages) continue;
            EXPECT_TRUE(installed_[c].contains(kMan1Dir + "/" + page + ".1.gz"))
                << doc << " is not installed with " << c;
            continue;
          }
          ASSERT_TRUE(doc.starts_with("file://")) << doc;
          auto path = doc.substr(std::string("file://").size());
          EXPECT_TRUE(installed_["cli"].contains(path)) << doc << " is not installed";
        }
      }
      if (name.ends_with(".timer")) {
        auto service = name.substr(0, name.size() - 6) + ".service";
        EXPECT_TRUE(units.contains(service)) << service << " is not in the same component";
        continue;
      }
      auto exec = unit_values(text, "ExecStart");
      ASSERT_EQ(exec.size(), 1u);
      auto program = exec[0].substr(0, exec[0].find(' '));
      EXPECT_EQ(program, kBinDir + "/" + binary);
      auto in_destdir = destdir_[c].string() + program;
      EXPECT_EQ(access(in_destdir.c_str(), X_OK), 0) << in_destdir << " is not executable";
    }
  }
  auto worker = units_of("worker")["pvectl-tunnel@.service"];
  EXPECT_EQ(unit_values(worker, "ExecStart"),
            std::vector<std::string>{kBinDir + "/pvectl-tunnel-worker tunnel --config "
                                               "/etc/pvectl-tunnel/config.toml --name %i"});
  EXPECT_EQ(unit_values(worker, "User"), std::vector<std::string>{"pvectl-tunnel"});
  EXPECT_TRUE(units_of("sim").empty());
}

// `systemd-analyze verify` checks that each Exec*= program exists. With --root=DESTDIR it would
// look for everything in there, also for sysinit.target and for /bin/kill (ExecReload=), which a
// package's staging tree does not have; so the units are verified against the host's systemd with
// only their ExecStart= program moved into the component's DESTDIR.
TEST_F(Install, SystemdAnalyzeVerifyAcceptsTheUnits) {
  auto analyze = find_program("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze is not installed (package systemd)";
  for (const auto& c : {"cli", "worker"}) {
    auto dir = tmp_ / (std::string("verify-") + c);
    fs::create_directories(dir);
    // --man=no: a man: page is in the DESTDIR, not where man looks (UnitsRunTheInstalledBinaries
    // checks that the component installs it).
    std::vector<std::string> args = {analyze, "verify", "--man=no"};
    for (auto [name, text] : units_of(c)) {
      const std::string from = "ExecStart=" + kBinDir + "/";
      const std::string to = "ExecStart=" + destdir_[c].string() + kBinDir + "/";
      if (auto at = text.find(from); at != std::string::npos) text.replace(at, from.size(), to);
      std::ofstream(dir / name) << text;
      args.push_back((dir / name).string());
    }
    auto done = testing::run(args);
    SCOPED_TRACE(c);
    EXPECT_EQ(done.exit_code, 0) << done.out << done.err;
    // Warnings (an unknown key, say) leave the exit code 0 but name the unit.
    EXPECT_EQ((done.out + done.err).find("pvectl-tunnel"), std::string::npos)
        << done.out << done.err;
  }
}

TEST_F(Install, SysusersFileCreatesTheWorkersUser) {
  auto path = destdir_["worker"].string() + kSysusersDir + "/pvectl-tunnel.conf";
  std::vector<std::string> entries;
  for (const auto& line : lines_of(read_file(path))) {
    if (!line.empty() && !line.starts_with('#')) entries.push_back(line);
  }
  EXPECT_EQ(entries, std::vector<std::string>{"u pvectl-tunnel - \"pvectl-tunnel tunnel worker\" "
                                              "/nonexistent /usr/sbin/nologin"});

  auto sysusers = find_program("systemd-sysusers");
  if (sysusers.empty()) GTEST_SKIP() << "systemd-sysusers is not installed (package systemd)";
  auto root = tmp_ / "sysusers-root";
  fs::create_directories(root / "etc");
  auto done = testing::run({sysusers, "--root=" + root.string(), "--dry-run", path});
  EXPECT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_NE((done.out + done.err).find("Creating user 'pvectl-tunnel'"), std::string::npos)
      << done.out << done.err;
}

}  // namespace
}  // namespace pvt
