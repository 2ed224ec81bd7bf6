#include "cli/app.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "cli/check_command.h"
#include "cli/config_command.h"
#include "cli/controller_command.h"
#include "cli/exit_codes.h"
#include "cli/terminal.h"
#include "common/config.h"
#include "common/log.h"
#include "common/text.h"
#include "tunnel_cli/tunnel_cli.h"

namespace pvt::cli {
namespace {

constexpr const char* kVersionText = "pvectl-tunnel " PVT_VERSION;

// Report commands answer bad arguments with exit 3 (and an UNKNOWN JSON report when JSON was
// asked), the others with 2: decide from the first word that is a report subcommand.
bool is_report_command(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "check") return true;
    if (a == "backup") {
      // `backup verify` reports; `backup run` is an ordinary command (exit 2 for bad usage).
      for (int j = i + 1; j < argc; ++j) {
        if (std::string_view(argv[j]) == "run") return false;
        if (std::string_view(argv[j]) == "verify") return true;
      }
      return true;
    }
    if (a == "vps") return true;
    if (a == "config" || a == "version" || a == "tunnel" || a == "controller" || a == "maintenance")
      return false;
  }
  return false;
}

// The --format and --output a report command was given, so that even a report about bad
// arguments reaches the form and the place the caller reads.
OutputFormat requested_format(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    std::string value;
    if (a.rfind("--format=", 0) == 0) value = a.substr(9);
    if (a == "--format" && i + 1 < argc) value = argv[i + 1];
    if (auto f = output_format_from_string(value)) return *f;
  }
  return OutputFormat::text;
}

std::optional<std::string> requested_output(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.rfind("--output=", 0) == 0) return std::string(a.substr(9));
    if (a == "--output" && i + 1 < argc) return std::string(argv[i + 1]);
  }
  return std::nullopt;
}

// The first word that is not an option: the command the user meant, if it is not one of ours.
std::optional<std::string> unknown_command(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.empty() || a[0] == '-') continue;
    const auto matching =
        app.get_subcommands([&](const CLI::App* sub) { return sub->check_name(std::string(a)); });
    if (!matching.empty()) return std::nullopt;
    return std::string(a);
  }
  return std::nullopt;
}

// -t/--timeout: a whole number of seconds. Checked here rather than with CLI::Range, which runs
// on the text before it is converted and so calls "abc" out of range instead of not a number.
CLI::Validator seconds_between(int min, int max) {
  return CLI::Validator(
      [min, max](std::string& value) -> std::string {
        int n = 0;
        const char* end = value.data() + value.size();
        auto [ptr, ec] = std::from_chars(value.data(), end, n);
        if (value.empty() || ec == std::errc::invalid_argument || ptr != end) {
          return fmt::format("\"{}\" is not a number of seconds", value);
        }
        if (ec == std::errc::result_out_of_range || n < min || n > max) {
          return fmt::format("{} is not between {} and {} seconds", value, min, max);
        }
        return "";
      },
      fmt::format("SECONDS in {}..{}", min, max));
}

// CLI11 2.1 does not wrap long descriptions: wrap each overlong line of its help at the
// terminal's width, continuing under the description column.
std::string wrap_help(const std::string& help, size_t width) {
  std::string out;
  size_t start = 0;
  while (start < help.size()) {
    size_t end = help.find('\n', start);
    if (end == std::string::npos) end = help.size();
    const std::string line = help.substr(start, end - start);
    start = end + 1;
    if (text::display_width(line) <= width) {
      out += line + "\n";
      continue;
    }
    // The description starts after the last gap of two or more spaces within the name column,
    // or after the leading spaces.
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) indent = 0;
    if (auto gap = line.find("  ", indent); gap != std::string::npos && gap < width / 2) {
      auto desc = line.find_first_not_of(' ', gap);
      if (desc != std::string::npos) indent = desc;
    }
    if (indent + 20 > width) indent = 2;
    const std::string head = line.substr(0, indent);
    const auto wrapped = text::wrap(line.substr(indent), width - indent);
    for (size_t k = 0; k < wrapped.size(); ++k) {
      out += (k == 0 ? head : std::string(indent, ' ')) + wrapped[k] + "\n";
    }
  }
  return out;
}

int parse_failure(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (dynamic_cast<const CLI::CallForHelp*>(&e) != nullptr ||
      dynamic_cast<const CLI::CallForAllHelp*>(&e) != nullptr) {
    fmt::print("{}", wrap_help(app.help(), terminal_width(STDOUT_FILENO)));
    return kSuccess;
  }
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    return app.exit(e);  // --version
  }
  if (auto command = unknown_command(app, argc, argv)) {
    std::string known;
    for (const auto* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    fmt::print(stderr, "pvectl-tunnel: unknown command '{}' (commands: {})\n", *command, known);
    return kBadUsage;
  }
  if (!is_report_command(argc, argv)) {
    fmt::print(stderr, "pvectl-tunnel: {}\nRun with --help for usage.\n", e.what());
    return kBadUsage;
  }
  return print_unknown_report(fmt::format("bad arguments: {}", e.what()),
                              requested_format(argc, argv), requested_output(argc, argv));
}

// Report commands run from monitoring agents that read stdout and stderr as one stream: a log
// line printed first would become the status line. They log only on a terminal or with -v.
bool quiet_logs(bool report_command, int verbosity) {
  return report_command && verbosity <= 0 && isatty(STDERR_FILENO) != 1;
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "pvectl-tunnel: keeps reverse SSH tunnel guests on Proxmox VE started at boot, in order, "
      "running and backed up, and reports their compliance.",
      "pvectl-tunnel"};
  app.set_version_flag("-V,--version", kVersionText);
  app.require_subcommand(1);
  app.fallthrough();  // -v/-q are accepted anywhere on the line

  int verbose = 0;
  int quiet = 0;
  app.add_flag("-v,--verbose", verbose, "More log detail on stderr (repeatable)");
  app.add_flag("-q,--quiet", quiet, "Less log output (repeatable)");

  // check
  CheckArgs check_args;
  std::string check_format = "text";
  auto* check = app.add_subcommand(
      "check",
      "Compliance report of the tunnel guests and tunnels: boot flags, startup order, running "
      "state, quorum, backup coverage, age and outcome, token privileges, tunnel health. Only "
      "reads. Exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (monitoring-plugins convention).");
  check->add_option("--config", check_args.config_path, "Config file")->capture_default_str();
  check
      ->add_option("--format", check_format,
                   "Output format: text (first line for Nagios/Icinga, then a table), json, or "
                   "prometheus (for the node_exporter textfile collector)")
      ->check(CLI::IsMember({"text", "json", "prometheus"}))
      ->capture_default_str();
  check->add_option("--output", check_args.output,
                    "Write the report to FILE (a temporary file renamed over it) instead of "
                    "stdout");
  check->add_option("--guest", check_args.guest, "Only check this [[guest]] (by name)");
  check
      ->add_option("-t,--timeout", check_args.timeout_s,
                   "Give up after S seconds for the whole run; what was not checked by then is "
                   "UNKNOWN")
      ->check(seconds_between(1, 3600))
      ->capture_default_str();

  // config validate
  auto* config_cmd = app.add_subcommand("config", "Work with the config file");
  config_cmd->require_subcommand(1);
  ConfigValidateArgs validate_args;
  auto* validate = config_cmd->add_subcommand(
      "validate",
      "Validate the config file: every problem at once as FILE:LINE:COLUMN: KEY: message. "
      "Checks what COMMAND would read (sections, referenced files, secret permissions); without "
      "--for, the commands are inferred from the sections present. Exit 0 valid, 2 invalid.");
  validate->add_option("--config", validate_args.config_path, "Config file")->capture_default_str();
  validate->add_option("--for", validate_args.for_command, "Validate for this command's needs")
      ->check(CLI::IsMember({"check", "controller", "tunnel", "backup", "vps"}));

  // backup verify
  auto* backup = app.add_subcommand("backup", "Verify the tunnel guests' backups");
  backup->require_subcommand(1);
  CheckArgs verify_args;
  verify_args.timeout_s = 60;  // reading archives takes longer than a check
  std::string verify_format = "text";
  auto* verify = backup->add_subcommand(
      "verify",
      "For each tunnel guest: the covering backup job and the allowed age from its schedule, the "
      "newest backup and its age, the last vzdump task's outcome for the guest, PBS verification, "
      "the size against the backup before, and whether the archive holds this guest's config. "
      "Only reads. Exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.");
  verify->add_option("--config", verify_args.config_path, "Config file")->capture_default_str();
  verify->add_option("--format", verify_format, "Output format: text, json or prometheus")
      ->check(CLI::IsMember({"text", "json", "prometheus"}))
      ->capture_default_str();
  verify->add_option("--output", verify_args.output,
                     "Write the report to FILE (a temporary file renamed over it) instead of "
                     "stdout");
  verify->add_option("--guest", verify_args.guest, "Only verify this [[guest]] (by name)");
  verify->add_flag(
      "--restore-test", verify_args.restore_test,
      "Also restore each guest's newest backup into [backup] restore_test_vmid on "
      "restore_test_storage without starting it, check the restored config, and destroy the "
      "scratch guest again (also on failure or SIGINT/SIGTERM). Refused when that VMID is in use. "
      "The time limit (-t) does not apply to the restores.");
  verify
      ->add_option("-t,--timeout", verify_args.timeout_s,
                   "Give up after S seconds for the whole run; what was not verified by then is "
                   "UNKNOWN")
      ->check(seconds_between(1, 3600))
      ->capture_default_str();

  CheckArgs run_args;
  std::string run_format = "text";
  auto* run = backup->add_subcommand(
      "run",
      "Back up each tunnel guest now: vzdump with the storage and mode of its backup job (or "
      "[backup] storage), following each task to its end with the task log as progress. Exit 0 "
      "when every backup succeeded, 1 when one failed, 2 on bad arguments or config.");
  run->add_option("--config", run_args.config_path, "Config file")->capture_default_str();
  run->add_option("--format", run_format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  run->add_option("--guest", run_args.guest, "Only back up this [[guest]] (by name)");

  // controller
  ControllerArgs controller_args;
  auto* controller = app.add_subcommand(
      "controller",
      "Run the controller: every [controller] interval_s observe the cluster and the workers, "
      "plan, and carry out the actions enabled by [controller] enforce (none by default: it "
      "only logs and reports what it would do). One controller in the cluster acts (the leader "
      "lock); the others observe and serve status. Serves /healthz, /v1/status, /metrics and "
      "a status page on [controller] listen.");
  controller->add_option("--config", controller_args.config_path, "Config file")
      ->capture_default_str();
  controller->add_flag("--dry-run", controller_args.dry_run,
                       "Plan and log, never act, never take the leader lock");
  controller->add_flag("--once", controller_args.once,
                       "Run one cycle, print what happened, and exit");

  // maintenance start|stop TUNNEL
  MaintenanceArgs maintenance_args;
  auto* maintenance = app.add_subcommand(
      "maintenance",
      "Planned maintenance of a tunnel, through the local controller's API ([controller] "
      "listen, bearer token of [controller] token_file): `start` drains the tunnel's worker so "
      "that the VPS moves traffic to the other tunnel, and the controller leaves it drained "
      "until `stop`.");
  maintenance->require_subcommand(1);
  auto* maintenance_start = maintenance->add_subcommand("start", "Start planned maintenance");
  auto* maintenance_stop = maintenance->add_subcommand("stop", "Stop planned maintenance");
  for (auto* sub : {maintenance_start, maintenance_stop}) {
    sub->add_option("tunnel", maintenance_args.tunnel, "The [[tunnel]] name")->required();
    sub->add_option("--config", maintenance_args.config_path, "Config file")->capture_default_str();
  }
  maintenance_start
      ->add_option("--wait", maintenance_args.wait_s,
                   "Wait up to S seconds until the worker is drained (0: do not wait)")
      ->check(seconds_between(0, 3600))
      ->capture_default_str();

  // tunnel, tunnel status
  TunnelCli tunnel(app);

  // version
  auto* version = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return parse_failure(app, e, argc, argv);
  }

  // The worker is a daemon: its state changes are the log (info); commands that print a
  // result only warn.
  if (tunnel.runs_worker()) exec_worker_if_installed(argc, argv);
  const bool report_command = check->parsed() || verify->parsed();
  const bool daemon = tunnel.runs_worker() || (controller->parsed() && !controller_args.once);
  log::setup(log::Options{verbose - quiet, daemon ? spdlog::level::info
                                           : quiet_logs(report_command, verbose - quiet)
                                               ? spdlog::level::off
                                               : spdlog::level::warn});

  if (version->parsed()) {
    fmt::print("{}\n", kVersionText);
    return kSuccess;
  }
  if (check->parsed()) {
    check_args.format = output_format_from_string(check_format).value_or(OutputFormat::text);
    return run_check(check_args);
  }
  if (validate->parsed()) return run_config_validate(validate_args);
  if (verify->parsed()) {
    verify_args.format = output_format_from_string(verify_format).value_or(OutputFormat::text);
    return run_backup_verify(verify_args);
  }
  if (run->parsed()) {
    run_args.format = run_format == "json" ? OutputFormat::json : OutputFormat::text;
    return run_backup_run(run_args);
  }
  if (controller->parsed()) return run_controller(controller_args);
  if (maintenance->parsed()) {
    maintenance_args.start = maintenance_start->parsed();
    return run_maintenance(maintenance_args);
  }
  if (tunnel.parsed()) return tunnel.run();
  return kBadUsage;
}

}  // namespace pvt::cli
