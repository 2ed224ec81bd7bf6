// The controller's cycle, in the manner of controller-runtime's reconcile: each cycle reads the
// whole world (cluster, workers, maintenance flags), plans from it and from what it remembers,
// and — only while it holds the leader lease and is not a dry run — carries out the enforced
// actions, one audit record each. Everything outside goes through the Env, so a scenario drives
// the same code on virtual time.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "controller/env/env.h"
#include "controller/loop/cluster_reader.h"
#include "controller/planner/planner.h"
#include "controller/status/controller_status.h"

namespace pvt::controller {

struct ControllerOptions {
  bool dry_run = false;        // plan and log, never act, never take the lease
  std::string node;            // where this controller runs, for status and audit records
  size_t recent_actions = 50;  // actions kept for the status page
};

class Controller {
 public:
  Controller(config::Config cfg, Env& env, ControllerOptions options);

  // One cycle. Returns what happened, a line each (state changes, actions and their outcomes,
  // leadership), which is also logged.
  std::vector<std::string> run_cycle();

  // SIGHUP: the next cycle plans with `cfg`. What the controller remembers of guests and tunnels
  // that are still configured is kept.
  void reload(config::Config cfg);

  // SIGTERM: records what the cut cycle left undone, and gives the lease up.
  void shutdown(const std::string& why);

  // For the status server's thread: a copy of the status as of the last cycle.
  status::ControllerStatus status() const;

  // POST /v1/maintenance/{tunnel}/start|stop, from any controller: sets or clears the flag the
  // leader acts on. The error says what is wrong (unknown tunnel, flag not writable).
  Result<void> set_maintenance(const std::string& tunnel, bool start, const std::string& by);

  // The config's tunnel names (as of the last reload).
  std::vector<std::string> tunnel_names() const;

 private:
  std::map<std::string, planner::ObservedTask> read_tasks();
  void read_workers(check::Observation& o, std::vector<std::string>& lines);
  void act(const planner::Plan& plan, bool leader, std::chrono::system_clock::time_point now,
           std::vector<std::string>& lines);
  void drive_maintenance(const check::Observation& o, const planner::Observed& observed,
                         std::vector<std::string>& lines);
  void audit(const planner::Action& a, const std::string& result, const std::string& error,
             const std::string& upid, std::chrono::system_clock::time_point now);
  void audit_event(const std::string& kind, const std::string& target, const std::string& result,
                   const std::string& detail);
  // Writes `rec` (an action and its result) and counts it in the status: recent actions, totals.
  void record(nlohmann::json rec, const std::string& error);
  void write_audit(const nlohmann::json& rec);
  void note_api_errors(const check::Observation& o, std::vector<std::string>& lines);
  void publish(const check::Observation& o, const planner::Observed& observed, bool leader);

  config::Config cfg_;
  Env& env_;
  ControllerOptions options_;
  planner::Policy policy_;
  planner::History history_;
  ClusterReader reader_;
  bool was_leader_ = false;
  std::string last_lease_why_;
  std::set<std::string> would_last_cycle_;  // "would ..." audited once while it stays planned
  std::set<std::string> plan_said_last_cycle_;
  std::set<std::string> api_errors_last_cycle_;
  std::map<std::string, std::string> worker_said_;  // each worker's state as last logged
  std::set<std::string> maintenance_seen_;          // tunnels whose flag this controller saw set
  std::deque<status::ActionView> recent_;
  std::map<std::pair<std::string, std::string>, uint64_t> actions_total_;
  uint64_t api_errors_ = 0;
  std::string cycle_at_;

  mutable std::mutex status_mu_;
  status::ControllerStatus status_;
};

}  // namespace pvt::controller
