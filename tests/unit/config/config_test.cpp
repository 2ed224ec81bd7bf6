// The loader's model and per-command behaviour; the corpus (corpus_test.cpp) covers messages.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>

#include "common/config.h"
#include "config_files.h"

namespace pvt::config {
namespace {

using testing::ConfigFiles;

constexpr const char* kPve = R"(
[pve]
endpoints = ["https://pve1.example.lan:8006"]
token_id = "pvectl@pve!tunnel"
token_secret_file = "@DIR@/pve-token"
ca_file = "@DIR@/ca.pem"
)";

constexpr const char* kGuest = R"(
[[guest]]
name = "tunnel1"
node = "pve1"
vmid = 110
type = "qemu"
)";

constexpr const char* kTunnel = R"(
[[tunnel]]
name = "tunnel1"
guest = "tunnel1"
role = "primary"
vps_host = "vps.example.net"
user = "tunnel"
key_file = "@DIR@/id_ed25519_tunnel1"
known_hosts_file = "@DIR@/known_hosts"
remote = "127.0.0.1:29000"
local = "127.0.0.1:18080"
control_token_file = "@DIR@/control-token"
)";

class ConfigLoader : public ::testing::Test {
 protected:
  // Parses `text` as if it were the file config.toml inside the fixture directory.
  Result<Config, Problems> parse_text(const std::string& text, Command command,
                                      const ParseOptions& options = {}) {
    return parse(files_.substitute(text), files_.path("config.toml"), command, options);
  }

  static std::string lines(const Problems& problems) {
    std::string out;
    for (const auto& p : problems) out += p.format() + "\n";
    return out;
  }

  ConfigFiles files_;
};

TEST_F(ConfigLoader, FillsDefaultsForKeysLeftOut) {
  auto c = parse_text(std::string(kPve) + kGuest + kTunnel, Command::tunnel);
  ASSERT_TRUE(c) << lines(c.error());
  ASSERT_TRUE(c->pve.has_value());
  EXPECT_EQ(c->pve->timeout_s, 10);
  EXPECT_FALSE(c->pve->insecure);
  EXPECT_FALSE(c->guests[0].startup_order.has_value());
  const Tunnel& t = c->tunnels[0];
  EXPECT_EQ(t.vps_port, 22);
  EXPECT_FALSE(t.allow_public_bind);
  EXPECT_EQ(t.keepalive_interval_s, 10);
  EXPECT_EQ(t.keepalive_count_max, 3);
  EXPECT_TRUE(t.probe);
  EXPECT_EQ(t.probe_path, "/healthz");
  EXPECT_EQ(t.probe_interval_s, 10);
  EXPECT_EQ(t.probe_failures_max, 3);
  EXPECT_EQ(t.forward_pending_max_s, 60);
  EXPECT_EQ(t.drain_timeout_s, 30);
  EXPECT_EQ(t.control_listen.str(), "127.0.0.1:9190");
  EXPECT_FALSE(t.control_url.has_value());
  EXPECT_FALSE(t.passphrase_file.has_value());
  EXPECT_EQ(c->backup.max_age_h, 192);
  EXPECT_EQ(c->backup.grace_h, 12);
  EXPECT_FALSE(c->backup.storage.has_value());
  EXPECT_FALSE(c->backup.restore_test_vmid.has_value());
  EXPECT_EQ(c->controller.interval_s, 10);
  EXPECT_TRUE(c->controller.enforce.empty());
  EXPECT_EQ(c->controller.listen.str(), "127.0.0.1:9191");
  EXPECT_EQ(c->controller.lock_dir, "/etc/pve/priv/lock");
  EXPECT_EQ(c->controller.state_dir, "/etc/pve/priv/pvectl-tunnel");
  EXPECT_EQ(c->controller.lease_s, 120);
  EXPECT_EQ(c->controller.start_min_interval_s, 60);
  EXPECT_EQ(c->controller.start_backoff_max_s, 900);
  EXPECT_EQ(c->controller.reconnect_after_cycles, 3);
  EXPECT_EQ(c->controller.backup_check_interval_s, 300);
  EXPECT_EQ(c->controller.audit_log, "/var/log/pvectl-tunnel/audit.jsonl");
  EXPECT_FALSE(c->controller.token_file.has_value());
  EXPECT_FALSE(c->vps.public_url.has_value());
}

TEST_F(ConfigLoader, ReadsEveryGivenValueIntoTheModel) {
  auto c = parse_text(std::string(kPve) + kGuest + R"(startup_order = 2
[[guest]]
name = "tunnel2"
node = "pve2"
vmid = 210
type = "lxc"
)" + kTunnel + R"(vps_port = 2222
keepalive_interval_s = 15
probe = false
control_listen = "[::1]:9200"
control_url = "https://tunnel1.example.lan:9190"
[backup]
storage = "pbs1"
restore_test_vmid = 9999
[controller]
enforce = ["onboot", "start"]
listen = "[::1]:9191"
lock_dir = "@DIR@/lock"
lease_s = 5
token_file = "@DIR@/controller-token"
[vps]
public_url = "https://home.example.net/healthz"
)",
                      Command::controller);
  ASSERT_TRUE(c) << lines(c.error());
  EXPECT_EQ(c->path, files_.path("config.toml"));
  EXPECT_EQ(c->pve->endpoints, std::vector<std::string>{"https://pve1.example.lan:8006"});
  EXPECT_EQ(c->pve->token_id, "pvectl@pve!tunnel");
  ASSERT_EQ(c->guests.size(), 2u);
  EXPECT_EQ(c->guests[0].startup_order, 2);
  EXPECT_EQ(c->guests[1].type, GuestType::lxc);
  EXPECT_EQ(c->find_guest("tunnel2")->vmid, 210);
  const Tunnel& t = *c->find_tunnel("tunnel1");
  EXPECT_EQ(t.vps_port, 2222);
  EXPECT_EQ(t.keepalive_interval_s, 15);
  EXPECT_FALSE(t.probe);
  EXPECT_EQ(t.control_listen.host, "::1");
  EXPECT_EQ(t.control_listen.port, 9200);
  EXPECT_EQ(t.control_url, "https://tunnel1.example.lan:9190");
  EXPECT_EQ(t.remote.host, "127.0.0.1");
  EXPECT_EQ(t.remote.port, 29000);
  EXPECT_EQ(c->backup.storage, "pbs1");
  EXPECT_EQ(c->backup.restore_test_vmid, 9999);
  EXPECT_TRUE(c->controller.enforces("start"));
  EXPECT_TRUE(c->controller.enforces("onboot"));
  EXPECT_FALSE(c->controller.enforces("backup"));
  EXPECT_EQ(c->controller.listen.str(), "[::1]:9191");
  EXPECT_EQ(c->controller.lease_s, 5);
  EXPECT_EQ(c->vps.public_url, "https://home.example.net/healthz");
}

TEST_F(ConfigLoader, ReadsSecretsWithoutTrailingWhitespace) {
  auto c = parse_text(std::string(kPve) + kGuest + kTunnel +
                          "control_url = \"http://tunnel1.example.lan:9190\"\n"
                          "[controller]\nlock_dir = \"@DIR@/lock\"\n"
                          "token_file = \"@DIR@/controller-token\"\n",
                      Command::controller);
  ASSERT_TRUE(c) << lines(c.error());
  EXPECT_EQ(c->pve->token_secret, ConfigFiles::kPveSecret);
  EXPECT_EQ(c->tunnels[0].control_token, ConfigFiles::kControlSecret);
  EXPECT_EQ(c->controller.token, ConfigFiles::kControllerSecret);
}

TEST_F(ConfigLoader, ReadsOnlyTheSecretsTheCommandUses) {
  // The worker authenticates its own API; it never talks to Proxmox.
  auto tunnel = parse_text(std::string(kPve) + kGuest + kTunnel, Command::tunnel);
  ASSERT_TRUE(tunnel) << lines(tunnel.error());
  EXPECT_EQ(tunnel->tunnels[0].control_token, ConfigFiles::kControlSecret);
  EXPECT_TRUE(tunnel->pve->token_secret.empty());
  // Without a control_url, check does not contact the worker and needs no control token.
  auto check = parse_text(std::string(kPve) + kGuest + kTunnel, Command::check);
  ASSERT_TRUE(check) << lines(check.error());
  EXPECT_EQ(check->pve->token_secret, ConfigFiles::kPveSecret);
  EXPECT_TRUE(check->tunnels[0].control_token.empty());
}

TEST_F(ConfigLoader, ResolvesRelativePathsAgainstTheConfigDirectory) {
  auto c = parse_text(R"(
[pve]
endpoints = ["https://pve1.example.lan:8006"]
token_id = "pvectl@pve!tunnel"
token_secret_file = "pve-token"
ca_file = "./ca.pem"
)" + std::string(kGuest) + R"(
[[tunnel]]
name = "tunnel1"
guest = "tunnel1"
role = "primary"
vps_host = "vps.example.net"
user = "tunnel"
key_file = "id_ed25519_tunnel1"
known_hosts_file = "@DIR@/known_hosts"
remote = "127.0.0.1:29000"
local = "127.0.0.1:18080"
control_token_file = "lock/../control-token"
[controller]
lock_dir = "lock"
)",
                      Command::check);
  ASSERT_TRUE(c) << lines(c.error());
  EXPECT_EQ(c->pve->token_secret_file, files_.path("pve-token"));
  EXPECT_EQ(c->pve->ca_file, files_.path("ca.pem"));
  EXPECT_EQ(c->pve->token_secret, ConfigFiles::kPveSecret);
  EXPECT_EQ(c->tunnels[0].key_file, files_.path("id_ed25519_tunnel1"));
  EXPECT_EQ(c->tunnels[0].known_hosts_file, files_.path("known_hosts"));
  EXPECT_EQ(c->tunnels[0].control_token_file, files_.path("control-token"));
  EXPECT_EQ(c->controller.lock_dir, files_.path("lock"));
  // Beside the lock directory unless set.
  EXPECT_EQ(c->controller.state_dir, files_.path("pvectl-tunnel"));
  // Absolute paths stay as written.
  EXPECT_EQ(c->controller.audit_log, "/var/log/pvectl-tunnel/audit.jsonl");
}

TEST_F(ConfigLoader, NormalisesFingerprintsToUpperCase) {
  std::string text = std::string(kPve) + kGuest;
  const std::string lower =
      "9f:86:d0:81:88:4c:7d:65:9a:2f:ea:a0:c5:5a:d0:15:a3:bf:4f:1b:2b:0b:82:"
      "2c:d1:5d:6c:15:b0:f0:0a:08";
  text.replace(text.find("ca_file = \"@DIR@/ca.pem\""), 24, "fingerprint = \"" + lower + "\"");
  auto c = parse_text(text, Command::check);
  ASSERT_TRUE(c) << lines(c.error());
  EXPECT_FALSE(c->pve->ca_file.has_value());
  EXPECT_EQ(
      c->pve->fingerprints,
      std::vector<std::string>{"9F:86:D0:81:88:4C:7D:65:9A:2F:EA:A0:C5:5A:D0:15:A3:BF:4F:1B:2B:"
                               "0B:82:2C:D1:5D:6C:15:B0:F0:0A:08"});
}

// Every node of a cluster serves its own certificate: one pin per endpoint, in any of the forms
// openssl and pvenode print.
TEST_F(ConfigLoader, FingerprintListInThePastedForms) {
  std::string text = std::string(kPve) + kGuest;
  const std::string a =
      "9f:86:d0:81:88:4c:7d:65:9a:2f:ea:a0:c5:5a:d0:15:a3:bf:4f:1b:2b:0b:82:2c:d1:5d:6c:15:b0:f0:"
      "0a:08";
  const std::string b = "sha256 Fingerprint=" + std::string(32, 'A') + std::string(32, 'b');
  text.replace(text.find("ca_file = \"@DIR@/ca.pem\""), 24,
               "fingerprint = [\"" + a + "\", \"" + b + "\"]");
  auto c = parse_text(text, Command::check);
  ASSERT_TRUE(c) << lines(c.error());
  ASSERT_EQ(c->pve->fingerprints.size(), 2u);
  EXPECT_EQ(c->pve->fingerprints[1].substr(0, 8), "AA:AA:AA");
  EXPECT_EQ(c->pve->fingerprints[1].substr(c->pve->fingerprints[1].size() - 5), "BB:BB");
  text = std::string(kPve) + kGuest;
  text.replace(text.find("ca_file = \"@DIR@/ca.pem\""), 24, "fingerprint = [\"" + a + "\", 3]");
  auto bad = parse_text(text, Command::check);
  ASSERT_FALSE(bad);
  EXPECT_NE(lines(bad.error()).find("pve.fingerprint[1]: expected a string or an array of strings"),
            std::string::npos)
      << lines(bad.error());
}

// std::regex recursed once per character and overflowed the stack on a 200,000-character
// token_id; the validators are linear now.
TEST_F(ConfigLoader, HugeValuesGetAnErrorNotACrash) {
  std::string text = std::string(kPve) + kGuest;
  const std::string huge(200000, 'x');
  text.replace(text.find("pvectl@pve!tunnel"), 17, huge);
  auto c = parse_text(text, Command::check);
  ASSERT_FALSE(c);
  EXPECT_NE(lines(c.error()).find("pve.token_id: expected USER@REALM!TOKENID"), std::string::npos);
  auto url = std::string(kPve) + kGuest;
  url.replace(url.find("https://pve1.example.lan:8006"), 29, "https://" + huge + ".lan:8006");
  EXPECT_FALSE(parse_text(url, Command::check));
}

TEST_F(ConfigLoader, MissingConfigFileIsNamedWithoutAPosition) {
  auto c = load("/nonexistent/pvectl-tunnel.toml", Command::check);
  ASSERT_FALSE(c);
  const std::string text = lines(c.error());
  EXPECT_NE(text.find("cannot read the config file /nonexistent/pvectl-tunnel.toml: No such file"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(":0:0:"), std::string::npos) << text;
}

TEST_F(ConfigLoader, TunnelOnlyConfigServesTheTunnelCommandButNotCheck) {
  auto tunnel = parse_text(kTunnel, Command::tunnel);
  ASSERT_TRUE(tunnel) << lines(tunnel.error());
  EXPECT_FALSE(tunnel->pve.has_value());
  EXPECT_TRUE(tunnel->guests.empty());

  auto check = parse_text(kTunnel, Command::check);
  ASSERT_FALSE(check);
  ASSERT_EQ(check.error().size(), 2u);
  EXPECT_EQ(check.error()[0].key, "pve");
  EXPECT_EQ(check.error()[1].key, "guest");
}

TEST_F(ConfigLoader, VpsConfigNeedsNeitherPveNorWorkerKeys) {
  auto c = parse_text(R"(
[[tunnel]]
name = "tunnel1"
guest = "tunnel1"
role = "primary"
remote = "127.0.0.1:29000"
[vps]
public_url = "https://home.example.net/healthz"
)",
                      Command::vps);
  ASSERT_TRUE(c) << lines(c.error());
  EXPECT_FALSE(c->pve.has_value());
  EXPECT_EQ(c->tunnels[0].remote.port, 29000);
  // The same file lacks what the worker needs.
  auto tunnel = parse_text(R"(
[[tunnel]]
name = "tunnel1"
guest = "tunnel1"
role = "primary"
remote = "127.0.0.1:29000"
)",
                           Command::tunnel);
  ASSERT_FALSE(tunnel);
  std::vector<std::string> keys;
  for (const auto& p : tunnel.error()) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"tunnel[0].vps_host", "tunnel[0].user",
                                            "tunnel[0].key_file", "tunnel[0].known_hosts_file",
                                            "tunnel[0].local", "tunnel[0].control_token_file"}));
}

TEST_F(ConfigLoader, UnreadSectionsAreCheckedForTypesButNotForRequiredKeysOrFiles) {
  // A tunnel guest's copy of the file may carry an incomplete [pve] naming a missing file.
  auto with_pve = [](const std::string& extra) {
    return "[pve]\ntoken_secret_file = \"@DIR@/does-not-exist\"\n" + extra +
           "[[guest]]\nname = \"tunnel1\"\n" + kTunnel;
  };
  auto ok = parse_text(with_pve(""), Command::tunnel);
  EXPECT_TRUE(ok) << lines(ok.error());

  auto bad = parse_text(with_pve("timeout_s = \"10\"\ntimeot_s = 10\n"), Command::tunnel);
  ASSERT_FALSE(bad);
  ASSERT_EQ(bad.error().size(), 2u) << lines(bad.error());
  EXPECT_EQ(bad.error()[0].key, "pve.timeout_s");
  EXPECT_EQ(bad.error()[0].message, "expected an integer, got a string");
  EXPECT_EQ(bad.error()[1].key, "pve.timeot_s");
  EXPECT_EQ(bad.error()[1].message, "unknown key (did you mean \"timeout_s\"?)");
}

TEST_F(ConfigLoader, ReportsEveryProblemAtOnceInFileOrder) {
  auto c = parse_text(R"([pve]
endpoints = ["ftp://pve1"]
token_id = "root"
token_secret_file = "@DIR@/pve-token-world"
insecure = true
timeout_s = 0
[[guest]]
name = "tunnel1"
vmid = 42
type = "vm"
colour = "blue"
)",
                      Command::check);
  ASSERT_FALSE(c);
  std::vector<std::string> got;
  for (const auto& p : c.error()) got.push_back(fmt::format("{}:{} {}", p.line, p.column, p.key));
  EXPECT_EQ(got, (std::vector<std::string>{"2:14 pve.endpoints[0]", "3:12 pve.token_id",
                                           "4:21 pve.token_secret_file", "6:13 pve.timeout_s",
                                           "7:1 guest[0].node", "9:8 guest[0].vmid",
                                           "10:8 guest[0].type", "11:1 guest[0].colour"}));
  for (const auto& p : c.error()) EXPECT_EQ(p.file, files_.path("config.toml"));
}

TEST_F(ConfigLoader, FileChecksCanBeTurnedOffForConfigsOfOtherMachines) {
  const std::string text = R"(
[pve]
endpoints = ["https://pve1.example.lan:8006"]
token_id = "pvectl@pve!tunnel"
token_secret_file = "/nonexistent/pve-token"
ca_file = "/nonexistent/ca.pem"
)" + std::string(kGuest);
  EXPECT_FALSE(parse_text(text, Command::check));
  auto relaxed = parse_text(text, Command::check, ParseOptions{.check_files = false});
  ASSERT_TRUE(relaxed) << lines(relaxed.error());
  EXPECT_TRUE(relaxed->pve->token_secret.empty());
  // Everything else is still validated.
  EXPECT_FALSE(parse_text(text + "vmid = 5\n", Command::check, ParseOptions{.check_files = false}));
}

TEST_F(ConfigLoader, NeverShowsSecretsInMessages) {
  // A secret file with the wrong mode is reported by path; its contents stay out of messages.
  auto c = parse_text(std::string(kPve) + kGuest + kTunnel +
                          "[controller]\ntoken_file = \"@DIR@/pve-token-world\"\n",
                      Command::controller);
  ASSERT_FALSE(c);
  for (const auto& p : c.error()) {
    EXPECT_EQ(p.format().find(ConfigFiles::kPveSecret), std::string::npos) << p.format();
  }
}

TEST(ConfigLoad, MissingFileIsOneProblemWithoutAPosition) {
  auto c = load("/nonexistent/pvectl-tunnel/config.toml", Command::check);
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 1u);
  EXPECT_EQ(c.error()[0].format(),
            "cannot read the config file /nonexistent/pvectl-tunnel/config.toml: No such file or "
            "directory");
}

TEST(ConfigLoad, FifoOrDeviceIsNotReadForever) {
  ConfigFiles files;
  for (const std::string& path : {files.path("known_hosts_fifo"), std::string("/dev/zero")}) {
    auto c = load(path, Command::vps);
    ASSERT_FALSE(c);
    EXPECT_NE(c.error()[0].message.find("expected a regular file"), std::string::npos)
        << c.error()[0].message;
  }
}

TEST(ConfigLoad, DirectoryIsNotAConfig) {
  ConfigFiles files;
  auto c = load(files.path("lock"), Command::vps);
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 1u);
  EXPECT_EQ(c.error()[0].message, "cannot read the config file " + files.path("lock") +
                                      ": is a directory, expected a regular file");
}

TEST(ConfigLoad, ReadsTheFileAndKeepsItsPathInMessages) {
  ConfigFiles files;
  files.write("vps.toml", "[[tunnel]]\nname = \"t\"\nguest = \"g\"\nrole = \"primary\"\n", 0644);
  auto c = load(files.path("vps.toml"), Command::vps);
  ASSERT_FALSE(c);
  ASSERT_EQ(c.error().size(), 1u);
  EXPECT_EQ(c.error()[0].format(),
            files.path("vps.toml") + ":1:1: tunnel[0].remote: required key is missing");
}

}  // namespace
}  // namespace pvt::config
