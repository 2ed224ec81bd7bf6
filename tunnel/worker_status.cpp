#include "tunnel/worker_status.h"

#include <fmt/format.h>
#include <httplib.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/text.h"

namespace pvt::tunnel {
namespace {

using Json = nlohmann::json;

// Reads an optional field of the given JSON kind; a present field of another kind is an error.
template <class T>
Result<std::optional<T>> optional_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<T>{};
  try {
    return std::optional<T>{it->get<T>()};
  } catch (const Json::exception&) {
    return fail(fmt::format("field \"{}\" has the wrong type ({})", key, it->type_name()));
  }
}

template <class T>
Result<T> required_field(const Json& j, const char* key) {
  auto v = optional_field<T>(j, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return fail(fmt::format("field \"{}\" is missing", key));
  return **v;
}

}  // namespace

Result<WorkerStatus> parse_worker_status(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("worker status is not a JSON object");
  WorkerStatus s;
  auto name = required_field<std::string>(j, "name");
  auto state = required_field<std::string>(j, "state");
  if (!name) return tl::unexpected(name.error());
  if (!state) return tl::unexpected(state.error());
  s.name = *name;
  s.state = *state;
  auto since = optional_field<std::string>(j, "since");
  auto vps = optional_field<std::string>(j, "vps");
  auto forward = optional_field<std::string>(j, "forward");
  auto reconnects = optional_field<int64_t>(j, "reconnects");
  auto last_error = optional_field<std::string>(j, "last_error");
  auto channels = optional_field<int64_t>(j, "channels_open");
  auto bytes_in = optional_field<int64_t>(j, "bytes_in");
  auto bytes_out = optional_field<int64_t>(j, "bytes_out");
  for (const auto* r : {&since, &vps, &forward, &last_error}) {
    if (!*r) return tl::unexpected(r->error());
  }
  for (const auto* r : {&reconnects, &channels, &bytes_in, &bytes_out}) {
    if (!*r) return tl::unexpected(r->error());
  }
  s.since = since->value_or("");
  s.vps = vps->value_or("");
  s.forward = *forward;
  s.reconnects = reconnects->value_or(0);
  s.last_error = *last_error;
  s.channels_open = channels->value_or(0);
  s.bytes_in = bytes_in->value_or(0);
  s.bytes_out = bytes_out->value_or(0);
  s.role = j.value("role", "");
  s.local = j.value("local", "");
  s.drain_requested = j.value("drain_requested", false);
  s.forward_refusals = j.value("forward_refusals", int64_t{0});
  s.ssh_heap_bytes = j.value("ssh_heap_bytes", int64_t{0});
  if (auto p = j.find("probe"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return fail("field \"probe\" is not an object");
    auto ok = optional_field<bool>(*p, "ok");
    auto latency = optional_field<int64_t>(*p, "latency_ms");
    auto at = optional_field<std::string>(*p, "at");
    if (!ok) return tl::unexpected(ok.error());
    if (!latency) return tl::unexpected(latency.error());
    if (!at) return tl::unexpected(at.error());
    s.probe = ProbeResult{*ok, *latency, *at};
  }
  return s;
}

namespace {

Json optional_json(const auto& v) { return v ? Json(*v) : Json(nullptr); }

// Label values escape backslash, double quote and newline (exposition format).
std::string label_value(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string worker_status_json(const WorkerStatus& s) {
  Json probe = {{"ok", optional_json(s.probe.ok)},
                {"latency_ms", optional_json(s.probe.latency_ms)},
                {"at", optional_json(s.probe.at)}};
  Json j = {{"name", s.name},
            {"state", s.state},
            {"since", s.since},
            {"vps", s.vps},
            {"forward", optional_json(s.forward)},
            {"reconnects", s.reconnects},
            // From libssh2, the VPS or the local target: never let invalid UTF-8 make dump() throw.
            {"last_error", s.last_error ? Json(text::valid_utf8(*s.last_error)) : Json(nullptr)},
            {"probe", std::move(probe)},
            {"channels_open", s.channels_open},
            {"bytes_in", s.bytes_in},
            {"bytes_out", s.bytes_out},
            {"role", s.role},
            {"local", s.local},
            {"drain_requested", s.drain_requested},
            {"forward_refusals", s.forward_refusals},
            {"ssh_heap_bytes", s.ssh_heap_bytes}};
  return j.dump();
}

std::string worker_metrics(const WorkerStatus& s) {
  static constexpr const char* kStates[] = {"resolving",       "connecting", "authenticating",
                                            "forward-pending", "serving",    "draining",
                                            "drained",         "backoff",    "stopping"};
  const std::string tunnel = fmt::format("tunnel=\"{}\"", label_value(s.name));
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

namespace {

// httplib's own names ("Connection", "Read") say too little to act on.
std::string why_unreachable(httplib::Error e, std::chrono::milliseconds timeout) {
  switch (e) {
    case httplib::Error::Connection:
      return "connection refused or the address cannot be reached (is the worker running, and "
             "does control_listen match control_url?)";
    case httplib::Error::ConnectionTimeout:
      return fmt::format(
          "connection timed out after {} ms (a firewall dropping packets, or the "
          "guest is down)",
          timeout.count());
    case httplib::Error::Read:
      return fmt::format("no answer within {} ms after connecting", timeout.count());
    case httplib::Error::Write:
      return "the connection broke while sending the request";
    case httplib::Error::SSLConnection:
    case httplib::Error::SSLLoadingCerts:
    case httplib::Error::SSLServerVerification:
      return "TLS handshake failed (" + httplib::to_string(e) + ")";
    default:
      return httplib::to_string(e);
  }
}

}  // namespace

Result<WorkerStatus> fetch_worker_status(const std::string& control_url, const std::string& token,
                                         std::chrono::milliseconds timeout) {
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + timeout;
  for (int attempt = 1;; ++attempt) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      return fail(fmt::format("{}: cannot reach the worker: no answer within {} ms", control_url,
                              timeout.count()));
    }
    httplib::Client client(control_url);
    if (!client.is_valid()) return fail(fmt::format("invalid control_url {}", control_url));
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
    auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(left - secs);
    client.set_connection_timeout(secs.count(), usecs.count());
    client.set_read_timeout(secs.count(), usecs.count());
    client.set_write_timeout(secs.count(), usecs.count());
    client.set_bearer_token_auth(token.c_str());
    // httplib's timeouts are per read: a worker (or anything at that address) that trickles its
    // answer would hold the caller past its time limit. At the deadline the request is stopped.
    std::mutex mutex;
    std::condition_variable answered;
    bool done = false;
    std::thread watchdog([&] {
      std::unique_lock lock(mutex);
      if (!answered.wait_until(lock, deadline, [&] { return done; })) client.stop();
    });
    auto res = client.Get("/v1/status");
    {
      std::lock_guard lock(mutex);
      done = true;
    }
    answered.notify_one();
    watchdog.join();
    if (!res) {
      const bool cut = steady_clock::now() >= deadline;
      // Closed before any answer (a busy control API gives way to a request that has arrived,
      // and may close one whose client was slow to send): once more, within the time left.
      const bool closed_early =
          res.error() == httplib::Error::Read || res.error() == httplib::Error::Write;
      if (attempt == 1 && closed_early && !cut) continue;
      if (cut) {
        return fail(fmt::format("{}: cannot reach the worker: no complete answer within {} ms",
                                control_url, timeout.count()));
      }
      return fail(fmt::format("{}: cannot reach the worker: {}", control_url,
                              why_unreachable(res.error(), timeout)));
    }
    if (res->status == 401) return fail(fmt::format("{}: token rejected (401)", control_url));
    if (res->status != 200) {
      return fail(fmt::format("{}/v1/status answered HTTP {}", control_url, res->status));
    }
    auto status = parse_worker_status(res->body);
    if (!status) {
      return fail(fmt::format("{}/v1/status: {}", control_url, status.error().message));
    }
    return status;
  }
}

}  // namespace pvt::tunnel
