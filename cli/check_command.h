// `pvectl-tunnel check`: load config, collect observations through the PVE API and the workers,
// evaluate the rules, print the report.
#pragma once

#include <optional>
#include <string>

#include "common/config.h"

namespace pvt::cli {

enum class OutputFormat { text, json, prometheus };

// "text", "json", "prometheus"
std::optional<OutputFormat> output_format_from_string(const std::string& s);

struct CheckArgs {
  std::string config_path = config::kDefaultPath;
  OutputFormat format = OutputFormat::text;
  // --output: the report goes to this file (written whole, then renamed over it), not stdout.
  std::optional<std::string> output;
  std::optional<std::string> guest;
  int timeout_s = 10;         // monitoring agents give up after ~10 s
  bool restore_test = false;  // backup verify --restore-test
};

int run_check(const CheckArgs& args);

// `pvectl-tunnel backup verify`: the backup rules of check plus backup.size and backup.archive
// (controller/backup/verify.h); same arguments, output and exit codes as check. With
// --restore-test also backup.restore; SIGINT/SIGTERM then stop the restore and remove the scratch
// guest before the report is printed.
int run_backup_verify(const CheckArgs& args);

// `pvectl-tunnel backup run`: a vzdump of each guest with its job's settings, followed to the end
// (progress from the task log). Exit 0 all succeeded, 1 one failed, 2 bad arguments or config.
int run_backup_run(const CheckArgs& args);

// Prints a report that is only an UNKNOWN error (bad arguments, bad config) and returns 3.
int print_unknown_report(const std::string& error, OutputFormat format,
                         const std::optional<std::string>& output = std::nullopt);

}  // namespace pvt::cli
