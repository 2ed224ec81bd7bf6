// The stateful Proxmox VE API: answers requests below /api2/json as a real cluster would
// (shapes, type quirks, privileges, errors), and an admin API below /_sim for tests.
// Transport-free: the server hands it method, path, parameters and the Authorization header.
// Time-free too: it knows only the time of its Clock (a SystemClock in the pvesim server, a
// FakeClock in tests, where a task of an hour ends when the clock has moved an hour).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>

#include "common/clock.h"
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
  // `clock` is the simulator's one time source, read at each request: every timestamp, when a
  // task starts and ends, whether it has ended. It must outlive the simulator.
  Simulator(Topology topology, const Clock& clock);

  SimResponse handle(const SimRequest& request);
  // Admin API (no PVE token): GET /_sim/state, POST /_sim/faults, POST /_sim/guest/{vmid}.
  SimResponse admin(const std::string& method, const std::string& path, const std::string& body);
  // Moves the simulated time to `now` (never back) and finishes the tasks due by then, with
  // their effects, each at its own end time. Each request does this with the clock's time.
  void advance(Clock::time_point now);

 private:
  SimResponse dispatch(const SimRequest& r, const Caller& token);
  // /access/users, /access/roles, /access/acl, /access/permissions
  SimResponse access_api(const SimRequest& r, const Caller& tok);
  void set_time(Clock::time_point now);  // never back
  void finish_due_tasks();
  int64_t now_s() const { return now_ms_ / 1000; }  // epoch seconds
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
  const Clock& clock_;
  int64_t now_ms_ = 0;  // the simulated time, epoch milliseconds: the clock's, as last read
  std::mutex mu_;
  std::mt19937 rng_{12345};
  uint32_t next_pid_ = 0x20000;
  // Task completion effects, by UPID.
  std::map<std::string, std::function<void(Task&)>> on_finish_;
  // When each task ends, epoch milliseconds (sub-second delays): it is finished once the
  // simulated time has reached it.
  std::map<std::string, int64_t> finish_at_ms_;
  std::set<std::string> stopped_;  // UPIDs stopped through the API before they finished
};

}  // namespace pvt::sim
