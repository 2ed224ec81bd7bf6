// The rules about each tunnel's worker, read through its control API.
#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <ctime>

#include "common/unit_names.h"
#include "controller/check/rules_internal.h"

namespace pvt::check::detail {

using report::Status;

namespace {

// "2026-11-24T19:00:05Z" (fractions and offsets tolerated) -> epoch seconds.
std::optional<int64_t> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = timegm(&tm);
  std::string rest = s.substr(static_cast<size_t>(consumed));
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    rest = rest.substr(i);
  }
  int oh = 0, om = 0;
  if (rest == "Z" || rest.empty()) return t;
  if ((rest[0] == '+' || rest[0] == '-') &&
      std::sscanf(rest.c_str() + 1, "%2d:%2d", &oh, &om) == 2) {
    int64_t off = (oh * 60 + om) * 60;
    return rest[0] == '+' ? t - off : t + off;
  }
  return std::nullopt;
}

// The worker's status, or nullptr when it could not be read.
const tunnel::WorkerStatus* worker_status(const config::Tunnel& t, const Observation& o) {
  auto w = o.workers.find(t.name);
  return w == o.workers.end() || !w->second ? nullptr : &*w->second;
}

}  // namespace

void rule_tunnel_worker(const config::Tunnel& t, const Observation& o, Builder& b) {
  const tunnel::WorkerStatus* status = worker_status(t, o);
  if (status == nullptr) {
    auto w = o.workers.find(t.name);
    std::string why = w == o.workers.end() ? "not read" : w->second.error().message;
    b.add("tunnel.worker", t.name, Status::critical, opt("unreachable"), opt("serving"),
          "the worker's control API cannot be reached: " + why,
          fmt::format("on the guest: `systemctl status {}` and `pvectl-tunnel tunnel status "
                      "--name {}`",
                      worker_unit(t.name), t.name));
    return;
  }
  const auto& s = *status;
  if (tunnel::drained_or_draining(s)) {
    b.add("tunnel.worker", t.name, Status::warning, opt(s.state), opt("serving"),
          "drained for maintenance: traffic goes to the other tunnel",
          fmt::format("when the maintenance is done: `pvectl-tunnel maintenance stop {}` on a "
                      "Proxmox host; without a controller, resume the worker itself: `curl -H "
                      "\"Authorization: Bearer $(cat {})\" -d '' {}/v1/resume`",
                      t.name, t.control_token_file.value_or("CONTROL_TOKEN_FILE"),
                      t.control_url.value_or("CONTROL_URL")));
  } else if (tunnel::carries_traffic(s)) {
    b.add("tunnel.worker", t.name, Status::ok, opt(fmt::format("serving {}", *s.forward)),
          opt("serving"), fmt::format("forward {} bound on {}", *s.forward, s.vps));
  } else {
    b.add("tunnel.worker", t.name, Status::critical, opt(s.state), opt("serving"),
          fmt::format("no bound forward (state {}{})", s.state,
                      s.last_error ? ", last error: " + *s.last_error : ""),
          fmt::format("see the worker's log: `journalctl -u {}`", worker_unit(t.name)));
  }
}

void rule_tunnel_probe(const config::Tunnel& t, const Observation& o, Builder& b) {
  const tunnel::WorkerStatus* status = worker_status(t, o);
  if (status == nullptr) {
    b.add("tunnel.probe", t.name, Status::unknown, std::nullopt, opt("ok"), "worker unreachable");
    return;
  }
  const auto& s = *status;
  if (!t.probe) {
    b.add("tunnel.probe", t.name, Status::ok, opt("disabled"), opt("disabled"),
          "probe disabled in the config");
    return;
  }
  if (tunnel::drained_or_draining(s)) {
    b.add("tunnel.probe", t.name, Status::warning, opt("paused"), opt("ok"),
          "probe paused while drained");
    return;
  }
  if (!s.probe.ok) {
    b.add("tunnel.probe", t.name, Status::warning, opt("none yet"), opt("ok"),
          "no probe result yet");
    return;
  }
  auto at = s.probe.at ? parse_rfc3339(*s.probe.at) : std::nullopt;
  const int64_t stale_after = 3LL * t.probe_interval_s;
  if (!*s.probe.ok) {
    b.add("tunnel.probe", t.name, Status::critical, opt("failed"), opt("ok"),
          "the end-to-end probe through the VPS failed",
          "check the internal nginx on " + t.local.str() + " and the VPS forward");
  } else if (!at || epoch_seconds(o.now) - *at > stale_after) {
    b.add("tunnel.probe", t.name, Status::critical, opt(s.probe.at.value_or("never")), opt("ok"),
          fmt::format("the last successful probe is older than {} s", stale_after),
          "the worker's event loop may be stuck: restart it");
  } else {
    b.add("tunnel.probe", t.name, Status::ok,
          opt(fmt::format("ok ({} ms)", s.probe.latency_ms.value_or(0))), opt("ok"),
          "end-to-end probe through the VPS succeeded");
  }
  if (s.probe.latency_ms) {
    b.measure(t.name, "probe_latency", static_cast<double>(*s.probe.latency_ms) / 1000.0,
              report::Unit::seconds);
  }
}

}  // namespace pvt::check::detail
