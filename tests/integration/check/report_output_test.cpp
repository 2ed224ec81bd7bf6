// The report commands' output as monitoring agents meet it, on the real binary against pvesim:
// -t bounds the whole run, --format prometheus --output FILE, stdout/stderr when they are not a
// terminal, NO_COLOR and COLUMNS, backup verify's grouping, the forms pve.fingerprint takes and
// pve.tls.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/lines.h"
#include "tests/support/prometheus_text.h"
#include "tests/support/subprocess.h"

namespace pvt {
namespace {

using testing::lines_of;

using sim_fixture::CheckAgainstSim;
using sim_fixture::read_file;
using sim_fixture::write_file;
using Json = nlohmann::json;
namespace fs = std::filesystem;

const std::string kBinary = PVT_BINARY_DIR "/pvectl-tunnel";

// A loopback TCP socket that completes every handshake (the kernel does, from the backlog) and
// never reads or answers: a PVE node that hangs. Closed when the test ends.
class SilentEndpoint {
 public:
  SilentEndpoint() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 64) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("cannot open a loopback socket");
    }
    port_ = ntohs(a.sin_port);
  }
  SilentEndpoint(const SilentEndpoint&) = delete;
  SilentEndpoint& operator=(const SilentEndpoint&) = delete;
  ~SilentEndpoint() { ::close(fd_); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Columns on a terminal: UTF-8 code points.
size_t columns(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

class ReportOutput : public CheckAgainstSim {
 protected:
  // Runs the binary with a clean terminal environment (no COLUMNS, no NO_COLOR unless given)
  // and stdin, stdout and stderr that are not terminals.
  testing::Completed run(const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "COLUMNS", "-u", "NO_COLOR"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(kBinary);
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run(argv);
  }
  std::string config() const { return (dir_ / "config.toml").string(); }
  void edit_config(const std::regex& what, const std::string& with) {
    std::string cfg = read_file(dir_ / "config.toml");
    const std::string edited = std::regex_replace(cfg, what, with);
    ASSERT_NE(edited, cfg) << "the config did not change";
    write_file(dir_ / "config.toml", edited, fs::perms(0644));
  }
};

// --- -t bounds the whole run --------------------------------------------------------------------

// Before 542c16a every request was given pve.timeout_s (10 s) whatever -t said: a hanging
// endpoint held the run for 10 s (and -t 2 then only kept the requests after it from starting).
TEST_F(ReportOutput, TimeoutBoundsTheRunWhenEveryEndpointHangs) {
  start();
  SilentEndpoint a, b;
  edit_config(std::regex("endpoints = \\[.*\\]"),
              "endpoints = [\"" + a.url() + "\", \"" + b.url() + "\"]");
  const auto began = std::chrono::steady_clock::now();
  auto r = run({"check", "--config", config(), "-t", "2"});
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(first_line(r.out).rfind("PVECTL-TUNNEL UNKNOWN - timed out after 2 s (", 0), 0u)
      << r.out;
  EXPECT_NE(first_line(r.out).find("127.0.0.1:"), std::string::npos) << "names who did not answer";
  EXPECT_GE(took, std::chrono::milliseconds(1900));
  // 2 s and a little; loose for a loaded CI machine, far below the 10 s of before.
  EXPECT_LE(took, std::chrono::seconds(4))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

TEST_F(ReportOutput, TimeoutBoundsTheRunWhenTheApiIsSlowerThanIt) {
  start();
  admin("/_sim/faults", {{"latency_ms", 6000}});
  const auto began = std::chrono::steady_clock::now();
  auto r = run({"check", "--config", config(), "-t", "2"});
  const auto took = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_EQ(first_line(r.out).rfind("PVECTL-TUNNEL UNKNOWN - timed out after 2 s (", 0), 0u)
      << r.out;
  EXPECT_LE(took, std::chrono::seconds(4))
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  // The JSON report says the same.
  auto o = check({"-t", "2"});
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_EQ(o.report.value("error", "").rfind("timed out after 2 s (", 0), 0u) << o.report.dump(2);
  // Leave the simulator fast again, so that stopping it waits for no slow answer.
  admin("/_sim/faults", {{"latency_ms", 0}});
}

// --- --format prometheus --output FILE -----------------------------------------------------------

TEST_F(ReportOutput, PrometheusToAFileWrittenWholeWithMode0644) {
  start();
  const fs::path out_dir = dir_ / "textfile";
  fs::create_directories(out_dir);
  const fs::path out = out_dir / "pvectl_tunnel.prom";
  // A restrictive umask: node_exporter must still be able to read the file.
  const auto before = std::chrono::system_clock::now();
  auto r = testing::run({"/bin/sh", "-c", "umask 077; exec \"$@\"", "sh", kBinary, "check",
                         "--config", config(), "--format", "prometheus", "--output", out.string()});
  const auto after = std::chrono::system_clock::now();
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;  // the reference topology's one finding
  EXPECT_EQ(r.out, "") << "the report goes to the file only";
  EXPECT_EQ(r.err, "");
  ASSERT_TRUE(fs::exists(out));
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u) << std::oct << (st.st_mode & 07777);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(out_dir)) names.push_back(e.path().filename());
  EXPECT_EQ(names, std::vector<std::string>{"pvectl_tunnel.prom"}) << "a temporary file was left";

  const std::string text = read_file(out);
  const auto e = testing::prometheus::parse_prometheus(text);
  EXPECT_TRUE(e.errors.empty()) << ::testing::PrintToString(e.errors) << "\n" << text;
  for (const auto& [name, count] : e.type) {
    EXPECT_EQ(count, 1) << name;
    EXPECT_EQ(e.help.count(name), 1u) << name;
  }
  const auto* onboot =
      e.find("pvectl_tunnel_rule_status", {{"rule", "guest.onboot"}, {"target", "tunnel2"}});
  ASSERT_NE(onboot, nullptr) << text;
  EXPECT_EQ(onboot->value, 2);
  const auto* ok =
      e.find("pvectl_tunnel_rule_status", {{"rule", "guest.onboot"}, {"target", "tunnel1"}});
  ASSERT_NE(ok, nullptr) << text;
  EXPECT_EQ(ok->value, 0);
  for (const char* guest : {"tunnel1", "tunnel2"}) {
    const auto* age = e.find("pvectl_tunnel_backup_age_seconds", {{"guest", guest}});
    const auto* allowed = e.find("pvectl_tunnel_backup_allowed_age_seconds", {{"guest", guest}});
    const auto* size = e.find("pvectl_tunnel_backup_size_bytes", {{"guest", guest}});
    ASSERT_TRUE(age && allowed && size) << guest << "\n" << text;
    EXPECT_GT(age->value, 0);
    EXPECT_LT(age->value, allowed->value) << "the reference backups are fresh";
    EXPECT_GT(size->value, 0);
  }
  const auto* at = e.find("pvectl_tunnel_check_timestamp_seconds");
  ASSERT_NE(at, nullptr) << text;
  const auto unix_s = [](std::chrono::system_clock::time_point t) {
    return static_cast<double>(
        std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
  };
  EXPECT_GE(at->value, unix_s(before) - 1);
  EXPECT_LE(at->value, unix_s(after) + 1);

  // A second run replaces the file, still whole, still 0644, still alone.
  fs::permissions(out, fs::perms(0600));
  r = run({"check", "--config", config(), "--format=prometheus", "--output=" + out.string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_TRUE(testing::prometheus::parse_prometheus(read_file(out)).errors.empty());
  EXPECT_EQ(std::distance(fs::directory_iterator(out_dir), fs::directory_iterator()), 1);
}

TEST_F(ReportOutput, AnOutputThatCannotBeWrittenIsUnknownAndSaysWhy) {
  start();
  write_file(dir_ / "a-file", "x");
  std::vector<fs::path> unwritable = {dir_ / "missing-dir" / "out.prom",
                                      dir_ / "a-file" / "out.prom"};
  if (geteuid() != 0) {  // root writes into a read-only directory anyway
    fs::create_directories(dir_ / "read-only");
    fs::permissions(dir_ / "read-only", fs::perms(0555));
    unwritable.push_back(dir_ / "read-only" / "out.prom");
  }
  for (const auto& out : unwritable) {
    for (const char* format : {"prometheus", "json", "text"}) {
      auto r = run({"check", "--config", config(), "--format", format, "--output", out.string()});
      EXPECT_EQ(r.exit_code, 3) << out << " " << format << "\n" << r.out << r.err;
      // Nothing else would tell: the message is on stderr and names the file.
      EXPECT_NE(r.err.find(out.string()), std::string::npos) << r.err;
      EXPECT_NE(r.err.find("UNKNOWN"), std::string::npos) << r.err;
      EXPECT_FALSE(fs::exists(out));
    }
  }
  if (geteuid() != 0) {
    fs::permissions(dir_ / "read-only", fs::perms(0755));
    EXPECT_TRUE(fs::is_empty(dir_ / "read-only")) << "no temporary file left behind";
  }
}

// --- not a terminal
// -------------------------------------------------------------------------------

// Monitoring agents read stdout and stderr as one stream: a log line first would become the
// status line. Not on a terminal, a report command logs nothing unless -v asks for it, not even
// the warning an insecure config used to give on every run.
TEST_F(ReportOutput, NotATerminalStderrStaysEmptyUnlessVerbose) {
  start();
  auto normal = run({"check", "--config", config()});
  EXPECT_EQ(normal.exit_code, 2);
  EXPECT_EQ(normal.err, "");
  EXPECT_EQ(normal.out.rfind("PVECTL-TUNNEL CRITICAL - ", 0), 0u) << normal.out;

  auto verify = run({"backup", "verify", "--config", config()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out;
  EXPECT_EQ(verify.err, "");

  edit_config(std::regex("\nfingerprint = \"[^\"]*\""), "\ninsecure = true");
  auto insecure = run({"check", "--config", config()});
  EXPECT_EQ(insecure.exit_code, 2) << insecure.out;
  EXPECT_EQ(insecure.err, "") << "before 542c16a: a warning on stderr";
  EXPECT_EQ(insecure.out.rfind("PVECTL-TUNNEL CRITICAL - ", 0), 0u) << insecure.out;

  // -v: the logs are wanted, on stderr; stdout still starts with the status line.
  auto verbose = run({"-v", "check", "--config", config()});
  EXPECT_EQ(verbose.exit_code, 2);
  EXPECT_NE(verbose.err, "") << "no logs with -v";
  EXPECT_EQ(verbose.out.rfind("PVECTL-TUNNEL CRITICAL - ", 0), 0u) << verbose.out;
}

TEST_F(ReportOutput, InsecureIsAPveTlsWarningInTheReport) {
  start();
  auto pinned = check();
  EXPECT_EQ(status_of(pinned.report, "pve.tls", "cluster"), "OK") << pinned.report.dump(2);
  edit_config(std::regex("\nfingerprint = \"[^\"]*\""), "\ninsecure = true");
  auto o = check();
  EXPECT_EQ(o.exit_code, 2) << o.report.dump(2);  // the reference finding stays the worst
  const Json* tls = result(o.report, "pve.tls", "cluster");
  ASSERT_NE(tls, nullptr) << o.report.dump(2);
  EXPECT_EQ((*tls)["status"], "WARNING");
  EXPECT_EQ((*tls)["observed"], "insecure");
  EXPECT_NE((*tls)["remediation"].get<std::string>().find("ca_file"), std::string::npos);
}

TEST_F(ReportOutput, BadConfigIsReportedOnceOnStdoutOneProblemPerLine) {
  write_file(dir_ / "config.toml",
             "[pve]\nendpoints = 3\ntoken_id = \"no-bang\"\ntimeout_s = 0\n\n[[guest]]\n"
             "name = \"-bad\"\n",
             fs::perms(0644));
  // The problems as config validate lists them, one per line on stderr.
  auto validate =
      testing::run({kBinary, "config", "validate", "--config", config(), "--for", "check"});
  ASSERT_EQ(validate.exit_code, 2);
  const auto problems = lines_of(validate.err);
  ASSERT_GE(problems.size(), 3u) << validate.err;

  auto r = run({"check", "--config", config()});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.err, "") << "the problems belong in the report, not also on stderr";
  const auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_EQ(lines[0].rfind("PVECTL-TUNNEL UNKNOWN - invalid config: ", 0), 0u) << r.out;
  for (const auto& p : problems) {
    EXPECT_EQ(std::count(lines.begin() + 1, lines.end(), p), 1) << p << "\nin\n" << r.out;
  }
  EXPECT_EQ(lines.size(), 1 + problems.size()) << r.out;
}

// --- NO_COLOR, COLUMNS ---------------------------------------------------------------------------

TEST_F(ReportOutput, NoEscapesOffATerminalAndLinesFitColumns) {
  start();
  // Findings of every kind, with long messages.
  admin("/_sim/guest/110", {{"status", "stopped"}, {"lock", "backup"}});
  for (const std::vector<std::string>& env :
       {std::vector<std::string>{"NO_COLOR=1", "COLUMNS=60"}, {"COLUMNS=60"}, {"TERM=xterm"}}) {
    auto r = run({"check", "--config", config()}, env);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_EQ(r.out.find('\033'), std::string::npos) << ::testing::PrintToString(env) << r.out;
  }
  auto r = run({"check", "--config", config()}, {"COLUMNS=60"});
  const auto lines = lines_of(r.out);
  ASSERT_GT(lines.size(), 10u) << r.out;
  for (size_t i = 1; i < lines.size(); ++i) {
    EXPECT_LE(columns(lines[i]), 60u) << "line " << i << ": " << lines[i];
  }
  // Wider terminals get wider lines: the wrapping follows COLUMNS.
  auto wide = run({"check", "--config", config()}, {"COLUMNS=200"});
  size_t widest = 0;
  for (const auto& line : lines_of(wide.out)) widest = std::max(widest, columns(line));
  EXPECT_GT(widest, 60u);
  for (size_t i = 1; i < lines_of(wide.out).size(); ++i) {
    EXPECT_LE(columns(lines_of(wide.out)[i]), 200u);
  }
}

// --- backup verify
// ---------------------------------------------------------------------------------

TEST_F(ReportOutput, BackupVerifyListsEachGuestsRowsTogether) {
  start();
  // Wide enough that no row wraps: one line per result.
  auto r = run({"backup", "verify", "--config", config()}, {"COLUMNS=400"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  std::vector<std::string> targets;
  for (const auto& line : lines_of(r.out)) {
    std::istringstream in(line);
    std::string status, rule, target;
    in >> status >> rule >> target;
    if (status == "OK" || status == "WARNING" || status == "CRITICAL" || status == "UNKNOWN") {
      targets.push_back(target);
    }
  }
  ASSERT_GE(targets.size(), 14u) << r.out;
  std::set<std::string> done;
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i > 0 && targets[i] != targets[i - 1]) {
      EXPECT_TRUE(done.insert(targets[i - 1]).second) << targets[i - 1];
      EXPECT_EQ(done.count(targets[i]), 0u) << targets[i] << "'s rows are split (row " << i << ")\n"
                                            << r.out;
    }
  }
  EXPECT_EQ(std::count(targets.begin(), targets.end(), "tunnel1"),
            std::count(targets.begin(), targets.end(), "tunnel2"));
}

// --- pve.fingerprint
// ---------------------------------------------------------------------------------

TEST_F(ReportOutput, FingerprintListWithOneWrongAndOneRight) {
  start();
  const std::string wrong =
      "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:"
      "EE:FF";
  for (const std::string& list : {"[\"" + wrong + "\", \"" + fingerprint_ + "\"]",
                                  "[\"" + fingerprint_ + "\", \"" + wrong + "\"]"}) {
    std::string cfg = read_file(dir_ / "config.toml");
    cfg = std::regex_replace(cfg, std::regex("\nfingerprint = [^\n]*"), "\nfingerprint = " + list);
    write_file(dir_ / "config.toml", cfg, fs::perms(0644));
    auto o = check();
    EXPECT_EQ(o.exit_code, 2) << list << "\n" << o.report.dump(2);
    EXPECT_FALSE(o.report.contains("error")) << o.report.dump(2);
    EXPECT_EQ(status_of(o.report, "guest.onboot", "tunnel1"), "OK");
    EXPECT_EQ(status_of(o.report, "pve.tls", "cluster"), "OK");
  }
}

TEST_F(ReportOutput, FingerprintAsOpensslAndPvenodePrintIt) {
  start();
  std::string lower = fingerprint_;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string bare = fingerprint_;
  std::erase(bare, ':');
  for (const std::string& form :
       {"sha256 Fingerprint=" + fingerprint_, "SHA256 Fingerprint=" + fingerprint_, lower, bare}) {
    std::string cfg = read_file(dir_ / "config.toml");
    cfg = std::regex_replace(cfg, std::regex("\nfingerprint = [^\n]*"),
                             "\nfingerprint = \"" + form + "\"");
    write_file(dir_ / "config.toml", cfg, fs::perms(0644));
    auto o = check();
    EXPECT_EQ(o.exit_code, 2) << form << "\n" << o.report.dump(2);
    EXPECT_FALSE(o.report.contains("error")) << form << "\n" << o.report.dump(2);
  }
}

}  // namespace
}  // namespace pvt
