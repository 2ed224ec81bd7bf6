#include "tunnel_cli/tunnel_command.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "cli/exit_codes.h"
#include "common/clock.h"
#include "tunnel/worker.h"
#include "worker_client/worker_client.h"

namespace pvt::cli {
namespace {

// Loads the config for the worker's needs and finds the named tunnel; prints problems.
const config::Tunnel* load_tunnel(const std::string& path, const std::string& name,
                                  std::optional<config::Config>& holder) {
  auto loaded = config::load(path, config::Command::tunnel);
  if (!loaded) {
    for (const auto& p : loaded.error()) fmt::print(stderr, "{}\n", p.format());
    return nullptr;
  }
  holder = std::move(*loaded);
  const config::Tunnel* t = holder->find_tunnel(name);
  if (t == nullptr) {
    std::string names;
    for (const auto& each : holder->tunnels) names += (names.empty() ? "" : ", ") + each.name;
    fmt::print(stderr, "{}: no [[tunnel]] named \"{}\" (the file has: {})\n", path, name,
               names.empty() ? "none" : names);
  }
  return t;
}

// The control API as seen from this machine: a wildcard listen address is reached on loopback.
std::string local_control_url(const config::HostPort& listen) {
  std::string host = listen.host;
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  return fmt::format("http://{}", config::HostPort{host, listen.port}.str());
}

}  // namespace

int run_tunnel(const TunnelArgs& args) {
  std::optional<config::Config> cfg;
  const config::Tunnel* t = load_tunnel(args.config_path, args.name, cfg);
  if (t == nullptr) return kBadUsage;
  SystemClock clock;
  tunnel::Worker worker(
      *t, tunnel::WorkerOptions{args.config_path, args.name, args.accept_new_hostkey}, clock);
  return worker.run();
}

int run_tunnel_status(const TunnelStatusArgs& args) {
  std::optional<config::Config> cfg;
  const config::Tunnel* t = load_tunnel(args.config_path, args.name, cfg);
  if (t == nullptr) return kBadUsage;
  const std::string url = local_control_url(t->control_listen);
  auto status = tunnel::WorkerClient(url, t->control_token, std::chrono::seconds(5)).status();
  if (!status) {
    fmt::print(stderr,
               "pvectl-tunnel: tunnel {}: {} (is `pvectl-tunnel tunnel --name {}` running?)\n",
               args.name, status.error().message, args.name);
    return kRuntimeFailure;
  }
  const tunnel::WorkerStatus& s = *status;
  if (args.format == "json") {
    fmt::print("{}\n", tunnel::worker_status_json(s));
    return kSuccess;
  }
  fmt::print("{}: {} since {}\n", s.name, s.state, s.since);
  fmt::print("  VPS:           {}\n", s.vps);
  fmt::print("  forward:       {} -> {}\n", s.forward.value_or("not bound"),
             s.local.empty() ? t->local.str() : s.local);
  if (s.probe.ok) {
    fmt::print("  probe:         {}{} at {}\n", *s.probe.ok ? "ok" : "FAILED",
               s.probe.latency_ms ? fmt::format(", {} ms", *s.probe.latency_ms) : "",
               s.probe.at.value_or("?"));
  } else {
    fmt::print("  probe:         {}\n", t->probe ? "not run yet" : "disabled");
  }
  fmt::print("  connections:   {} open\n", s.channels_open);
  fmt::print("  bytes:         {} in, {} out\n", s.bytes_in, s.bytes_out);
  fmt::print("  reconnects:    {}\n", s.reconnects);
  if (s.drain_requested) fmt::print("  drain:         requested (resume with POST /v1/resume)\n");
  if (s.last_error) fmt::print("  last error:    {}\n", *s.last_error);
  return kSuccess;
}

}  // namespace pvt::cli
