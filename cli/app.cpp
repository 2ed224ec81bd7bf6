#include "cli/app.h"

#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "cli/check_command.h"
#include "cli/config_command.h"
#include "cli/exit_codes.h"
#include "common/config.h"
#include "common/log.h"
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

bool json_requested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--format=json") return true;
    if (a == "--format" && i + 1 < argc && std::string_view(argv[i + 1]) == "json") return true;
  }
  return false;
}

int parse_failure(const CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
    // --help and --version print and succeed.
    return app.exit(e);
  }
  if (!is_report_command(argc, argv)) {
    fmt::print(stderr, "pvectl-tunnel: {}\nRun with --help for usage.\n", e.what());
    return kBadUsage;
  }
  return print_unknown_report(fmt::format("bad arguments: {}", e.what()),
                              json_requested(argc, argv) ? OutputFormat::json : OutputFormat::text);
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{
      "pvectl-tunnel: keeps reverse SSH tunnel guests on Proxmox VE started at boot, in order, "
      "running and backed up, and reports their compliance.",
      "pvectl-tunnel"};
  app.set_version_flag("--version", kVersionText);
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
  check->add_option("--format", check_format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  check->add_option("--guest", check_args.guest, "Only check this [[guest]] (by name)");
  check
      ->add_option("-t,--timeout", check_args.timeout_s,
                   "Give up after S seconds for the whole run; what was not checked by then is "
                   "UNKNOWN")
      ->check(CLI::Range(1, 3600))
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
  verify->add_option("--format", verify_format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
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
      ->check(CLI::Range(1, 3600))
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
  log::setup(log::Options{verbose - quiet,
                          tunnel.runs_worker() ? spdlog::level::info : spdlog::level::warn});

  if (version->parsed()) {
    fmt::print("{}\n", kVersionText);
    return kSuccess;
  }
  if (check->parsed()) {
    check_args.format = check_format == "json" ? OutputFormat::json : OutputFormat::text;
    return run_check(check_args);
  }
  if (validate->parsed()) return run_config_validate(validate_args);
  if (verify->parsed()) {
    verify_args.format = verify_format == "json" ? OutputFormat::json : OutputFormat::text;
    return run_backup_verify(verify_args);
  }
  if (run->parsed()) {
    run_args.format = run_format == "json" ? OutputFormat::json : OutputFormat::text;
    return run_backup_run(run_args);
  }
  if (tunnel.parsed()) return tunnel.run();
  return kBadUsage;
}

}  // namespace pvt::cli
