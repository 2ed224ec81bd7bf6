#include "tunnel_cli/tunnel_cli.h"

#include <fmt/format.h>
#include <limits.h>
#include <unistd.h>

#include <filesystem>
#include <vector>

namespace pvt::cli {

TunnelCli::TunnelCli(CLI::App& app) {
  tunnel_ = app.add_subcommand(
      "tunnel",
      "Run the tunnel worker in the foreground: one SSH session to the VPS holding the remote "
      "forward of [[tunnel]] NAME, relaying forwarded connections to its local target, with the "
      "control API on control_listen. systemd (or another supervisor) restarts it. Exit 0 "
      "after SIGTERM, 1 on a runtime failure, 2 on bad arguments or config.");
  tunnel_->add_option("--config", args_.config_path, "Config file")->capture_default_str();
  tunnel_->add_option("--name", args_.name, "The [[tunnel]] to run");
  tunnel_->add_flag("--accept-new-hostkey", args_.accept_new_hostkey,
                    "Trust the VPS host key if known_hosts has none for it yet, and add it there "
                    "(once, on first set-up); a changed key is still refused");
  tunnel_->require_subcommand(0, 1);
  status_ = tunnel_->add_subcommand(
      "status", "Show the running worker's state through its control API (GET /v1/status)");
  status_->add_option("--config", status_args_.config_path, "Config file")->capture_default_str();
  status_->add_option("--name", status_args_.name, "The [[tunnel]] to ask")->required();
  status_->add_option("--format", status_args_.format, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

int TunnelCli::run() {
  if (status_->parsed()) {
    // `tunnel --config F status --name N` means the same as `tunnel status --config F ...`.
    if (status_args_.config_path == config::kDefaultPath &&
        args_.config_path != config::kDefaultPath) {
      status_args_.config_path = args_.config_path;
    }
    return run_tunnel_status(status_args_);
  }
  if (args_.name.empty()) {
    fmt::print(stderr, "pvectl-tunnel: tunnel: --name is required\nRun with --help for usage.\n");
    return 2;
  }
  return run_tunnel(args_);
}

void exec_worker_if_installed(int argc, char** argv) {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  const std::filesystem::path worker = std::filesystem::path(self).parent_path() / kWorkerBinary;
  if (access(worker.c_str(), X_OK) != 0) return;
  std::vector<char*> args(argv, argv + argc);
  std::string path = worker.string();
  args[0] = path.data();
  args.push_back(nullptr);
  execv(path.c_str(), args.data());
  // Not startable (e.g. a broken install): run in this process instead.
}

}  // namespace pvt::cli
