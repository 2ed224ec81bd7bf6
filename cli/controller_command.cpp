#include "cli/controller_command.h"

#include <fmt/format.h>
#include <httplib.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/exit_codes.h"
#include "common/config.h"
#include "common/sd_notify.h"
#include "controller/env/real_env.h"
#include "controller/loop/controller.h"
#include "controller/loop/status_server.h"

namespace pvt::cli {
namespace {

using Json = nlohmann::json;

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  std::string name = buf;
  return name.substr(0, name.find('.'));
}

std::optional<config::Config> load_or_print(const std::string& path) {
  auto loaded = config::load(path, config::Command::controller);
  if (!loaded) {
    for (const auto& p : loaded.error()) fmt::print(stderr, "{}\n", p.format());
    return std::nullopt;
  }
  return std::move(*loaded);
}

// What the signal thread tells the loop.
struct Signals {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool reload = false;
  bool wake = false;
  std::atomic<bool> cancel{false};  // ends PVE requests in flight
  int stop_signal = 0;
};

// SIGTERM, SIGINT and SIGHUP are blocked in every thread and taken by one that waits for them,
// so that nothing runs in signal-handler context.
class SignalThread {
 public:
  explicit SignalThread(Signals& s) : s_(s) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this] { run(); });
  }
  ~SignalThread() {
    {
      std::lock_guard lock(s_.mu);
      done_ = true;
    }
    pthread_kill(thread_.native_handle(), SIGHUP);
    thread_.join();
  }

 private:
  void run() {
    for (;;) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      std::lock_guard lock(s_.mu);
      if (done_) return;
      if (sig == SIGHUP) {
        s_.reload = true;
      } else {
        s_.stop = true;
        s_.stop_signal = sig;
        s_.cancel = true;
      }
      s_.cv.notify_all();
    }
  }

  Signals& s_;
  sigset_t set_{};
  std::thread thread_;
  bool done_ = false;
};

}  // namespace

int run_controller(const ControllerArgs& args) {
  auto cfg = load_or_print(args.config_path);
  if (!cfg) return kBadUsage;
  Signals signals;
  SignalThread signal_thread(signals);

  const std::string node = host_name();
  controller::RealEnv env(*cfg, fmt::format("{}:{}", node, getpid()), &signals.cancel);
  controller::Controller ctl(*cfg, env, controller::ControllerOptions{args.dry_run, node, 50});

  if (args.once) {
    for (const auto& line : ctl.run_cycle()) fmt::print("{}\n", line);
    ctl.shutdown("--once: one cycle done");
    return kSuccess;
  }

  // Three cycles without an end mean the loop is stuck: /healthz says so.
  const auto stale_after = std::chrono::seconds(3 * cfg->controller.interval_s + 60);
  controller::StatusServer server(ctl, cfg->controller.token, stale_after,
                                  std::max(cfg->controller.interval_s, 5), [&signals] {
                                    std::lock_guard lock(signals.mu);
                                    signals.wake = true;
                                    signals.cv.notify_all();
                                  });
  if (auto r = server.start(cfg->controller.listen); !r) {
    spdlog::error("{}", r.error().message);
    return kRuntimeFailure;
  }
  spdlog::info("controller on {}: status server on {}, every {} s, enforce [{}]{}", node,
               cfg->controller.listen.str(), cfg->controller.interval_s,
               fmt::join(cfg->controller.enforce, ", "), args.dry_run ? ", dry run" : "");

  bool ready = false;
  for (;;) {
    const auto started = std::chrono::steady_clock::now();
    ctl.run_cycle();
    server.cycle_done();
    const auto s = ctl.status();
    sd::notify(fmt::format("{}WATCHDOG=1\nSTATUS={}, last cycle {}", ready ? "" : "READY=1\n",
                           s.dry_run  ? "dry run"
                           : s.leader ? "leader"
                                      : "follower",
                           s.cycle_at));
    ready = true;

    std::unique_lock lock(signals.mu);
    signals.cv.wait_until(lock, started + std::chrono::seconds(cfg->controller.interval_s),
                          [&] { return signals.stop || signals.reload || signals.wake; });
    if (signals.stop) break;
    signals.wake = false;
    if (signals.reload) {
      signals.reload = false;
      lock.unlock();
      sd::notify("RELOADING=1");
      if (auto fresh = load_or_print(args.config_path)) {
        if (fresh->controller.lock_dir != cfg->controller.lock_dir ||
            fresh->controller.listen.str() != cfg->controller.listen.str() ||
            fresh->controller.audit_log != cfg->controller.audit_log ||
            fresh->controller.state_dir != cfg->controller.state_dir) {
          spdlog::warn(
              "reload: lock_dir, state_dir, listen and audit_log take effect at the next "
              "restart");
        }
        cfg = std::move(fresh);
        env.reload(*cfg);
        ctl.reload(*cfg);
        spdlog::info("reload: {} read again", args.config_path);
      } else {
        spdlog::error("reload: {} is not valid; keeping the config in use", args.config_path);
      }
      sd::notify("READY=1");
    }
  }
  sd::notify("STOPPING=1");
  spdlog::info("controller: stopping on signal {}", signals.stop_signal);
  server.stop();
  ctl.shutdown(fmt::format("signal {}", signals.stop_signal));
  return kSuccess;
}

int run_maintenance(const MaintenanceArgs& args) {
  auto cfg = load_or_print(args.config_path);
  if (!cfg) return kBadUsage;
  if (!cfg->find_tunnel(args.tunnel)) {
    fmt::print(stderr, "no [[tunnel]] named \"{}\" in {}\n", args.tunnel, args.config_path);
    return kBadUsage;
  }
  if (cfg->controller.token.empty()) {
    fmt::print(stderr,
               "{}: [controller] token_file is not set: the controller refuses maintenance "
               "requests without it\n",
               args.config_path);
    return kBadUsage;
  }
  // A controller listening on every address is reached on loopback.
  std::string host = cfg->controller.listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  httplib::Client client(host, cfg->controller.listen.port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  client.set_bearer_token_auth(cfg->controller.token);
  const std::string path =
      fmt::format("/v1/maintenance/{}/{}", args.tunnel, args.start ? "start" : "stop");
  const Json body{
      {"by", fmt::format("pvectl-tunnel maintenance on {} (uid {})", host_name(), getuid())}};
  auto res = client.Post(path, body.dump(), "application/json");
  if (!res) {
    fmt::print(stderr, "the controller at {} did not answer ({}): is it running?\n",
               cfg->controller.listen.str(), httplib::to_string(res.error()));
    return kRuntimeFailure;
  }
  if (res->status != 200) {
    auto j = Json::parse(res->body, nullptr, false);
    fmt::print(stderr, "the controller refused: HTTP {}: {}\n", res->status,
               j.is_object() && j.contains("error") && j["error"].is_string()
                   ? j["error"].get<std::string>()
                   : res->body.substr(0, 200));
    return kRuntimeFailure;
  }
  if (!args.start) {
    fmt::print("{}: planned maintenance stopped; the leader resumes its worker within one cycle\n",
               args.tunnel);
    return kSuccess;
  }
  fmt::print("{}: planned maintenance started; the leader drains its worker\n", args.tunnel);
  if (args.wait_s <= 0) return kSuccess;
  // Until the worker reports drained, as the controller sees it.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(args.wait_s);
  std::string last;
  while (std::chrono::steady_clock::now() < give_up) {
    if (auto st = client.Get("/v1/status"); st && st->status == 200) {
      auto j = Json::parse(st->body, nullptr, false);
      if (j.is_object() && j.contains("tunnels") && j["tunnels"].is_array()) {
        for (const auto& t : j["tunnels"]) {
          if (!t.is_object() || t.value("name", "") != args.tunnel) continue;
          last = t.value("state", "");
          if (last.rfind("not watched", 0) == 0) {
            fmt::print(stderr,
                       "{}: the controller does not drive this tunnel's worker (no control_url "
                       "in [[tunnel]]): drain it on its guest\n",
                       args.tunnel);
            return kRuntimeFailure;
          }
          if (last == "drained") {
            fmt::print("{}: drained: traffic goes through the other tunnel\n", args.tunnel);
            return kSuccess;
          }
        }
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  fmt::print(stderr, "{}: not drained after {} s (worker state: {})\n", args.tunnel, args.wait_s,
             last.empty() ? "unknown" : last);
  return kRuntimeFailure;
}

}  // namespace pvt::cli
