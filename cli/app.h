// The `pvectl-tunnel` command line (README.md; `--help`): parses arguments with CLI11, maps parse
// errors to the exit codes of cli/exit_codes.h, and dispatches to the subcommands.
#pragma once

namespace pvt::cli {

int run(int argc, char** argv);

}  // namespace pvt::cli
