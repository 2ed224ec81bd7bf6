// A Transport that hands requests straight to an in-process pvesim Simulator: the PVE client and
// what builds on it run against the simulated cluster without sockets or threads.
// Give the Simulator the client's clock: with a FakeClock (fake_clock.h) the client's sleeps move
// the simulated cluster's time, and a task of an hour ends after an hour of virtual waiting.
#pragma once

#include <functional>

#include "pve/transport.h"
#include "tools/pvesim/simulator.h"

namespace pvt::testing {

class SimTransport : public pve::Transport {
 public:
  SimTransport(sim::Simulator& sim, std::string authorization)
      : sim_(sim), authorization_(std::move(authorization)) {}

  // What happens to a request whose answer a test wants lost (a timeout after sending).
  enum class Loss { none, answer, request };

  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    sim::SimRequest req{r.method, decode(r.path), {}, authorization_};
    for (const auto& [k, v] : r.params) req.params[k] = v;
    log_.push_back(r.method + " " + req.path);
    const Loss loss = lose ? lose(r.method + " " + req.path) : Loss::none;
    if (loss == Loss::request) return timed_out(r);
    const sim::SimResponse res = sim_.handle(req);
    if (loss == Loss::answer) return timed_out(r);
    return pve::Response{res.status, res.reason, res.body, "sim"};
  }

  // Given "POST /nodes/pve1/qemu": whether the simulator sees it, and whether its answer comes
  // back. Unset: every request is carried out and answered.
  std::function<Loss(const std::string&)> lose;

  // "POST /nodes/pve1/qemu", in order.
  const std::vector<std::string>& log() const { return log_; }

 private:
  // The client percent-encodes path segments; the HTTP server would decode them.
  static std::string decode(const std::string& path) {
    std::string out;
    for (size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '%' && i + 2 < path.size()) {
        out += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
        i += 2;
      } else {
        out += path[i];
      }
    }
    return out;
  }

  static tl::unexpected<pve::ApiError> timed_out(const pve::Request& r) {
    pve::ApiError e;
    e.kind = pve::ErrorKind::timeout;
    e.method = r.method;
    e.path = r.path;
    e.endpoint = "sim";
    e.message = "Operation timed out after 30000 milliseconds with 0 bytes received";
    return tl::unexpected(e);
  }

  sim::Simulator& sim_;
  std::string authorization_;
  std::vector<std::string> log_;
};

}  // namespace pvt::testing
