// Everything the controller's loop touches outside its own memory, behind one small interface in
// the manner of pve-ha-manager's Env and leveldb's Env: time, the Proxmox VE API, the workers'
// control APIs, the leader lease, the audit trail, the maintenance flags and the public URL.
// RealEnv wires the real ones; the scenario tests wire pvesim in-process, fake workers and an
// in-memory lease on virtual time. The loop never opens a socket or a file, nor reads the wall
// clock, by itself.
#pragma once

#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "controller/audit/audit_sink.h"
#include "controller/lease/lease.h"
#include "controller/maintenance/maintenance_store.h"
#include "pve/client.h"
#include "worker_client/worker_client.h"

namespace pvt::controller {

class Env {
 public:
  virtual ~Env() = default;
  virtual Clock& clock() = 0;
  virtual pve::Client& pve() = 0;
  // The control API of the tunnel's worker; nullptr when the config gives it no control_url.
  virtual tunnel::WorkerControl* worker(const std::string& tunnel) = 0;
  virtual lease::Lease& lease() = 0;
  virtual audit::AuditSink& audit() = 0;
  virtual maintenance::MaintenanceStore& maintenance() = 0;
  // Which tunnel carries the public traffic now: the X-Tunnel header of the answer to a GET of
  // [vps] public_url. An error when it is not configured, not reachable or has no such header.
  virtual Result<std::string> traffic_via() = 0;
};

}  // namespace pvt::controller
