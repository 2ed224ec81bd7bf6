// The stateful Proxmox VE API: answers requests below /api2/json as a real cluster would
// (shapes, type quirks, privileges, errors), and an admin API below /_sim for tests.
// Transport-free: the server hands it method, path, parameters and the Authorization header.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "tools/pvesim/topology.h"

namespace pvt::sim {

struct SimRequest {
  std::string method;
  std::string path;                           // below /api2/json, e.g. "/cluster/resources"
  std::map<std::string, std::string> params;  // query and form, merged
  std::string authorization;
};

// The authenticated token. Every privilege check asks Access::permissions, through has().
struct Caller {
  std::string id;  // user@realm!name
  const Access* access = nullptr;
  bool has(const std::string& path, const std::string& priv) const {
    return access->has(id, path, priv);
  }
};

struct SimResponse {
  int status = 200;
  std::string reason = "OK";
  std::string body;
  int delay_ms = 0;  // the server sleeps this long before answering (outside the lock)
};

class Simulator {
 public:
  using NowFn = std::function<int64_t()>;  // epoch seconds

  explicit Simulator(Topology topology, NowFn now = nullptr);

  SimResponse handle(const SimRequest& request);
  // Admin API (no PVE token): GET /_sim/state, POST /_sim/faults, POST /_sim/guest/{vmid}.
  SimResponse admin(const std::string& method, const std::string& path, const std::string& body);

 private:
  SimResponse dispatch(const SimRequest& r, const Caller& token);
  // /access/users, /access/roles, /access/acl, /access/permissions
  SimResponse access_api(const SimRequest& r, const Caller& tok);
  void advance(int64_t now);  // finish due tasks and apply their effects
  Guest* find_guest(int64_t vmid);
  const Node* find_node(const std::string& name) const;
  bool node_offline(const std::string& node) const;
  bool quorate() const;
  // POST /nodes/{node}/{qemu|lxc} with an archive, DELETE of a guest, DELETE of a task.
  SimResponse restore_guest(const SimRequest& r, const Caller& tok, const std::string& node,
                            const std::string& type);
  SimResponse destroy_guest(const SimRequest& r, const Caller& tok, Guest& g);
  SimResponse stop_task(const Caller& tok, const std::string& node, const std::string& upid);
  std::string new_task(const std::string& node, const std::string& type, const std::string& id,
                       const std::string& user, int duration_ms);

  Topology t_;
  Access access_;  // user.cfg: users, tokens, roles, ACLs (from the topology, then the API)
  NowFn now_;
  std::mutex mu_;
  std::mt19937 rng_{12345};
  uint32_t next_pid_ = 0x20000;
  // Task completion effects, by UPID.
  std::map<std::string, std::function<void(Task&)>> on_finish_;
  // Tasks finish at endtime in milliseconds for sub-second delays.
  std::map<std::string, int64_t> finish_at_ms_;
  std::set<std::string> stopped_;  // UPIDs stopped through the API before they finished
};

}  // namespace pvt::sim
