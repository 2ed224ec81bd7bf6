#include "tunnel/worker_status.h"

#include <fmt/format.h>

#include <string_view>

#include "common/text.h"

namespace pvt::tunnel {

std::string worker_metrics(const WorkerStatus& s) {
  static constexpr const char* kStates[] = {"resolving",       "connecting", "authenticating",
                                            "forward-pending", "serving",    "draining",
                                            "drained",         "backoff",    "stopping"};
  const std::string tunnel = fmt::format("tunnel=\"{}\"", text::prometheus_label(s.name));
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("pvectl_tunnel_state", "gauge", "1 for the worker's current state");
  for (const char* st : kStates) {
    out += fmt::format("pvectl_tunnel_state{{{},state=\"{}\"}} {}\n", tunnel, st,
                       s.state == st ? 1 : 0);
  }
  metric("pvectl_tunnel_forward_bound", "gauge", "1 while the remote forward is bound on the VPS");
  out += fmt::format("pvectl_tunnel_forward_bound{{{}}} {}\n", tunnel, s.forward ? 1 : 0);
  metric("pvectl_tunnel_reconnects_total", "counter", "Sessions started after the first");
  out += fmt::format("pvectl_tunnel_reconnects_total{{{}}} {}\n", tunnel, s.reconnects);
  metric("pvectl_tunnel_forward_refusals_total", "counter",
         "Remote forward requests the VPS refused in the current session");
  out += fmt::format("pvectl_tunnel_forward_refusals_total{{{}}} {}\n", tunnel, s.forward_refusals);
  metric("pvectl_tunnel_channels_open", "gauge", "Forwarded connections being relayed");
  out += fmt::format("pvectl_tunnel_channels_open{{{}}} {}\n", tunnel, s.channels_open);
  metric("pvectl_tunnel_received_bytes_total", "counter", "Bytes from the VPS to the local target");
  out += fmt::format("pvectl_tunnel_received_bytes_total{{{}}} {}\n", tunnel, s.bytes_in);
  metric("pvectl_tunnel_sent_bytes_total", "counter", "Bytes from the local target to the VPS");
  out += fmt::format("pvectl_tunnel_sent_bytes_total{{{}}} {}\n", tunnel, s.bytes_out);
  metric("pvectl_tunnel_ssh_heap_bytes", "gauge", "Memory held by the SSH library");
  out += fmt::format("pvectl_tunnel_ssh_heap_bytes{{{}}} {}\n", tunnel, s.ssh_heap_bytes);
  if (s.probe.ok) {
    metric("pvectl_tunnel_probe_ok", "gauge", "1 if the last end-to-end probe succeeded");
    out += fmt::format("pvectl_tunnel_probe_ok{{{}}} {}\n", tunnel, *s.probe.ok ? 1 : 0);
  }
  if (s.probe.latency_ms) {
    metric("pvectl_tunnel_probe_latency_seconds", "gauge", "Latency of the last successful probe");
    out += fmt::format("pvectl_tunnel_probe_latency_seconds{{{}}} {:.3f}\n", tunnel,
                       static_cast<double>(*s.probe.latency_ms) / 1000.0);
  }
  return out;
}

}  // namespace pvt::tunnel
