// What the controller shows about itself and the system it keeps: the model behind its status
// server's /v1/status (JSON), /metrics (Prometheus, the metric names `check --format prometheus`
// uses for the same facts) and / (one self-contained HTML page a person reads at a glance).
// Filled by the loop once per cycle; rendering is pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pvt::status {

using TimePoint = std::chrono::system_clock::time_point;

struct GuestView {
  std::string name;
  int64_t vmid = 0;
  std::string type;   // qemu | lxc
  std::string node;   // where it runs ("" when not found)
  std::string power;  // running | stopped | as PVE said it
  std::optional<bool> onboot;
  std::string state;  // the planner's state, described ("ok", "giving up until ...")
  std::optional<int64_t> backup_age_s;
  std::optional<int64_t> backup_allowed_age_s;
};

struct TunnelView {
  std::string name;
  std::string role;   // primary | backup
  std::string state;  // the worker's state, or "unreachable"
  bool serving = false;
  bool maintenance = false;
  std::optional<double> probe_latency_s;
};

struct ActionView {
  std::string at;    // RFC 3339 UTC
  std::string kind;  // start, onboot, startup, backup, reconnect
  std::string target;
  bool enforced = false;
  std::string result;  // "ok", "failed: ...", "would" (audit only)
};

struct ControllerStatus {
  std::string node;  // where this controller runs
  bool leader = false;
  std::string leader_why;  // why not (held by pve2:1234, no quorum, ...)
  bool dry_run = false;
  std::string cycle_at;                    // RFC 3339 UTC of the last cycle
  std::optional<std::string> traffic_via;  // tunnel named by X-Tunnel through [vps] public_url
  std::vector<GuestView> guests;
  std::vector<TunnelView> tunnels;
  std::vector<ActionView> recent_actions;  // newest last, bounded by the loop
  // Since the start: actions by kind and by result ("ok", "failed", "would").
  std::map<std::pair<std::string, std::string>, uint64_t> actions_total;
  uint64_t api_errors = 0;
};

std::string to_json(const ControllerStatus& s);
std::string to_metrics(const ControllerStatus& s);
// One page, no scripts or outside resources, refreshed every `refresh_s` seconds; every text
// from outside escaped.
std::string to_html(const ControllerStatus& s, int refresh_s);

}  // namespace pvt::status
