// Test support: a real OpenSSH sshd playing the VPS, on a free 127.0.0.1 port, with its own
// sshd_config, generated host key and authorized_keys in a test directory. It stops exactly the
// processes it started (the listener and its session children).
#pragma once

#include <dirent.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/small_file.h"
#include "tests/support/openssh_version.h"
#include "tests/support/subprocess.h"
#include "tests/support/tcp_backend.h"

namespace pvt::testing {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

inline void write_text(const fs::path& p, const std::string& text, int mode = 0600) {
  std::ofstream(p) << text;
  fs::permissions(p, static_cast<fs::perms>(mode));
}

// An ed25519 key pair at `path` (private, 0600) and `path`.pub.
inline void make_key(const fs::path& path) {
  auto r = run({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pvt-test", "-f",
                path.string()});
  if (r.exit_code != 0) throw std::runtime_error("ssh-keygen failed: " + r.err);
}

// "SHA256:..." of a public key file, as ssh-keygen prints it.
inline std::string key_fingerprint(const fs::path& pub) {
  auto r = run({"/usr/bin/ssh-keygen", "-l", "-E", "sha256", "-f", pub.string()});
  std::istringstream words(r.out);
  std::string bits, fp;
  words >> bits >> fp;
  return fp;
}

// A /proc file's text, "" when it cannot be read (the process is gone). read_small_file reads
// with read(2): std::ifstream's filebuf throws when a process exits while its file is read
// (ESRCH).
inline std::string read_proc_file(const std::string& path) {
  return read_small_file(path, 1 << 20).value_or("");
}

// Every process whose parent chain leads to `root` (not `root` itself).
inline std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  if (DIR* d = opendir("/proc")) {
    while (dirent* e = readdir(d)) {
      const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
      if (pid <= 0) continue;
      const std::string text = read_proc_file("/proc/" + std::string(e->d_name) + "/stat");
      const size_t close = text.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream rest(text.substr(close + 2));
      char state;
      pid_t ppid = 0;
      rest >> state >> ppid;
      all.emplace_back(pid, ppid);
    }
    closedir(d);
  }
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (const auto& [pid, ppid] : all) {
      if (ppid == out[i]) out.push_back(pid);
    }
  }
  out.erase(out.begin());
  return out;
}

inline bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ready();
}

// The sshd the tests start: $PVT_TEST_SSHD when set, else /usr/sbin/sshd. scripts/test.sh's
// interoperability runs set it to a wrapper that starts another Debian release's sshd (in that
// release's root, sharing /tmp and the network), so one build of the worker meets both.
inline std::string sshd_program() {
  const char* chosen = std::getenv("PVT_TEST_SSHD");
  return chosen != nullptr && *chosen != '\0' ? chosen : "/usr/sbin/sshd";
}

// The version of the test sshd, from `sshd -V` (stderr; exit code ignored: before 9.x there
// was no -V and the version came with the usage), else from `ssh -V` (the same package) when
// the sshd is the system's.
inline std::optional<OpenSshVersion> sshd_version() {
  static const std::optional<OpenSshVersion> version = [] {
    std::vector<std::string> programs = {sshd_program()};
    if (programs[0] == "/usr/sbin/sshd") programs.push_back("/usr/bin/ssh");
    for (const auto& prog : programs) {
      const auto r = run({prog, "-V"});
      if (auto v = parse_openssh_version(r.err + r.out)) return v;
    }
    return std::optional<OpenSshVersion>{};
  }();
  return version;
}

class SshServer {
 public:
  // `client_alive_s` x 3 is how long the VPS keeps a session whose client went silent.
  SshServer(fs::path dir, int client_alive_s = 1) : dir_(std::move(dir)), port_(free_port()) {
    fs::create_directories(dir_);
    fs::create_directories("/run/sshd");  // sshd's privilege separation directory
    make_key(dir_ / "ssh_host_ed25519_key");
    write_text(dir_ / "authorized_keys", "", 0600);
    write_text(dir_ / "sshd_config",
               "Port " + std::to_string(port_) +
                   "\n"
                   "ListenAddress 127.0.0.1\n"
                   "HostKey " +
                   (dir_ / "ssh_host_ed25519_key").string() +
                   "\n"
                   "PidFile " +
                   (dir_ / "sshd.pid").string() +
                   "\n"
                   "AuthorizedKeysFile " +
                   (dir_ / "authorized_keys").string() +
                   "\n"
                   "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
                   "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
                   "AllowTcpForwarding yes\nGatewayPorts no\nLogLevel DEBUG1\n"
                   "MaxStartups 100:30:200\n"
                   "ClientAliveInterval " +
                   std::to_string(client_alive_s) + "\nClientAliveCountMax 3\n" +
                   version_dependent_config(sshd_version()),
               0644);
  }
  ~SshServer() { kill_all(); }

  int port() const { return port_; }
  // Appends lines to sshd_config, before start(): keywords set nowhere above (sshd takes the
  // first value it reads), e.g. "RekeyLimit 256K\n" or "Ciphers aes256-ctr\n".
  void add_config(const std::string& lines) {
    std::ofstream(dir_ / "sshd_config", std::ios::app) << lines;
  }
  fs::path host_public_key() const { return dir_ / "ssh_host_ed25519_key.pub"; }
  // The known_hosts line for this server.
  std::string known_hosts_line() const {
    std::istringstream words(slurp(host_public_key()));
    std::string type, blob;
    words >> type >> blob;
    return "[127.0.0.1]:" + std::to_string(port_) + " " + type + " " + blob + "\n";
  }

  // Lets `pubkey_file` forward exactly 127.0.0.1:remote_port, as the deployment does.
  void authorize(const fs::path& pubkey_file, int remote_port) {
    const std::string p = "127.0.0.1:" + std::to_string(remote_port);
    std::ofstream(dir_ / "authorized_keys", std::ios::app)
        << "restrict,port-forwarding,permitlisten=\"" << p << "\",permitopen=\"" << p << "\" "
        << slurp(pubkey_file);
  }

  void start() {
    process_ = std::make_unique<Background>(
        std::vector<std::string>{sshd_program(), "-D", "-f", (dir_ / "sshd_config").string(), "-E",
                                 (dir_ / "sshd.log").string()});
    // Up when the port answers with an SSH banner: a mere accept could come from another
    // process that took the port between free_port() and sshd's bind (tests run in parallel),
    // which would leave the worker talking to the wrong peer.
    const bool up = wait_until([&] { return banner_is_ssh(); }, std::chrono::seconds(10));
    if (!up) {
      throw std::runtime_error("sshd did not start on port " + std::to_string(port_) + ": " +
                               slurp(dir_ / "sshd.log"));
    }
  }

  // SIGKILL to the listener and every session process: the VPS's sshd dies.
  void kill_all() {
    if (!process_) return;
    for (pid_t p : descendants(process_->pid())) ::kill(p, SIGKILL);
    process_->stop(SIGKILL);
    process_.reset();
  }

  // Freezes (or thaws) the session processes, not the listener: the session goes silent as
  // on a dropped network path, while new connections are still served.
  void signal_sessions(int sig) {
    if (!process_) return;
    for (pid_t p : descendants(process_->pid())) ::kill(p, sig);
  }
  size_t session_processes() const { return process_ ? descendants(process_->pid()).size() : 0; }

  std::string log() const { return slurp(dir_ / "sshd.log"); }

  // Whether the port's listener greets like an SSH server ("SSH-2.0-...").
  bool banner_is_ssh() const {
    const int fd = connect_local(port_);
    if (fd < 0) return false;
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[8] = {};
    size_t got = 0;
    while (got < sizeof buf) {
      const ssize_t n = ::recv(fd, buf + got, sizeof buf - got, 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    return std::string_view(buf, got) == "SSH-2.0-";
  }

 private:
  fs::path dir_;
  int port_;
  std::unique_ptr<Background> process_;
};

}  // namespace pvt::testing
