// A Transport that hands requests straight to an in-process pvesim Simulator: the PVE client and
// what builds on it run against the simulated cluster without sockets or threads.
#pragma once

#include "pve/transport.h"
#include "tools/pvesim/simulator.h"

namespace pvt::testing {

class SimTransport : public pve::Transport {
 public:
  SimTransport(sim::Simulator& sim, std::string authorization)
      : sim_(sim), authorization_(std::move(authorization)) {}

  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    sim::SimRequest req{r.method, decode(r.path), {}, authorization_};
    for (const auto& [k, v] : r.params) req.params[k] = v;
    log_.push_back(r.method + " " + req.path);
    const sim::SimResponse res = sim_.handle(req);
    return pve::Response{res.status, res.reason, res.body, "sim"};
  }

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

  sim::Simulator& sim_;
  std::string authorization_;
  std::vector<std::string> log_;
};

}  // namespace pvt::testing
