// pvectl-tunnel-worker: `pvectl-tunnel tunnel` in a binary of its own (see tunnel_cli.h).
#include <fmt/format.h>

#include <CLI/CLI.hpp>

#include "common/log.h"
#include "tunnel_cli/tunnel_cli.h"

int main(int argc, char** argv) {
  CLI::App app{
      "pvectl-tunnel-worker: the tunnel worker of pvectl-tunnel. Same command line as "
      "`pvectl-tunnel tunnel ...`, which starts this binary when it is installed beside it.",
      "pvectl-tunnel-worker"};
  app.set_version_flag("--version", "pvectl-tunnel-worker " PVT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  int verbose = 0;
  int quiet = 0;
  app.add_flag("-v,--verbose", verbose, "More log detail on stderr (repeatable)");
  app.add_flag("-q,--quiet", quiet, "Less log output (repeatable)");
  pvt::cli::TunnelCli tunnel(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
    fmt::print(stderr, "pvectl-tunnel: {}\nRun with --help for usage.\n", e.what());
    return 2;
  }
  pvt::log::setup(pvt::log::Options{
      verbose - quiet, tunnel.runs_worker() ? spdlog::level::info : spdlog::level::warn});
  return tunnel.run();
}
