// The `pvectl-tunnel` command line (DESIGN.md §8): parses arguments with CLI11, maps parse
// errors to the exit codes of §8, and dispatches to the subcommands.
#pragma once

namespace pvt::cli {

int run(int argc, char** argv);

}  // namespace pvt::cli
