// pvesim --topology FILE --listen 127.0.0.1:PORT [--http] [-v]  (or --help, --version)
// Prints "listening: https://127.0.0.1:PORT" and "fingerprint: AA:BB:..." then serves until
// SIGTERM or SIGINT (docs/pvesim.md).
#include <fmt/format.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "tools/pvesim/server.h"
#include "tools/pvesim/topology.h"

int main(int argc, char** argv) {
  CLI::App app{"pvesim: a stateful Proxmox VE API simulator for demos and tests", "pvesim"};
  app.set_version_flag("--version", "pvesim " PVT_VERSION);
  std::string topology_path;
  std::string listen = "127.0.0.1:8006";
  bool http = false;
  app.add_option("--topology", topology_path, "Topology file (docs/pvesim.md)")->required();
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_flag("--http", http, "Serve plain HTTP instead of HTTPS");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  const auto colon = listen.rfind(':');
  if (colon == std::string::npos) {
    fmt::print(stderr, "pvesim: --listen must be HOST:PORT, got \"{}\"\n", listen);
    return 2;
  }
  const std::string host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (const std::exception&) {
    fmt::print(stderr, "pvesim: --listen: bad port in \"{}\"\n", listen);
    return 2;
  }
  // The server runs on real time: the simulator reads this clock at every request.
  pvt::SystemClock clock;
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(clock.now().time_since_epoch()).count();
  auto topology = pvt::sim::load_topology(topology_path, now);
  if (!topology) {
    fmt::print(stderr, "pvesim: {}\n", topology.error().message);
    return 2;
  }
  // Block the stop signals before threads start, then wait for one on the main thread.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  pvt::sim::Simulator sim(std::move(*topology), clock);
  pvt::sim::Server server(sim, !http);
  auto bound = server.bind(host, port);
  if (!bound) {
    fmt::print(stderr, "pvesim: {}\n", bound.error().message);
    return 1;
  }
  server.start();
  fmt::print("listening: {}://{}:{}\n", http ? "http" : "https", host, *bound);
  if (!http) fmt::print("fingerprint: {}\n", server.fingerprint());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server.stop();
  return 0;
}
