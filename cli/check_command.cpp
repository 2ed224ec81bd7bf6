#include "cli/check_command.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>

#include <nlohmann/json.hpp>

#include "cli/exit_codes.h"
#include "common/clock.h"
#include "controller/backup/run.h"
#include "controller/backup/verify.h"
#include "controller/check/collect.h"
#include "controller/check/rules.h"
#include "controller/report.h"
#include "pve/client.h"
#include "pve/curl_transport.h"

namespace pvt::cli {
namespace {

void print_report(const report::Report& r, OutputFormat format) {
  if (format == OutputFormat::json) {
    fmt::print("{}\n", report::to_json(r).dump(2));
  } else {
    fmt::print("{}", report::to_text(r, isatty(STDOUT_FILENO) == 1));
  }
  std::fflush(stdout);
}

// --guest NAME: the config reduced to that guest and the tunnels it carries.
Result<config::Config> restrict_to_guest(config::Config cfg, const std::string& name) {
  const config::Guest* g = cfg.find_guest(name);
  if (g == nullptr)
    return fail(fmt::format("--guest: no [[guest]] named \"{}\" in {}", name, cfg.path));
  config::Guest keep = *g;
  cfg.guests = {keep};
  std::erase_if(cfg.tunnels, [&](const config::Tunnel& t) { return t.guest != name; });
  return cfg;
}

}  // namespace

int print_unknown_report(const std::string& error, OutputFormat format) {
  if (format == OutputFormat::text) fmt::print(stderr, "pvectl-tunnel: {}\n", error);
  print_report(report::unknown_report(error, std::chrono::system_clock::now()), format);
  return kReportUnknown;
}

namespace {

// What a report command produces from a loaded config and a PVE client.
using MakeReport = std::function<report::Report(const config::Config&, pve::Client&,
                                                const check::CollectOptions&)>;

// The part every report command shares: config for `command` (bad config: UNKNOWN, exit 3),
// --guest, one PVE client with one deadline for the whole run, then print and exit with the
// report's code.
int run_report_command(const CheckArgs& args, config::Command command, const char* what,
                       const MakeReport& make) {
  auto loaded = config::load(args.config_path, command);
  if (!loaded) {
    std::string joined;
    for (const auto& p : loaded.error()) {
      fmt::print(stderr, "{}\n", p.format());
      if (!joined.empty()) joined += "; ";
      joined += p.format();
    }
    return print_unknown_report(fmt::format("invalid config: {}", joined), args.format);
  }
  config::Config cfg = std::move(*loaded);
  if (args.guest) {
    auto restricted = restrict_to_guest(std::move(cfg), *args.guest);
    if (!restricted) return print_unknown_report(restricted.error().message, args.format);
    cfg = std::move(*restricted);
  }
  if (cfg.pve->insecure) {
    spdlog::warn("pve.insecure = true in {}: the Proxmox VE certificate is NOT verified", cfg.path);
  }

  SystemClock clock;
  pve::CurlTransport transport(pve::options_from_config(*cfg.pve));
  pve::Client client(transport, clock);
  // One deadline for the whole run: what is not checked by then is reported UNKNOWN.
  auto deadline = clock.steady_now() + std::chrono::seconds(args.timeout_s);
  client.set_deadline(deadline);

  check::CollectOptions options;
  options.deadline = deadline;
  report::Report r = make(cfg, client, options);
  spdlog::info("{} made {} API requests", what, client.requests_made());
  print_report(r, args.format);
  return r.exit_code();
}

}  // namespace

int run_check(const CheckArgs& args) {
  return run_report_command(
      args, config::Command::check, "check",
      [](const config::Config& cfg, pve::Client& client, const check::CollectOptions& options) {
        return check::evaluate(cfg, check::collect(cfg, client, options));
      });
}

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_interrupt(int) {
  if (!g_interrupted.exchange(true)) {
    static const char msg[] =
        "pvectl-tunnel: interrupted: stopping the restore and removing the scratch guest\n";
    [[maybe_unused]] auto n = write(STDERR_FILENO, msg, sizeof msg - 1);
  }
}

// SIGINT/SIGTERM become a request to stop that the restore test polls; a second one changes
// nothing: the scratch guest is removed either way.
void catch_interrupts() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int run_backup_verify(const CheckArgs& args) {
  if (!args.restore_test) {
    return run_report_command(
        args, config::Command::backup, "backup verify",
        [](const config::Config& cfg, pve::Client& client, const check::CollectOptions& options) {
          return backup::verify(cfg, client, options);
        });
  }
  return run_report_command(
      args, config::Command::backup, "backup verify --restore-test",
      [](const config::Config& cfg, pve::Client& client, const check::CollectOptions& options) {
        if (!cfg.backup.restore_test_vmid || !cfg.backup.restore_test_storage) {
          return report::unknown_report(
              fmt::format("--restore-test needs restore_test_vmid and restore_test_storage in "
                          "[backup] of {}",
                          cfg.path),
              std::chrono::system_clock::now());
        }
        catch_interrupts();
        SystemClock clock;
        backup::RestoreTestOptions restore;
        // Progress on stderr: stdout is the report, whose first line monitoring reads.
        restore.on_log = [](const std::string& guest, const std::string& line) {
          fmt::print(stderr, "{} | {}\n", guest, line);
        };
        restore.interrupted = [] { return g_interrupted.load(); };
        return backup::verify_with_restore(cfg, client, clock, options, restore);
      });
}

int run_backup_run(const CheckArgs& args) {
  auto loaded = config::load(args.config_path, config::Command::backup);
  if (!loaded) {
    for (const auto& p : loaded.error()) fmt::print(stderr, "{}\n", p.format());
    return kBadUsage;
  }
  config::Config cfg = std::move(*loaded);
  if (args.guest) {
    auto restricted = restrict_to_guest(std::move(cfg), *args.guest);
    if (!restricted) {
      fmt::print(stderr, "pvectl-tunnel: {}\n", restricted.error().message);
      return kBadUsage;
    }
    cfg = std::move(*restricted);
  }
  SystemClock clock;
  pve::CurlTransport transport(pve::options_from_config(*cfg.pve));
  pve::Client client(transport, clock);
  backup::RunOptions options;
  // Progress is for people: on stdout as text, on stderr when stdout carries JSON.
  std::FILE* progress = args.format == OutputFormat::json ? stderr : stdout;
  options.on_log = [progress](const std::string& guest, const std::string& line) {
    fmt::print(progress, "{} | {}\n", guest, line);
    std::fflush(progress);
  };
  auto runs = backup::run_backups(cfg, client, clock, options);
  if (!runs) {
    fmt::print(stderr, "pvectl-tunnel: backup run: {}\n", runs.error().message);
    return kRuntimeFailure;
  }
  bool all_ok = true;
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : *runs) {
    all_ok = all_ok && r.ok;
    results.push_back({{"guest", r.guest},
                       {"node", r.node},
                       {"storage", r.storage},
                       {"upid", r.upid},
                       {"ok", r.ok},
                       {"outcome", r.outcome},
                       {"errors", r.errors}});
    if (args.format == OutputFormat::text) {
      fmt::print("{}: {} - {}\n", r.guest, r.ok ? "OK" : "FAILED", r.outcome);
      for (const auto& e : r.errors) fmt::print("  {}\n", e);
    }
  }
  if (args.format == OutputFormat::json) {
    fmt::print("{}\n", nlohmann::json{{"ok", all_ok}, {"results", results}}.dump(2));
  }
  return all_ok ? kSuccess : kRuntimeFailure;
}

}  // namespace pvt::cli
