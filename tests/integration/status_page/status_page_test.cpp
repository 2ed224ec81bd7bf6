// The controller's status page as a person sees it: the real `pvectl-tunnel controller` against
// pvesim, its page rendered by headless Chromium (Debian's `chromium`, installed by
// scripts/test.sh), the rendered DOM read back and a screenshot taken. To look at the page
// yourself: PVT_STATUS_PAGE_SCREENSHOT=/tmp/status.png build/tests/integration_status_page.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <chrono>
#include <thread>

#include "tests/integration/check/sim_fixture.h"
#include "tests/support/tcp_backend.h"

namespace pvt::sim_fixture {
namespace {

constexpr const char* kChromium = "/usr/bin/chromium";

struct Ran {
  bool timed_out = false;
  int exit_code = -1;
  std::string out, err;
};

// Runs `args` in a process group of its own, with a deadline: Chromium starts helpers (zygote,
// renderer, GPU) that hold our pipes, so on a timeout, and after it exits, the whole group it
// started is killed, and nothing else. `home` is its HOME and XDG directories, so that it leaves
// nothing in the user's own.
Ran run_group(std::vector<std::string> args, const fs::path& home, std::chrono::seconds limit) {
  // Everything the child needs is made before fork: the server thread may hold malloc's lock.
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view v(*e);
    if (!v.starts_with("HOME=") && !v.starts_with("XDG_CONFIG_HOME=") &&
        !v.starts_with("XDG_CACHE_HOME=")) {
      env.emplace_back(v);
    }
  }
  env.push_back("HOME=" + home.string());
  env.push_back("XDG_CONFIG_HOME=" + (home / ".config").string());
  env.push_back("XDG_CACHE_HOME=" + (home / ".cache").string());
  auto argv = testing::detail::argv_of(args);
  auto envp = testing::detail::argv_of(env);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that the group exists before the kill below, whoever runs
  close(out[1]);
  close(err[1]);
  Ran r;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    if (poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  // Not yet reaped, so the group id is still ours even when the leader has exited.
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The text between `<tr id="ID"` and its `</tr>`, or "" when the row is missing.
std::string row(const std::string& dom, const std::string& id) {
  const size_t at = dom.find("<tr id=\"" + id + "\"");
  if (at == std::string::npos) return "";
  const size_t end = dom.find("</tr>", at);
  return dom.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

class StatusPage : public CheckAgainstSim {
 protected:
  void SetUp() override {
    CheckAgainstSim::SetUp();
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium
                   << " is missing: install Debian's `chromium` (scripts/test.sh does) to render "
                      "the status page";
    }
    ASSERT_NO_FATAL_FAILURE(start());
    port_ = testing::free_port();
    fs::create_directories(dir_ / "lock");
    std::string cfg = read_file(dir_ / "config.toml");
    const size_t from = cfg.find("\n[controller]");
    const size_t to = cfg.find("\n[vps]");
    ASSERT_TRUE(from != std::string::npos && to != std::string::npos && from < to);
    cfg.replace(from, to - from,
                fmt::format("\n[controller]\ninterval_s = 1\nlisten = \"127.0.0.1:{}\"\n"
                            "lock_dir = \"{}\"\nstate_dir = \"{}\"\naudit_log = \"{}\"\n"
                            "lease_s = 6\n",
                            port_, (dir_ / "lock").string(), (dir_ / "state").string(),
                            (dir_ / "audit.jsonl").string()));
    write_file(dir_ / "control-token", "status-page-test-control-token\n");
    cfg = std::regex_replace(cfg, std::regex("control_token_file = \"[^\"]*\""),
                             "control_token_file = \"" + (dir_ / "control-token").string() + "\"");
    // tunnel1's worker is expected where nothing listens: the page shows it unreachable;
    // tunnel2 has no control_url and is not watched.
    cfg = std::regex_replace(
        cfg, std::regex("# control_url = \"[^\"]*\""),
        fmt::format("control_url = \"http://127.0.0.1:{}\"", testing::free_port()));
    // The public vhost, as nginx on the VPS answers through the primary tunnel: on loopback,
    // so that the page can show which tunnel carries the traffic.
    public_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Tunnel", "tunnel1");
      res.set_content("ok", "text/plain");
    });
    const int public_port = public_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(public_port, 0);
    public_thread_ = std::thread([this] { public_.listen_after_bind(); });
    cfg = std::regex_replace(
        cfg, std::regex("public_url = \"[^\"]*\""),
        fmt::format("public_url = \"http://127.0.0.1:{}/healthz\"", public_port));
    write_file(dir_ / "config.toml", cfg, fs::perms(0644));
    controller_ = std::make_unique<testing::Background>(
        std::vector<std::string>{PVT_BINARY_DIR "/pvectl-tunnel", "controller", "--config",
                                 (dir_ / "config.toml").string()},
        (dir_ / "controller.log").string());
  }
  void TearDown() override {
    controller_.reset();
    if (public_thread_.joinable()) {
      public_.stop();
      public_thread_.join();
    }
    CheckAgainstSim::TearDown();
  }

  // Polls /healthz until it answers 200: the first cycle has ended.
  bool healthy(std::chrono::seconds bound) {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(1);
    c.set_read_timeout(5);
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto res = c.Get("/healthz"); res && res->status == 200) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  Ran chromium(const std::string& what) {
    return run_group(
        {kChromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--hide-scrollbars", "--window-size=1280,900",
         "--user-data-dir=" + (dir_ / "chromium-profile").string(), what,
         fmt::format("http://127.0.0.1:{}/", port_)},
        dir_ / "chromium-home", std::chrono::seconds(40));
  }

  std::string controller_log() { return read_file(dir_ / "controller.log"); }

  int port_ = 0;
  std::unique_ptr<testing::Background> controller_;
  httplib::Server public_;
  std::thread public_thread_;
};

TEST_F(StatusPage, ChromiumShowsEveryGuestAndTunnelAndWhoLeads) {
  ASSERT_TRUE(healthy(std::chrono::seconds(30))) << "no /healthz 200 from the controller\n"
                                                 << controller_log();

  const Ran dom = chromium("--dump-dom");
  ASSERT_FALSE(dom.timed_out) << "chromium --dump-dom took over 40 s\n" << dom.err;
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const std::string& page = dom.out;
  ASSERT_NE(page.find("<h1>"), std::string::npos) << page << "\n" << dom.err;

  const std::string g1 = row(page, "guest-tunnel1");
  const std::string g2 = row(page, "guest-tunnel2");
  EXPECT_NE(g1.find("110"), std::string::npos) << page;
  EXPECT_NE(g2.find("210"), std::string::npos) << page;
  EXPECT_NE(g1.find("pve1"), std::string::npos) << g1;
  EXPECT_NE(g2.find("pve2"), std::string::npos) << g2;

  const std::string t1 = row(page, "tunnel-tunnel1");
  const std::string t2 = row(page, "tunnel-tunnel2");
  EXPECT_NE(t1.find("primary"), std::string::npos) << page;
  EXPECT_NE(t1.find("unreachable"), std::string::npos) << t1;
  EXPECT_NE(t2.find("backup"), std::string::npos) << page;
  EXPECT_NE(t2.find("not watched"), std::string::npos) << t2;

  EXPECT_NE(t1.find("carries it"), std::string::npos) << t1;
  EXPECT_NE(page.find("through <span class=\"via\">tunnel1</span> (primary)"), std::string::npos)
      << page;
  // Both workers are out of sight: the page says so above the tables.
  EXPECT_NE(page.find("Tunnel tunnel1 (primary): worker unreachable."), std::string::npos) << page;

  // The only controller of the cluster holds the lock, and the page says so.
  EXPECT_NE(page.find("id=\"role\""), std::string::npos) << page;
  EXPECT_NE(page.find(">Leader<"), std::string::npos) << page;
  EXPECT_NE(page.find("Last cycle"), std::string::npos) << page;

  const fs::path png = dir_ / "status.png";
  const Ran shot = chromium("--screenshot=" + png.string());
  ASSERT_FALSE(shot.timed_out) << "chromium --screenshot took over 40 s\n" << shot.err;
  ASSERT_EQ(shot.exit_code, 0) << shot.err;
  ASSERT_TRUE(fs::exists(png)) << shot.err;
  EXPECT_GT(fs::file_size(png), 5u * 1024) << "a blank page?";
  if (const char* keep = std::getenv("PVT_STATUS_PAGE_SCREENSHOT"))
    fs::copy_file(png, keep, fs::copy_options::overwrite_existing);
}

}  // namespace
}  // namespace pvt::sim_fixture
