#include "controller/env/real_env.h"

#include "controller/env/public_probe.h"

namespace pvt::controller {
namespace {

// A worker answers from its own loop at once; longer means it is stuck, and the cycle moves on.
constexpr std::chrono::milliseconds kWorkerTimeout{3000};
constexpr std::chrono::milliseconds kPublicUrlTimeout{5000};

}  // namespace

RealEnv::RealEnv(const config::Config& cfg, std::string owner, const std::atomic<bool>* cancel)
    : lock_(lease::LeaderLockOptions{
          cfg.controller.lock_dir, std::chrono::seconds(cfg.controller.lease_s), std::move(owner)}),
      audit_(audit::AuditLogOptions{cfg.controller.audit_log}),
      flags_(cfg.controller.state_dir),
      cancel_(cancel) {
  reload(cfg);
}

void RealEnv::reload(const config::Config& cfg) {
  auto options = pve::options_from_config(*cfg.pve);
  options.cancel = cancel_;
  client_.reset();
  transport_ = std::make_unique<pve::CurlTransport>(std::move(options));
  // One cycle's reads must not outlast the cycle by much: a GET is tried twice, not three times.
  client_ = std::make_unique<pve::Client>(*transport_, clock_, pve::RetryPolicy{2});
  workers_.clear();
  for (const auto& t : cfg.tunnels) {
    if (!t.control_url) continue;
    workers_.emplace(t.name, std::make_unique<tunnel::WorkerClient>(*t.control_url, t.control_token,
                                                                    kWorkerTimeout));
  }
  public_url_ = cfg.vps.public_url;
}

tunnel::WorkerControl* RealEnv::worker(const std::string& tunnel) {
  auto it = workers_.find(tunnel);
  return it == workers_.end() ? nullptr : it->second.get();
}

Result<std::string> RealEnv::traffic_via() {
  if (!public_url_) return fail("[vps] public_url is not set");
  return probe_traffic_via(*public_url_, kPublicUrlTimeout);
}

}  // namespace pvt::controller
