// Exit codes (README.md, "Exit codes and output"), shared by every subcommand.
#pragma once

namespace pvt::cli {

// Report commands (check, backup verify, vps status): the report's status, and UNKNOWN for
// anything that prevents a report.
inline constexpr int kReportOk = 0;
inline constexpr int kReportWarning = 1;
inline constexpr int kReportCritical = 2;
inline constexpr int kReportUnknown = 3;

// Every other command.
inline constexpr int kSuccess = 0;
inline constexpr int kRuntimeFailure = 1;
inline constexpr int kBadUsage = 2;

}  // namespace pvt::cli
