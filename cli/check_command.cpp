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
#include "cli/terminal.h"
#include "common/atomic_file.h"
#include "common/clock.h"
#include "common/text.h"
#include "controller/backup/run.h"
#include "controller/backup/verify.h"
#include "controller/check/collect.h"
#include "controller/check/rules.h"
#include "controller/report.h"
#include "pve/client.h"
#include "pve/curl_transport.h"

namespace pvt::cli {
namespace {

std::string render(const report::Report& r, OutputFormat format, bool to_terminal) {
  switch (format) {
    case OutputFormat::json:
      return report::to_json(r).dump(2) + "\n";
    case OutputFormat::prometheus:
      return report::to_prometheus(r);
    case OutputFormat::text:
      break;
  }
  report::TextOptions text;
  text.color = to_terminal && use_color(STDOUT_FILENO);
  text.width = terminal_width(STDOUT_FILENO);
  return report::to_text(r, text);
}

// Returns the exit code: the report's, or UNKNOWN when --output cannot be written (said on
// stderr: nothing else would tell).
int print_report(const report::Report& r, OutputFormat format,
                 const std::optional<std::string>& output) {
  if (output) {
    auto written = write_file_atomically(*output, render(r, format, false));
    if (!written) {
      fmt::print(stderr, "PVECTL-TUNNEL UNKNOWN - --output: {}\n", written.error().message);
      return kReportUnknown;
    }
    return r.exit_code();
  }
  fmt::print("{}", render(r, format, true));
  std::fflush(stdout);
  return r.exit_code();
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

std::optional<OutputFormat> output_format_from_string(const std::string& s) {
  if (s == "text") return OutputFormat::text;
  if (s == "json") return OutputFormat::json;
  if (s == "prometheus") return OutputFormat::prometheus;
  return std::nullopt;
}

int print_unknown_report(const std::string& error, OutputFormat format,
                         const std::optional<std::string>& output) {
  print_report(report::unknown_report(error, std::chrono::system_clock::now()), format, output);
  return kReportUnknown;
}

namespace {

// What a report command produces from a loaded config, a PVE client and the run's clock.
using MakeReport = std::function<report::Report(const config::Config&, pve::Client&, Clock&,
                                                const check::CollectOptions&)>;

// The part every report command shares: config for `command` (bad config: UNKNOWN, exit 3),
// --guest, one PVE client with one deadline for the whole run, then print and exit with the
// report's code.
int run_report_command(const CheckArgs& args, config::Command command, const char* what,
                       const MakeReport& make) {
  SystemClock clock;
  auto loaded = config::load(args.config_path, command);
  if (!loaded) {
    // Once, in the report: monitoring reads the first line, a person the lines below it.
    report::Report r = report::unknown_report("", clock.now());
    std::string joined;
    for (const auto& p : loaded.error()) {
      if (!joined.empty()) joined += "; ";
      joined += p.format();
      r.error_details.push_back(p.format());
    }
    r.error = "invalid config: " + joined;
    print_report(r, args.format, args.output);
    return kReportUnknown;
  }
  config::Config cfg = std::move(*loaded);
  if (args.guest) {
    auto restricted = restrict_to_guest(std::move(cfg), *args.guest);
    if (!restricted)
      return print_unknown_report(restricted.error().message, args.format, args.output);
    cfg = std::move(*restricted);
  }

  pve::CurlTransport transport(pve::options_from_config(*cfg.pve));
  pve::Client client(transport, clock);
  // One deadline for the whole run: what is not checked by then is reported UNKNOWN.
  auto deadline = clock.steady_now() + std::chrono::seconds(args.timeout_s);
  client.set_deadline(deadline);

  check::CollectOptions options;
  options.deadline = deadline;
  report::Report r = make(cfg, client, clock, options);
  spdlog::info("{} made {} API requests", what, client.requests_made());
  // The restore test lifts the limit for its restores (their clean-up must finish).
  if (client.cut_by_deadline() || (!args.restore_test && clock.steady_now() >= deadline)) {
    // What the limit left unchecked is UNKNOWN already; the first line says why.
    if (r.error) r.error_details.insert(r.error_details.begin(), *r.error);
    r.error = fmt::format("timed out after {} s ({})", args.timeout_s,
                          client.cut_by_deadline().value_or("the run's time limit was reached"));
  }
  return print_report(r, args.format, args.output);
}

}  // namespace

int run_check(const CheckArgs& args) {
  return run_report_command(args, config::Command::check, "check",
                            [](const config::Config& cfg, pve::Client& client, Clock& clock,
                               const check::CollectOptions& options) {
                              return check::evaluate(cfg,
                                                     check::collect(cfg, client, clock, options));
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
    return run_report_command(args, config::Command::backup, "backup verify",
                              [](const config::Config& cfg, pve::Client& client, Clock& clock,
                                 const check::CollectOptions& options) {
                                return backup::verify(cfg, client, clock, options);
                              });
  }
  return run_report_command(
      args, config::Command::backup, "backup verify --restore-test",
      [](const config::Config& cfg, pve::Client& client, Clock& clock,
         const check::CollectOptions& options) {
        if (!cfg.backup.restore_test_vmid || !cfg.backup.restore_test_storage) {
          return report::unknown_report(
              fmt::format("--restore-test needs restore_test_vmid and restore_test_storage in "
                          "[backup] of {}",
                          cfg.path),
              clock.now());
        }
        catch_interrupts();
        backup::RestoreTestOptions restore;
        // Progress on stderr: stdout is the report, whose first line monitoring reads.
        restore.on_log = [](const std::string& guest, const std::string& line) {
          fmt::print(stderr, "{} | {}\n", guest, text::sanitize(line));
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
  // Task log lines come from the cluster: no escape sequences or invalid UTF-8 on the terminal.
  options.on_log = [progress](const std::string& guest, const std::string& line) {
    fmt::print(progress, "{} | {}\n", guest, text::sanitize(line));
    std::fflush(progress);
  };
  auto runs = backup::run_backups(cfg, client, clock, options);
  if (!runs) {
    fmt::print(stderr, "pvectl-tunnel: backup run: {}\n", text::sanitize(runs.error().message));
    return kRuntimeFailure;
  }
  bool all_ok = true;
  nlohmann::json results = nlohmann::json::array();
  for (const auto& r : *runs) {
    all_ok = all_ok && r.ok;
    nlohmann::json errors = nlohmann::json::array();
    for (const auto& e : r.errors) errors.push_back(text::valid_utf8(e));
    results.push_back({{"guest", r.guest},
                       {"node", r.node},
                       {"storage", r.storage},
                       {"upid", text::valid_utf8(r.upid)},
                       {"ok", r.ok},
                       {"outcome", text::valid_utf8(r.outcome)},
                       {"errors", std::move(errors)}});
    if (args.format == OutputFormat::text) {
      fmt::print("{}: {} - {}\n", r.guest, r.ok ? "OK" : "FAILED", text::sanitize(r.outcome));
      for (const auto& e : r.errors) fmt::print("  {}\n", text::sanitize(e));
    }
  }
  if (args.format == OutputFormat::json) {
    fmt::print("{}\n", nlohmann::json{{"ok", all_ok}, {"results", results}}.dump(2));
  }
  return all_ok ? kSuccess : kRuntimeFailure;
}

}  // namespace pvt::cli
