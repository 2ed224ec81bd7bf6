// The `tunnel` and `tunnel status` subcommands, shared by pvectl-tunnel and the slim
// pvectl-tunnel-worker binary. The worker runs for months in a small guest next to nothing else,
// so it has its own executable without the Proxmox client (libcurl and its dozen libraries);
// `pvectl-tunnel tunnel` hands over to it when it is installed next to pvectl-tunnel.
#pragma once

#include <CLI/CLI.hpp>

#include "tunnel_cli/tunnel_command.h"

namespace pvt::cli {

class TunnelCli {
 public:
  explicit TunnelCli(CLI::App& app);

  bool parsed() const { return tunnel_->parsed(); }
  // `tunnel` itself (the worker), not `tunnel status`.
  bool runs_worker() const { return tunnel_->parsed() && !status_->parsed(); }
  // After the parse: runs the parsed subcommand and returns its exit code.
  int run();

 private:
  CLI::App* tunnel_;
  CLI::App* status_;
  TunnelArgs args_;
  TunnelStatusArgs status_args_;
};

// The file name of the slim worker binary, looked for beside the running executable.
inline constexpr const char* kWorkerBinary = "pvectl-tunnel-worker";

// Replaces this process with pvectl-tunnel-worker (same arguments) when it is installed beside
// the running executable; returns only if it is not there or cannot be started.
void exec_worker_if_installed(int argc, char** argv);

}  // namespace pvt::cli
