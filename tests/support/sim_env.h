// The controller's Env on a simulated world, in the manner of pve-ha-manager's Sim environment:
// one SimWorld (virtual clock, in-process pvesim, fake workers, the lease table of the cluster
// filesystem, maintenance flags, the audit trail) shared by every controller of a scenario, and a
// SimEnv per controller. Nothing waits and nothing touches a socket or a file.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "controller/env/env.h"
#include "tests/support/fake_clock.h"
#include "tests/support/reference_guests.h"
#include "tests/support/sim_transport.h"
#include "tools/pvesim/simulator.h"

namespace pvt::testing {

// A tunnel worker's control API as the controller sees it. A reconnect heals a worker that has
// lost its forward unless the test made it `broken`.
class FakeWorker final : public tunnel::WorkerControl {
 public:
  explicit FakeWorker(std::string name) {
    status_.name = std::move(name);
    heal();
  }

  Result<tunnel::WorkerStatus> status() override {
    if (!reachable) return fail("connect to 127.0.0.1:9190: Connection refused");
    if (status_.state == "draining") {
      const auto shown = status_;
      status_.state = "drained";  // the open channels finish by the next look
      return shown;
    }
    return status_;
  }
  Result<void> drain() override {
    if (!reachable) return fail("connect to 127.0.0.1:9190: Connection refused");
    status_.state = "draining";
    status_.forward.reset();
    return {};
  }
  Result<void> resume() override {
    if (!reachable) return fail("connect to 127.0.0.1:9190: Connection refused");
    heal();
    return {};
  }
  Result<void> reconnect() override {
    if (!reachable) return fail("connect to 127.0.0.1:9190: Connection refused");
    ++status_.reconnects;
    ++reconnects_asked;
    if (!broken) heal();
    return {};
  }

  // The forward is lost (the VPS refused it, the session hangs): the worker keeps waiting.
  void lose_forward() {
    status_.state = "forward-pending";
    status_.forward.reset();
  }
  void heal() {
    status_.state = "serving";
    status_.forward = "127.0.0.1:29000";
  }
  const std::string& state() const { return status_.state; }

  bool reachable = true;
  bool broken = false;  // a reconnect does not help
  int reconnects_asked = 0;

 private:
  tunnel::WorkerStatus status_;
};

struct SimWorld {
  explicit SimWorld(sim::Topology topology, Clock::time_point start)
      : clock(start), simulator(std::move(topology), clock) {}

  FakeClock clock;
  sim::Simulator simulator;
  std::map<std::string, std::unique_ptr<FakeWorker>> workers;  // by tunnel
  // The lock on the cluster filesystem: who holds it and when it was last renewed; read-only
  // without quorum, as pmxcfs is.
  std::string lease_holder;
  Clock::time_point lease_renewed{};
  bool filesystem_writable = true;
  std::map<std::string, maintenance::Flag> flags;
  std::vector<nlohmann::json> audit;
  std::optional<std::string> traffic_via;  // X-Tunnel through the public URL; unset: unreachable
};

class SimLease final : public lease::Lease {
 public:
  SimLease(SimWorld& w, std::string owner, std::chrono::seconds lease)
      : w_(w), owner_(std::move(owner)), lease_(lease) {}

  Result<bool> update(std::chrono::system_clock::time_point now) override {
    if (!w_.filesystem_writable) {
      held_ = false;
      why_ = "the cluster filesystem is read-only (no quorum)";
      return false;
    }
    if (w_.lease_holder == owner_ || w_.lease_holder.empty() || now - w_.lease_renewed >= lease_) {
      w_.lease_holder = owner_;
      w_.lease_renewed = now;
      held_ = true;
      why_.clear();
      return true;
    }
    held_ = false;
    why_ = "held by " + w_.lease_holder;
    return false;
  }
  void release() override {
    if (w_.lease_holder == owner_) w_.lease_holder.clear();
    held_ = false;
  }
  bool held() const override { return held_; }
  const std::string& why() const override { return why_; }

 private:
  SimWorld& w_;
  std::string owner_;
  std::chrono::seconds lease_;
  bool held_ = false;
  std::string why_;
};

class SimAudit final : public audit::AuditSink {
 public:
  explicit SimAudit(SimWorld& w) : w_(w) {}
  Result<void> append(const nlohmann::json& record) override {
    w_.audit.push_back(record);
    return {};
  }

 private:
  SimWorld& w_;
};

class SimMaintenance final : public maintenance::MaintenanceStore {
 public:
  explicit SimMaintenance(SimWorld& w) : w_(w) {}
  Result<void> start(const std::string& tunnel, const std::string& by,
                     std::chrono::system_clock::time_point now) override {
    w_.flags.try_emplace(tunnel,
                         maintenance::Flag{std::to_string(now.time_since_epoch().count()), by});
    return {};
  }
  Result<void> stop(const std::string& tunnel) override {
    w_.flags.erase(tunnel);
    return {};
  }
  Result<std::map<std::string, maintenance::Flag>> active() const override { return w_.flags; }

 private:
  SimWorld& w_;
};

class SimEnv final : public controller::Env {
 public:
  // Puts a transport between the client and the simulator's (a benchmark's timer): given the
  // simulator's transport, it returns the one the client talks to, which must outlive the env.
  using FrontTransport = std::function<pve::Transport&(SimTransport&)>;

  SimEnv(SimWorld& w, std::string owner, std::chrono::seconds lease, FrontTransport front = {})
      : w_(w),
        transport_(w.simulator, kReferenceTokenAuth),
        // One try per GET: a scenario shows each failure as it happens.
        client_(front ? front(transport_) : transport_, w.clock, pve::RetryPolicy{1}),
        lease_(w, std::move(owner), lease),
        audit_(w),
        maintenance_(w) {}

  Clock& clock() override { return w_.clock; }
  pve::Client& pve() override { return client_; }
  tunnel::WorkerControl* worker(const std::string& tunnel) override {
    auto it = w_.workers.find(tunnel);
    return it == w_.workers.end() ? nullptr : it->second.get();
  }
  lease::Lease& lease() override { return lease_; }
  audit::AuditSink& audit() override { return audit_; }
  maintenance::MaintenanceStore& maintenance() override { return maintenance_; }
  Result<std::string> traffic_via() override {
    if (!w_.traffic_via) return fail("public_url: not reachable");
    return *w_.traffic_via;
  }

  SimTransport& transport() { return transport_; }

 private:
  SimWorld& w_;
  SimTransport transport_;
  pve::Client client_;
  SimLease lease_;
  SimAudit audit_;
  SimMaintenance maintenance_;
};

}  // namespace pvt::testing
