// The controller's Env on a Proxmox host: the system clock, libcurl to the PVE API, the workers'
// control APIs over HTTP, the leader lock on the cluster filesystem, the audit log file, the
// maintenance flags under state_dir and the public URL.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "common/config.h"
#include "controller/audit/audit_log.h"
#include "controller/env/env.h"
#include "controller/lease/leader_lock.h"
#include "controller/maintenance/maintenance_flags.h"
#include "pve/curl_transport.h"

namespace pvt::controller {

class RealEnv final : public Env {
 public:
  // `owner` names this controller in the lock ("pve1:1234"); `cancel`, once set, ends PVE
  // requests in flight (shutdown).
  RealEnv(const config::Config& cfg, std::string owner, const std::atomic<bool>* cancel);

  // SIGHUP: the PVE connection, the workers and the public URL from the new config. The lock,
  // the audit log and the flags stay where they are (moving them needs a restart).
  void reload(const config::Config& cfg);

  Clock& clock() override { return clock_; }
  pve::Client& pve() override { return *client_; }
  tunnel::WorkerControl* worker(const std::string& tunnel) override;
  lease::Lease& lease() override { return lock_; }
  audit::AuditSink& audit() override { return audit_; }
  maintenance::MaintenanceStore& maintenance() override { return flags_; }
  Result<std::string> traffic_via() override;

 private:
  SystemClock clock_;
  std::unique_ptr<pve::CurlTransport> transport_;
  std::unique_ptr<pve::Client> client_;
  std::map<std::string, std::unique_ptr<tunnel::WorkerClient>> workers_;
  lease::LeaderLock lock_;
  audit::AuditLog audit_;
  maintenance::MaintenanceFlags flags_;
  std::optional<std::string> public_url_;
  const std::atomic<bool>* cancel_;
};

}  // namespace pvt::controller
