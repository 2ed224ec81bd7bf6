#include "tools/pvesim/simulator.h"

#include <date/tz.h>
#include <fmt/format.h>

#include <regex>
#include <thread>

#include "common/text.h"
#include "schedule/calendar_event.h"
#include "tools/pvesim/restored_config.h"

namespace pvt::sim {
namespace {

int64_t epoch_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// As vzdump writes its times into the log ("INFO: Backup started at 2026-12-07 02:00:03"), in
// UTC like the tasks of the topology.
std::string log_stamp(int64_t epoch_ms) {
  return date::format("%Y-%m-%d %H:%M:%S",
                      date::floor<std::chrono::seconds>(date::sys_time<std::chrono::milliseconds>(
                          std::chrono::milliseconds(epoch_ms))));
}

// "00:01:02", as vzdump gives a guest's backup time.
std::string hms(int64_t ms) {
  const int64_t s = ms / 1000;
  return fmt::format("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

SimResponse ok_data(const Json& d) { return SimResponse{200, "OK", Json{{"data", d}}.dump(), 0}; }

// Proxmox's error shape: the message in the status line and in the body.
SimResponse error(int status, const std::string& message) {
  return SimResponse{status, message, Json{{"data", nullptr}, {"message", message + "\n"}}.dump(),
                     0};
}

SimResponse forbidden(const std::string& path, const std::string& priv) {
  return error(403, fmt::format("Permission check failed ({}, {})", path, priv));
}

SimResponse bad_param(const std::string& param, const std::string& message) {
  SimResponse r = error(400, "Parameter verification failed.");
  r.body = Json{{"data", nullptr},
                {"message", "Parameter verification failed.\n"},
                {"errors", {{param, message + "\n"}}}}
               .dump();
  return r;
}

std::string vm_path(int64_t vmid) { return fmt::format("/vms/{}", vmid); }

std::optional<int64_t> to_int(const std::string& s) {
  try {
    size_t used = 0;
    int64_t v = std::stoll(s, &used);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

std::string param(const SimRequest& r, const std::string& k, const std::string& def = "") {
  auto it = r.params.find(k);
  return it == r.params.end() ? def : it->second;
}

}  // namespace

Simulator::Simulator(Topology topology, const Clock& clock)
    : t_(std::move(topology)),
      access_(make_access(t_)),
      clock_(clock),
      now_ms_(epoch_ms(clock.now())) {}

Guest* Simulator::find_guest(int64_t vmid) {
  for (auto& g : t_.guests) {
    if (g.vmid == vmid) return &g;
  }
  return nullptr;
}

const Node* Simulator::find_node(const std::string& name) const {
  for (const auto& n : t_.nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

bool Simulator::node_offline(const std::string& node) const {
  const Node* n = find_node(node);
  return n == nullptr || !n->online || t_.faults.offline_nodes.count(node) > 0;
}

bool Simulator::quorate() const {
  if (t_.faults.quorum_lost) return false;
  if (!t_.cluster_name) return true;
  int votes = t_.qdevice ? 1 : 0, expected = static_cast<int>(t_.nodes.size()) + votes;
  for (const auto& n : t_.nodes) votes += node_offline(n.name) ? 0 : 1;
  return votes * 2 > expected;
}

std::string Simulator::new_task(const std::string& node, const std::string& type,
                                const std::string& id, const std::string& user, int duration_ms) {
  Task task;
  task.node = node;
  task.type = type;
  task.id = id;
  task.user = user;
  task.starttime = now_s();
  task.endtime = task.starttime + (duration_ms + 999) / 1000;
  task.upid = make_upid(node, type, id, user, task.starttime, next_pid_++);
  finish_at_ms_[task.upid] = now_ms_ + duration_ms;
  t_.tasks.push_back(task);
  return t_.tasks.back().upid;
}

void Simulator::advance(Clock::time_point now) {
  std::lock_guard lock(mu_);
  set_time(now);
  finish_due_tasks();
}

void Simulator::set_time(Clock::time_point now) { now_ms_ = std::max(now_ms_, epoch_ms(now)); }

void Simulator::finish_due_tasks() {
  // The due ones, in the order they end: a jump of hours finishes them as time would have.
  std::vector<std::pair<int64_t, size_t>> due;  // end (ms), index
  for (size_t i = 0; i < t_.tasks.size(); ++i) {
    if (t_.tasks[i].finished) continue;
    auto at = finish_at_ms_.find(t_.tasks[i].upid);
    const int64_t end = at == finish_at_ms_.end() ? now_ms_ : at->second;
    if (end <= now_ms_) due.emplace_back(end, i);
  }
  std::stable_sort(due.begin(), due.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [end_ms, index] : due) {
    Task& task = t_.tasks[index];
    task.finished = true;
    task.endtime = end_ms / 1000;
    auto effect = on_finish_.find(task.upid);
    // A stopped restore leaves what it wrote so far (its effect knows); other stopped tasks
    // have no effect.
    const bool restore = task.type == "qmrestore" || task.type == "vzrestore";
    if (!restore && stopped_.erase(task.upid) > 0) {
      task.exitstatus = "interrupted by signal";
    } else if (effect != on_finish_.end()) {
      effect->second(task);
    }
    if (effect != on_finish_.end()) on_finish_.erase(effect);
    if (task.exitstatus.empty()) task.exitstatus = "OK";
    task.log.push_back(task.exitstatus == "OK" ? "TASK OK"
                       : task.exitstatus.rfind("WARNINGS", 0) == 0
                           ? "TASK " + task.exitstatus
                           : "TASK ERROR: " + task.exitstatus);
  }
}

SimResponse Simulator::handle(const SimRequest& r) {
  std::lock_guard lock(mu_);
  set_time(clock_.now());
  const int latency = t_.faults.latency_ms;
  // Authentication: "PVEAPIToken=USER@REALM!TOKENID=SECRET".
  const std::string prefix = "PVEAPIToken=";
  std::optional<Caller> token;
  std::string why = "invalid token value!";
  if (r.authorization.rfind(prefix, 0) == 0) {
    const std::string rest = r.authorization.substr(prefix.size());
    const auto eq = rest.rfind('=');
    if (eq != std::string::npos) {
      if (const ApiToken* t =
              access_.authenticate(rest.substr(0, eq), rest.substr(eq + 1), now_s(), why)) {
        token = Caller{t->full_id(), &access_};
      }
    }
  }
  if (!token) {
    SimResponse res{401, r.authorization.empty() ? "No ticket" : why,
                    Json{{"data", nullptr}}.dump(), t_.timing.auth_failure_delay_ms};
    return res;
  }
  for (const auto& prefix_path : t_.faults.garbage_paths) {
    if (r.path.rfind(prefix_path, 0) == 0) {
      SimResponse res{200, "OK", "{\"data\":[{\"vmid\":110,\"node\":\"pv", latency};
      return res;
    }
  }
  if (t_.faults.error_rate > 0 &&
      std::uniform_real_distribution<double>(0, 1)(rng_) < t_.faults.error_rate) {
    SimResponse res = error(500, "simulated internal error");
    res.delay_ms = latency;
    return res;
  }
  finish_due_tasks();
  SimResponse res = dispatch(r, *token);
  res.delay_ms = latency;
  return res;
}

SimResponse Simulator::dispatch(const SimRequest& r, const Caller& tok) {
  static const std::regex node_re(R"(^/nodes/([^/]+)(/.*)?$)");
  static const std::regex guest_re(R"(^/(qemu|lxc)/(\d+)/(status/current|config|status/start)$)");
  static const std::regex task_re(R"(^/tasks/([^/]+)/(status|log)$)");
  static const std::regex content_re(R"(^/storage/([^/]+)/content$)");
  static const std::regex pool_re(R"(^/pools/([^/]+)$)");
  const std::string& m = r.method;
  const std::string& p = r.path;
  const int64_t now = now_s();

  if (m == "GET" && p == "/version") {
    return ok_data(
        {{"version", t_.version}, {"release", t_.version.substr(0, 3)}, {"repoid", "f72b1f86"}});
  }
  if (p == "/access" || p.rfind("/access/", 0) == 0) return access_api(r, tok);
  if (m == "GET" && p == "/cluster/status") {
    if (!tok.has("/", "Sys.Audit")) return forbidden("/", "Sys.Audit");
    Json list = Json::array();
    if (t_.cluster_name) {
      list.push_back({{"type", "cluster"},
                      {"id", "cluster"},
                      {"name", *t_.cluster_name},
                      {"nodes", t_.nodes.size()},
                      {"quorate", quorate() ? 1 : 0},
                      {"version", 7}});
    }
    int64_t id = 1;
    for (const auto& n : t_.nodes) {
      Json e = {{"type", "node"},
                {"id", "node/" + n.name},
                {"name", n.name},
                {"ip", n.ip},
                {"online", node_offline(n.name) ? 0 : 1},
                {"local", id == 1 ? 1 : 0},
                {"level", ""}};
      if (t_.cluster_name) e["nodeid"] = id;
      ++id;
      list.push_back(e);
    }
    return ok_data(list);
  }
  if (m == "GET" && p == "/cluster/config/qdevice") {
    if (!tok.has("/", "Sys.Audit")) return forbidden("/", "Sys.Audit");
    if (!t_.qdevice) return ok_data(Json::object());
    return ok_data({{"Algorithm", "Fifty-Fifty split"},
                    {"State", "Connected"},
                    {"Tie-breaker", "Node with lowest node ID"}});
  }
  if (m == "GET" && p == "/cluster/resources") {
    const std::string type = param(r, "type");
    if (!type.empty() && type != "vm" && type != "storage" && type != "node" && type != "sdn") {
      return bad_param(
          "type",
          "value '" + type + "' does not have a value in the enumeration 'vm, storage, node, sdn'");
    }
    Json list = Json::array();
    if (type.empty() || type == "node") {
      for (const auto& n : t_.nodes) {
        if (!tok.has("/nodes/" + n.name, "Sys.Audit")) continue;
        const bool off = node_offline(n.name);
        list.push_back({{"id", "node/" + n.name},
                        {"type", "node"},
                        {"node", n.name},
                        {"status", off ? "offline" : "online"},
                        {"level", ""},
                        {"maxcpu", 8},
                        {"maxmem", 34359738368LL},
                        {"uptime", off ? 0 : 86400}});
      }
    }
    if (type.empty() || type == "vm") {
      for (const auto& g : t_.guests) {
        if (!tok.has(vm_path(g.vmid), "VM.Audit")) continue;  // silently left out, as PVE does
        const bool off = node_offline(g.node);
        Json e = {{"id", fmt::format("{}/{}", g.type, g.vmid)},
                  {"type", g.type},
                  {"vmid", g.vmid},
                  {"name", g.name},
                  {"node", g.node},
                  {"status", off ? "unknown" : g.status},
                  {"template", g.is_template ? 1 : 0},
                  {"maxmem", 2147483648LL},
                  {"mem", g.status == "running" ? 1073741824LL : 0},
                  {"maxcpu", 2},
                  {"cpu", g.status == "running" ? 0.0123 : 0},
                  {"maxdisk", 34359738368LL},
                  {"disk", 0},
                  {"uptime", g.status == "running" ? 3600 : 0},
                  {"netin", 0},
                  {"netout", 0},
                  {"diskread", 0},
                  {"diskwrite", 0}};
        if (g.lock) e["lock"] = *g.lock;
        if (g.pool) e["pool"] = *g.pool;
        if (g.ha_managed) e["hastate"] = "started";
        list.push_back(e);
      }
    }
    if (type.empty() || type == "storage") {
      for (const auto& n : t_.nodes) {
        for (const auto& s : t_.storages) {
          if (!s.on_node(n.name)) continue;
          const std::string sp = "/storage/" + s.id;
          if (!tok.has(sp, "Datastore.Audit") && !tok.has(sp, "Datastore.AllocateSpace")) continue;
          std::string content;
          for (const auto& c : s.content) content += (content.empty() ? "" : ",") + c;
          list.push_back({{"id", fmt::format("storage/{}/{}", n.name, s.id)},
                          {"type", "storage"},
                          {"storage", s.id},
                          {"node", n.name},
                          {"plugintype", s.type},
                          {"content", content},
                          {"status", node_offline(n.name) ? "unknown" : "available"},
                          {"shared", s.shared ? 1 : 0},
                          {"disk", 4134985728LL},
                          {"maxdisk", 14484905984LL}});
        }
      }
    }
    return ok_data(list);
  }
  if (m == "GET" && p == "/nodes") {
    Json list = Json::array();
    for (const auto& n : t_.nodes) {
      const bool off = node_offline(n.name);
      Json e = {{"node", n.name},
                {"status", off ? "offline" : "online"},
                {"type", "node"},
                {"id", "node/" + n.name},
                {"level", ""},
                {"ssl_fingerprint",
                 "5A:D4:1B:9C:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:"
                 "77:88:99:AA:BB"}};
      if (!off) {
        e["uptime"] = 86400;
        e["maxcpu"] = 8;
      }
      list.push_back(e);
    }
    return ok_data(list);
  }
  if (m == "GET" && p == "/cluster/nextid") {
    // Answers from the whole VM list, whatever the token may see.
    const std::string wanted = param(r, "vmid");
    if (!wanted.empty()) {
      auto v = to_int(wanted);
      if (!v || *v < 100)
        return bad_param("vmid", "invalid format - value does not look like a valid VM ID");
      if (find_guest(*v) != nullptr)
        return bad_param("vmid", fmt::format("VM {} already exists", *v));
      return ok_data(wanted);
    }
    int64_t id = 100;
    while (find_guest(id) != nullptr) ++id;
    return ok_data(std::to_string(id));
  }
  if (m == "GET" && p == "/cluster/backup") {
    if (!tok.has("/", "Sys.Audit")) return forbidden("/", "Sys.Audit");
    Json list = Json::array();
    for (const auto& j : t_.jobs) list.push_back(j.raw);
    return ok_data(list);
  }
  if (m == "GET" && p == "/cluster/backup-info/not-backed-up") {
    if (!tok.has("/", "Sys.Audit")) return forbidden("/", "Sys.Audit");
    Json list = Json::array();
    for (const auto& g : t_.guests) {
      if (g.is_template) continue;
      bool covered = false;
      for (const auto& j : t_.jobs) {  // ignores "enabled", like PVE
        const auto& raw = j.raw;
        if (raw.contains("node") && raw["node"] != g.node) continue;
        if (raw.value("all", 0) == 1) {
          auto ex = text::split_list(raw.value("exclude", ""), ',');
          covered |= std::find(ex.begin(), ex.end(), std::to_string(g.vmid)) == ex.end();
        }
        auto ids =
            text::split_list(raw.contains("vmid") ? raw["vmid"].get<std::string>() : "", ',');
        covered |= std::find(ids.begin(), ids.end(), std::to_string(g.vmid)) != ids.end();
        if (raw.contains("pool") && g.pool && raw["pool"] == *g.pool) covered = true;
      }
      if (!covered) list.push_back({{"vmid", g.vmid}, {"name", g.name}, {"type", g.type}});
    }
    return ok_data(list);
  }
  if (m == "GET" && p == "/storage") {
    Json list = Json::array();
    for (const auto& s : t_.storages) {
      if (!tok.has("/storage/" + s.id, "Datastore.Audit") &&
          !tok.has("/storage/" + s.id, "Datastore.AllocateSpace"))
        continue;
      std::string content;
      for (const auto& c : s.content) content += (content.empty() ? "" : ",") + c;
      Json e = {{"storage", s.id}, {"type", s.type}, {"content", content}, {"digest", "2b3c"}};
      if (s.shared) e["shared"] = 1;
      if (!s.prune_backups.empty()) e["prune-backups"] = s.prune_backups;
      list.push_back(e);
    }
    return ok_data(list);
  }
  std::smatch pm;
  if (m == "GET" && std::regex_match(p, pm, pool_re)) {
    const std::string id = pm[1];
    if (!tok.has("/pool/" + id, "Pool.Audit")) return forbidden("/pool/" + id, "Pool.Audit");
    auto it = t_.pools.find(id);
    if (it == t_.pools.end()) return error(500, fmt::format("pool '{}' does not exist", id));
    return ok_data(it->second);
  }

  std::smatch nm;
  if (!std::regex_match(p, nm, node_re))
    return error(501, fmt::format("Method '{} {}' not implemented", m, p));
  const std::string node = nm[1];
  const std::string rest = nm[2];
  if (find_node(node) == nullptr) return error(500, fmt::format("no such cluster node '{}'", node));
  if (node_offline(node)) return error(595, "Connection refused");

  if (m == "GET" && rest == "/time") {
    // As PVE: "localtime" is the node's wall-clock time written as if it were UTC.
    const Node* n = find_node(node);
    int64_t localtime = now;
    if (auto zone = schedule::find_time_zone(n->timezone)) {
      localtime += (*zone)->get_info(date::sys_seconds(std::chrono::seconds(now))).offset.count();
    }
    return ok_data({{"timezone", n->timezone}, {"time", now}, {"localtime", localtime}});
  }
  if (m == "POST" && (rest == "/qemu" || rest == "/lxc"))
    return restore_guest(r, tok, node, rest.substr(1));
  static const std::regex guest_root_re(R"(^/(qemu|lxc)/(\d+)$)");
  static const std::regex task_root_re(R"(^/tasks/([^/]+)$)");
  std::smatch dm;
  if (m == "DELETE" && std::regex_match(rest, dm, guest_root_re)) {
    Guest* g = find_guest(std::stoll(dm[2]));
    if (g == nullptr || g->type != dm[1] || g->node != node) {
      const std::string vp = vm_path(std::stoll(dm[2]));
      if (!tok.has(vp, "VM.Audit") && !tok.has(vp, "VM.Allocate"))
        return forbidden(vp, "VM.Allocate");
      return error(500, fmt::format("Configuration file 'nodes/{}/{}/{}.conf' does not exist", node,
                                    dm[1] == "qemu" ? "qemu-server" : "lxc", std::string(dm[2])));
    }
    return destroy_guest(r, tok, *g);
  }
  if (m == "DELETE" && std::regex_match(rest, dm, task_root_re)) return stop_task(tok, node, dm[1]);
  std::smatch gm;
  if (std::regex_match(rest, gm, guest_re)) {
    const std::string type = gm[1];
    const int64_t vmid = std::stoll(gm[2]);
    const std::string what = gm[3];
    Guest* g = find_guest(vmid);
    const std::string vp = vm_path(vmid);
    const char* conf_dir = type == "qemu" ? "qemu-server" : "lxc";
    if (g == nullptr || g->type != type || g->node != node) {
      if (!tok.has(vp, "VM.Audit")) return forbidden(vp, "VM.Audit");
      return error(500, fmt::format("Configuration file 'nodes/{}/{}/{}.conf' does not exist", node,
                                    conf_dir, vmid));
    }
    if (m == "GET" && what == "status/current") {
      if (!tok.has(vp, "VM.Audit")) return forbidden(vp, "VM.Audit");
      Json d = {{"vmid", vmid},
                {"status", g->status},
                {"name", g->name},
                {"uptime", g->status == "running" ? 3600 : 0},
                {"ha", {{"managed", g->ha_managed ? 1 : 0}}}};
      if (type == "qemu") d["qmpstatus"] = g->status;
      if (g->lock) d["lock"] = *g->lock;
      if (g->is_template) d["template"] = 1;
      return ok_data(d);
    }
    if (m == "GET" && what == "config") {
      if (!tok.has(vp, "VM.Audit")) return forbidden(vp, "VM.Audit");
      return ok_data(g->config);
    }
    if (m == "PUT" && what == "config") {
      if (!tok.has(vp, "VM.Config.Options")) return forbidden(vp, "VM.Config.Options");
      if (type == "qemu" && r.params.count("startup") && !tok.has("/", "Sys.Modify")) {
        return forbidden("/", "Sys.Modify");
      }
      if (g->lock) return error(500, fmt::format("VM is locked ({})", *g->lock));
      for (const auto& [k, v] : r.params) {
        if (k == "delete") {
          for (const auto& d : text::split_list(v, ',')) g->config.erase(d);
        } else if (k == "onboot") {
          if (v != "0" && v != "1")
            return bad_param("onboot", "type check ('boolean') failed - got '" + v + "'");
          g->config["onboot"] = std::stoi(v);
        } else if (k == "digest") {
          if (v != g->config.value("digest", "")) {
            return error(
                500, "detected modified configuration - file changed by other user? Try again.");
          }
        } else {
          g->config[k] = v;
        }
      }
      return ok_data(nullptr);
    }
    if (m == "POST" && what == "status/start") {
      if (!tok.has(vp, "VM.PowerMgmt")) return forbidden(vp, "VM.PowerMgmt");
      if (!quorate()) return error(500, "cluster not ready - no quorum?");
      if (g->status == "running" && type == "lxc" && !g->ha_managed) {
        return error(500, fmt::format("CT {} already running", vmid));
      }
      // An HA-managed guest is not started directly: PVE answers with an "hastart" task that
      // asks the HA stack to start it.
      const std::string task_type = g->ha_managed    ? "hastart"
                                    : type == "qemu" ? "qmstart"
                                                     : "vzstart";
      const std::string upid =
          new_task(node, task_type, std::to_string(vmid), tok.id, t_.timing.start_delay_ms);
      auto fail_it = t_.faults.fail_next_start.find(vmid);
      std::string failure = g->status == "running" && !g->ha_managed
                                ? fmt::format("VM {} already running", vmid)
                                : "";
      if (fail_it != t_.faults.fail_next_start.end()) {
        failure = fail_it->second;
        t_.faults.fail_next_start.erase(fail_it);
      } else if (auto many = t_.faults.fail_starts.find(vmid);
                 many != t_.faults.fail_starts.end() && many->second.second > 0) {
        failure = many->second.first;
        if (--many->second.second == 0) t_.faults.fail_starts.erase(many);
      }
      on_finish_[upid] = [this, vmid, failure](Task& task) {
        if (!failure.empty()) {
          task.log.push_back(failure);
          task.exitstatus = failure;
          return;
        }
        if (Guest* gg = find_guest(vmid)) gg->status = "running";
      };
      return ok_data(upid);
    }
    return error(501, fmt::format("Method '{} {}' not implemented", m, p));
  }
  if (m == "POST" && rest == "/vzdump") {
    std::vector<int64_t> vmids;
    for (const auto& s : text::split_list(param(r, "vmid"), ',')) {
      auto v = to_int(s);
      if (!v) return bad_param("vmid", "invalid format - value does not look like a valid VM ID");
      vmids.push_back(*v);
    }
    if (vmids.empty() && param(r, "all") != "1")
      return bad_param("vmid", "property is missing and it is not optional");
    const std::string storage = param(r, "storage", "local");
    for (auto v : vmids) {
      if (!tok.has(vm_path(v), "VM.Backup")) return forbidden(vm_path(v), "VM.Backup");
    }
    if (!tok.has("/storage/" + storage, "Datastore.AllocateSpace")) {
      return forbidden("/storage/" + storage, "Datastore.AllocateSpace");
    }
    std::vector<int64_t> here;
    for (auto v : vmids) {
      if (Guest* g = find_guest(v); g && g->node == node) here.push_back(v);
    }
    if (here.empty()) return ok_data("OK");  // none of them on this node: no task
    // One vzdump per node at a time: a second one waits for the node's lock, as vzdump does,
    // so it ends only after the running one plus its own duration.
    int64_t wait_ms = 0;
    for (const auto& task : t_.tasks) {
      if (task.node != node || task.type != "vzdump" || task.finished) continue;
      auto at = finish_at_ms_.find(task.upid);
      if (at != finish_at_ms_.end()) wait_ms = std::max(wait_ms, at->second - now_ms_);
    }
    const std::string id = here.size() == 1 ? std::to_string(here[0]) : "";
    const std::string upid = new_task(node, "vzdump", id, tok.id,
                                      static_cast<int>(wait_ms) + t_.timing.vzdump_duration_ms);
    std::map<int64_t, std::string> failures;
    for (auto v : here) {
      auto f = t_.faults.fail_next_vzdump.find(v);
      if (f != t_.faults.fail_next_vzdump.end()) {
        failures[v] = f->second;
        t_.faults.fail_next_vzdump.erase(f);
      }
    }
    // After the lock, the guests one after the other, each an equal share of the job's duration.
    const int64_t begin_ms = now_ms_ + wait_ms;
    const int64_t share_ms = t_.timing.vzdump_duration_ms / static_cast<int64_t>(here.size());
    on_finish_[upid] = [this, here, storage, failures, wait_ms, begin_ms, share_ms](Task& task) {
      std::string ids;
      for (auto v : here) ids += (ids.empty() ? "" : " ") + std::to_string(v);
      if (wait_ms > 0) task.log.push_back("INFO: trying to get global lock - waiting...");
      task.log.push_back(
          fmt::format("INFO: starting new backup job: vzdump {} --storage {}", ids, storage));
      bool errors = false;
      for (size_t i = 0; i < here.size(); ++i) {
        const int64_t v = here[i];
        const int64_t started_ms = begin_ms + static_cast<int64_t>(i) * share_ms;
        Guest* g = find_guest(v);
        const std::string type = g ? g->type : "qemu";
        task.log.push_back(fmt::format("INFO: Starting Backup of VM {} ({})", v, type));
        task.log.push_back(fmt::format("INFO: Backup started at {}", log_stamp(started_ms)));
        if (auto f = failures.find(v); f != failures.end()) {
          task.log.push_back(fmt::format("ERROR: Backup of VM {} failed - {}", v, f->second));
          errors = true;
          continue;
        }
        const Storage* st = nullptr;
        for (const auto& s : t_.storages) {
          if (s.id == storage) st = &s;
        }
        BackupVolume b;
        b.storage = storage;
        b.vmid = v;
        b.subtype = type;
        b.ctime = task.endtime;
        b.size = 1536LL * 1024 * 1024;
        b.format = st && st->type == "pbs" ? (type == "qemu" ? "pbs-vm" : "pbs-ct")
                                           : (type == "qemu" ? "vma.zst" : "tar.zst");
        b.volid = st ? backup_volid(*st, type, v, b.ctime)
                     : fmt::format("{}:backup/vzdump-{}-{}.vma.zst", storage, type, v);
        if (g) {
          for (const auto& [k, val] : g->config.items()) {
            if (k != "digest")
              b.guest_config +=
                  fmt::format("{}: {}\n", k, val.is_string() ? val.get<std::string>() : val.dump());
          }
        }
        t_.backups.push_back(b);
        task.log.push_back(
            fmt::format("INFO: Backup finished at {}", log_stamp(started_ms + share_ms)));
        task.log.push_back(fmt::format("INFO: Finished Backup of VM {} ({})", v, hms(share_ms)));
      }
      task.log.push_back(errors ? "INFO: Backup job finished with errors"
                                : "INFO: Backup job finished successfully");
      task.exitstatus = errors ? "job errors" : "OK";
    };
    return ok_data(upid);
  }
  if (m == "GET" && rest == "/tasks") {
    const bool see_all = tok.has("/nodes/" + node, "Sys.Audit");
    const std::string typefilter = param(r, "typefilter");
    const std::string vmid = param(r, "vmid");
    const int64_t limit = to_int(param(r, "limit", "50")).value_or(50);
    const int64_t start = to_int(param(r, "start", "0")).value_or(0);
    const int64_t since = to_int(param(r, "since", "0")).value_or(0);
    std::vector<const Task*> matching;
    for (const auto& task : t_.tasks) {
      if (task.node != node) continue;
      if (!typefilter.empty() && task.type != typefilter) continue;
      if (!vmid.empty() && task.id != vmid) continue;  // drops multi-guest jobs, like PVE
      if (!see_all && task.user != tok.id) continue;
      if (task.starttime < since) continue;
      matching.push_back(&task);
    }
    std::sort(matching.begin(), matching.end(),
              [](const Task* a, const Task* b) { return a->starttime > b->starttime; });
    Json list = Json::array();
    for (int64_t i = start; i < static_cast<int64_t>(matching.size()) && i < start + limit; ++i) {
      const Task& task = *matching[static_cast<size_t>(i)];
      const auto bang = task.user.find('!');
      Json e = {{"upid", task.upid},
                {"node", task.node},
                {"type", task.type},
                {"id", task.id},
                {"user", task.user.substr(0, bang)},
                {"starttime", task.starttime},
                {"pid", 4242},
                {"pstart", 373879}};
      if (bang != std::string::npos) e["tokenid"] = task.user.substr(bang + 1);
      if (task.finished) {
        e["endtime"] = task.endtime;
        e["status"] = task.exitstatus;
      }
      list.push_back(e);
    }
    return ok_data(list);
  }
  std::smatch tm;
  if (m == "GET" && std::regex_match(rest, tm, task_re)) {
    const std::string upid = tm[1];
    const Task* task = nullptr;
    for (const auto& x : t_.tasks) {
      if (x.upid == upid && x.node == node) task = &x;
    }
    if (task == nullptr)
      return error(500, fmt::format("unable to open file - No such file or directory"));
    if (task->user != tok.id && !tok.has("/nodes/" + node, "Sys.Audit")) {
      return forbidden("/nodes/" + node, "Sys.Audit");
    }
    if (std::string(tm[2]) == "status") {
      const auto bang = task->user.find('!');
      Json d = {{"upid", task->upid},
                {"node", task->node},
                {"type", task->type},
                {"id", task->id},
                {"user", task->user.substr(0, bang)},
                {"starttime", task->starttime},
                {"pid", 4242},
                {"pstart", 373879},
                {"status", task->finished ? "stopped" : "running"}};
      if (bang != std::string::npos) d["tokenid"] = task->user.substr(bang + 1);
      if (task->finished) d["exitstatus"] = task->exitstatus;
      return ok_data(d);
    }
    const int64_t start = to_int(param(r, "start", "0")).value_or(0);
    const int64_t limit = to_int(param(r, "limit", "50")).value_or(50);
    Json lines = Json::array();
    for (int64_t i = start; i < static_cast<int64_t>(task->log.size()) && i < start + limit; ++i) {
      lines.push_back({{"n", i + 1}, {"t", task->log[static_cast<size_t>(i)]}});
    }
    if (lines.empty() && task->log.empty()) lines.push_back({{"n", 1}, {"t", "no content"}});
    return ok_data(lines);
  }
  std::smatch cm;
  if (m == "GET" && std::regex_match(rest, cm, content_re)) {
    const std::string storage = cm[1];
    const std::string sp = "/storage/" + storage;
    const Storage* st = nullptr;
    for (const auto& s : t_.storages) {
      if (s.id == storage && s.on_node(node)) st = &s;
    }
    if (st == nullptr) return error(500, fmt::format("storage '{}' does not exist", storage));
    if (!tok.has(sp, "Datastore.Audit") && !tok.has(sp, "Datastore.AllocateSpace")) {
      return forbidden(sp, "Datastore.Audit|Datastore.AllocateSpace");
    }
    const std::string content = param(r, "content");
    const auto vmid = to_int(param(r, "vmid"));
    Json list = Json::array();
    if (content.empty() || content == "backup") {
      for (const auto& b : t_.backups) {
        if (b.storage != storage) continue;
        if (vmid && b.vmid != *vmid) continue;
        // Backups are silently left out unless the token may see them.
        const bool visible =
            tok.has(sp, "Datastore.Allocate") ||
            (tok.has(sp, "Datastore.AllocateSpace") && tok.has(vm_path(b.vmid), "VM.Backup"));
        if (!visible) continue;
        Json e = {{"volid", b.volid},    {"content", "backup"}, {"vmid", b.vmid},
                  {"ctime", b.ctime},    {"size", b.size},      {"format", b.format},
                  {"subtype", b.subtype}};
        if (!b.notes.empty()) e["notes"] = b.notes;
        if (b.is_protected) e["protected"] = 1;
        if (st->type == "pbs" && b.verification) {
          e["verification"] = {{"state", *b.verification},
                               {"upid", make_upid("pbs", "verificationjob", "store1:v-1",
                                                  "root@pam", b.ctime + 3600, 77)}};
        }
        list.push_back(e);
      }
    }
    return ok_data(list);
  }
  if (m == "GET" && rest == "/vzdump/extractconfig") {
    const std::string volume = param(r, "volume");
    if (volume.empty()) return bad_param("volume", "property is missing and it is not optional");
    for (const auto& b : t_.backups) {
      if (b.volid != volume) continue;
      const std::string sp = "/storage/" + b.storage;
      if (!tok.has(sp, "Datastore.Allocate") &&
          !(tok.has(sp, "Datastore.AllocateSpace") && tok.has(vm_path(b.vmid), "VM.Backup"))) {
        return forbidden(sp, "Datastore.AllocateSpace");
      }
      if (b.unreadable) {
        return error(500, fmt::format("command 'zstd -q -d -c ...' failed: exit code 1 (unable "
                                      "to read the archive of {})",
                                      volume));
      }
      return ok_data(b.guest_config);
    }
    return error(500, fmt::format("volume '{}' does not exist", volume));
  }
  return error(501, fmt::format("Method '{} {}' not implemented", m, p));
}

namespace {

std::optional<bool> pve_bool(const std::string& v) {
  static const std::set<std::string> yes = {"1", "true", "yes", "on"},
                                     no = {"0", "false", "no", "off"};
  std::string l;
  for (char c : v) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (yes.count(l)) return true;
  if (no.count(l)) return false;
  return std::nullopt;
}

// raise_perm_exc() without a path, as an "or" of permission checks answers.
SimResponse forbidden_plain() { return error(403, "Permission check failed"); }

std::string uuid(std::mt19937& rng) {
  std::uniform_int_distribution<int> hex(0, 15);
  std::string out;
  for (int i = 0; i < 36; ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      out += '-';
    } else if (i == 14) {
      out += '4';
    } else {
      out += "0123456789abcdef"[i == 19 ? 8 + hex(rng) % 4 : hex(rng)];
    }
  }
  return out;
}

Json token_info(const ApiToken& t) {
  Json j = {{"privsep", t.privsep ? 1 : 0}, {"expire", t.expire}};
  if (!t.comment.empty()) j["comment"] = t.comment;
  return j;
}

}  // namespace

// The access API as pve-access-control has it (PVE/API2/{AccessControl,User,Role,ACL}.pm):
// the permission check first, then the parameters, then the change ("... failed: " prefixed
// errors from inside the user.cfg lock as 500).
SimResponse Simulator::access_api(const SimRequest& r, const Caller& tok) {
  static const std::regex token_re(R"(^/access/users/([^/]+)/token(?:/([^/]+))?$)");
  const std::string& m = r.method;
  const std::string& p = r.path;
  Access& a = access_;

  if (m == "GET" && p == "/access/permissions") {
    std::string subject = tok.id;
    if (auto u = r.params.find("userid"); u != r.params.end()) {
      if (!tok.has("/access", "Sys.Audit")) return forbidden("/access", "Sys.Audit");
      subject = u->second;
    }
    if (auto path = r.params.find("path"); path != r.params.end() && !path->second.empty()) {
      Json set = Json::object();
      for (const auto& [priv, propagate] : a.permissions(subject, path->second))
        set[priv] = propagate ? 1 : 0;
      return ok_data({{path->second, set}});
    }
    return ok_data(a.effective_permissions(subject));
  }

  if (m == "GET" && p == "/access/roles") {
    Json list = Json::array();
    for (const auto& [id, privs] : a.roles) {
      std::string joined;
      for (const auto& pr : privs) joined += (joined.empty() ? "" : ",") + pr;
      list.push_back({{"roleid", id},
                      {"privs", joined},
                      {"special", Access::builtin_roles().count(id) ? 1 : 0}});
    }
    return ok_data(list);
  }
  if (m == "POST" && p == "/access/roles") {
    if (!tok.has("/access", "Sys.Modify")) return forbidden("/access", "Sys.Modify");
    const std::string role = param(r, "roleid");
    if (role.empty()) return bad_param("roleid", "property is missing and it is not optional");
    for (char c : role) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_')
        return bad_param("roleid",
                         "invalid format - role name '" + role + "' contains invalid characters");
    }
    const auto privs = pve_list(param(r, "privs"));
    for (const auto& pr : privs) {
      if (!Access::valid_privileges().count(pr))
        return bad_param("privs", "invalid format - invalid privilege '" + pr + "'");
    }
    if (role.size() >= 3 && std::tolower(static_cast<unsigned char>(role[0])) == 'p' &&
        std::tolower(static_cast<unsigned char>(role[1])) == 'v' &&
        std::tolower(static_cast<unsigned char>(role[2])) == 'e') {
      return bad_param("roleid",
                       "cannot use role ID starting with the (case-insensitive) 'PVE' namespace");
    }
    if (a.roles.count(role))
      return error(500, "create role failed: role '" + role + "' already exists");
    a.roles[role] = {privs.begin(), privs.end()};
    return ok_data(nullptr);
  }

  if (m == "GET" && p == "/access/users") {
    const bool all =
        tok.has("/access/groups", "User.Modify") || tok.has("/access/groups", "Sys.Audit");
    const bool full = pve_bool(param(r, "full", "0")).value_or(false);
    Json list = Json::array();
    for (const auto& [id, u] : a.users) {
      if (!all && id != tok.id) continue;
      Json e = {{"userid", id}, {"enable", u.enable ? 1 : 0}, {"expire", u.expire}};
      if (!u.comment.empty()) e["comment"] = u.comment;
      if (!u.email.empty()) e["email"] = u.email;
      if (!u.firstname.empty()) e["firstname"] = u.firstname;
      if (!u.lastname.empty()) e["lastname"] = u.lastname;
      const std::string realm = id.substr(id.rfind('@') + 1);
      if (realm == "pam" || realm == "pve") e["realm-type"] = realm;
      if (full) {
        e["groups"] = "";
        Json tokens = Json::array();
        for (const auto& [tid, t] : a.tokens) {
          if (t.user != id) continue;
          Json ti = token_info(t);
          ti["tokenid"] = t.name;
          tokens.push_back(ti);
        }
        if (!tokens.empty()) e["tokens"] = tokens;
      }
      list.push_back(e);
    }
    return ok_data(list);
  }
  if (m == "POST" && p == "/access/users") {
    const std::string userid = param(r, "userid");
    if (userid.empty()) return bad_param("userid", "property is missing and it is not optional");
    if (!Access::valid_userid(userid))
      return bad_param(
          "userid", "invalid format - value '" + userid + "' does not look like a valid user name");
    const std::string realm_path = "/access/realm/" + userid.substr(userid.rfind('@') + 1);
    if (!tok.has(realm_path, "Realm.AllocateUser"))
      return forbidden(realm_path, "Realm.AllocateUser");
    if (r.params.count("groups")) {
      return error(
          500, "create user failed: no such group '" + pve_list(param(r, "groups")).front() + "'");
    }
    if (!tok.has("/access/groups", "User.Modify"))
      return forbidden("/access/groups", "User.Modify");
    User u;
    u.id = userid;
    if (r.params.count("enable")) {
      auto b = pve_bool(param(r, "enable"));
      if (!b)
        return bad_param("enable",
                         "type check ('boolean') failed - got '" + param(r, "enable") + "'");
      u.enable = *b;
    }
    if (r.params.count("expire")) {
      auto e = to_int(param(r, "expire"));
      if (!e || *e < 0)
        return bad_param("expire",
                         "type check ('integer') failed - got '" + param(r, "expire") + "'");
      u.expire = *e;
    }
    u.comment = param(r, "comment");
    u.email = param(r, "email");
    u.firstname = param(r, "firstname");
    u.lastname = param(r, "lastname");
    if (a.users.count(userid))
      return error(500, "create user failed: user '" + userid + "' already exists");
    a.users[userid] = u;
    return ok_data(nullptr);
  }
  std::smatch tm;
  if (std::regex_match(p, tm, token_re)) {
    const std::string userid = tm[1];
    const std::string name = tm[2];
    // ["or", ["userid-param", "self"], ["userid-group", ["User.Modify"]]]: both need the user.
    if (!a.users.count(userid) || !tok.has("/access/groups", "User.Modify"))
      return forbidden_plain();
    if (m == "GET" && name.empty()) {
      Json list = Json::array();
      for (const auto& [tid, t] : a.tokens) {
        if (t.user != userid) continue;
        Json ti = token_info(t);
        ti["tokenid"] = t.name;
        list.push_back(ti);
      }
      return ok_data(list);
    }
    if (!Access::valid_token_name(name))
      return bad_param("tokenid", "value does not match the regex pattern");
    const std::string full = userid + "!" + name;
    if (m == "GET") {
      auto t = a.tokens.find(full);
      if (t == a.tokens.end())
        return error(500, "no such token '" + name + "' for user '" + userid + "'");
      return ok_data(token_info(t->second));
    }
    if (m == "POST") {
      ApiToken t;
      t.user = userid;
      t.name = name;
      for (const char* k : {"privsep"}) {
        if (!r.params.count(k)) continue;
        auto b = pve_bool(param(r, k));
        if (!b) return bad_param(k, "type check ('boolean') failed - got '" + param(r, k) + "'");
        t.privsep = *b;
      }
      if (r.params.count("expire")) {
        auto e = to_int(param(r, "expire"));
        if (!e || *e < 0)
          return bad_param("expire",
                           "type check ('integer') failed - got '" + param(r, "expire") + "'");
        t.expire = *e;
      }
      t.comment = param(r, "comment");
      if (a.tokens.count(full)) return bad_param("tokenid", "Token already exists.");
      t.secret = uuid(rng_);
      a.tokens[full] = t;
      Json info = {{"privsep", t.privsep ? 1 : 0}};
      if (r.params.count("expire")) info["expire"] = t.expire;
      if (!t.comment.empty()) info["comment"] = t.comment;
      return ok_data({{"full-tokenid", full}, {"info", info}, {"value", t.secret}});
    }
  }

  if (m == "GET" && p == "/access/acl") {
    const bool audit = tok.has("/access", "Sys.Audit");
    Json list = Json::array();
    for (const auto& [path, node] : a.acl) {
      if (!audit && !tok.has(path, "Permissions.Modify")) {
        const bool sub = (path.rfind("/vms/", 0) == 0 && tok.has(path, "VM.Allocate")) ||
                         (path.rfind("/storage/", 0) == 0 && tok.has(path, "Datastore.Allocate")) ||
                         (path.rfind("/pool/", 0) == 0 && tok.has(path, "Pool.Allocate"));
        if (!sub) continue;
      }
      for (const auto& [type, subjects] :
           {std::pair{"user", &node.users}, std::pair{"token", &node.tokens}}) {
        for (const auto& [id, roles] : *subjects) {
          for (const auto& [role, propagate] : roles) {
            list.push_back({{"path", path},
                            {"type", type},
                            {"ugid", id},
                            {"roleid", role},
                            {"propagate", propagate ? 1 : 0}});
          }
        }
      }
    }
    return ok_data(list);
  }
  if (m == "PUT" && p == "/access/acl") {
    const std::string raw_path = param(r, "path");
    const auto path = Access::normalize_path(raw_path);
    if (!path) return forbidden_plain();
    // perm-modify: Permissions.Modify, or what owns the object below /vms, /storage, /pool.
    std::vector<std::string> may = {"Permissions.Modify"};
    if (path->rfind("/storage/", 0) == 0) may.push_back("Datastore.Allocate");
    if (path->rfind("/vms/", 0) == 0) may.push_back("VM.Allocate");
    if (path->rfind("/pool/", 0) == 0) may.push_back("Pool.Allocate");
    bool allowed = false;
    for (const auto& pr : may) allowed |= tok.has(*path, pr);
    if (!allowed) {
      std::string any;
      for (const auto& pr : may) any += (any.empty() ? "" : "|") + pr;
      return forbidden(*path, any);
    }
    if (!r.params.count("roles"))
      return bad_param("roles", "property is missing and it is not optional");
    bool propagate = true, remove = false;
    for (auto [k, target] : {std::pair{"propagate", &propagate}, std::pair{"delete", &remove}}) {
      if (!r.params.count(k)) continue;
      auto b = pve_bool(param(r, k));
      if (!b) return bad_param(k, "type check ('boolean') failed - got '" + param(r, k) + "'");
      *target = *b;
    }
    const auto roles = pve_list(param(r, "roles"));
    const auto users = pve_list(param(r, "users"));
    const auto groups = pve_list(param(r, "groups"));
    const auto tokens = pve_list(param(r, "tokens"));
    for (const auto& u : users) {
      if (!Access::valid_userid(u))
        return bad_param("users",
                         "invalid format - value '" + u + "' does not look like a valid user name");
    }
    for (const auto& t : tokens) {
      const auto bang = t.find('!');
      if (bang == std::string::npos || !Access::valid_userid(t.substr(0, bang)) ||
          !Access::valid_token_name(t.substr(bang + 1)))
        return bad_param("tokens",
                         "invalid format - value '" + t + "' does not look like a valid token ID");
    }
    if (users.empty() && groups.empty() && tokens.empty()) {
      SimResponse res = error(400, "Parameter verification failed.");
      const std::string msg = "either 'users', 'groups' or 'tokens' is required.\n";
      res.body = Json{{"data", nullptr},
                      {"message", "Parameter verification failed.\n"},
                      {"errors", {{"users", msg}, {"groups", msg}, {"tokens", msg}}}}
                     .dump();
      return res;
    }
    if (!remove && !Access::valid_acl_path(*path))
      return bad_param("path", "invalid ACL path '" + raw_path + "'");
    const std::string failed = "ACL update failed: ";
    const Privileges mine = a.permissions(tok.id, *path);
    std::vector<std::tuple<bool, std::string, std::string>> changes;  // token?, subject, role
    for (const auto& role : roles) {
      auto rit = a.roles.find(role);
      if (rit == a.roles.end()) return error(500, failed + "role '" + role + "' does not exist");
      if (!mine.count("Permissions.Modify")) {
        // Without Permissions.Modify only a subset of one's own privileges may be handed out.
        const std::string verb = remove ? "remove" : "add";
        auto refuse = [&](const std::string& why) {
          return error(500, failed + "400 Parameter verification failed.\nrole: Cannot " + verb +
                                " role '" + role + "' - " + why);
        };
        for (const auto& pr : rit->second) {
          auto own = mine.find(pr);
          if (own == mine.end())
            return refuse("requires 'Permissions.Modify' or superset of privileges.");
          if (propagate && !own->second && !remove)
            return refuse(
                "with propagation - requires 'Permissions.Modify' or propagated superset of "
                "privileges.");
        }
        if (role == "NoAccess") return refuse("requires 'Permissions.Modify'");
      }
      if (!groups.empty())
        return error(500, failed + "group '" + groups.front() + "' does not exist");
      for (const auto& u : users) {
        if (!a.users.count(u)) return error(500, failed + "user '" + u + "' does not exist");
        changes.emplace_back(false, u, role);
      }
      for (const auto& t : tokens) {
        const std::string user = t.substr(0, t.find('!'));
        if (!a.users.count(user)) return error(500, failed + "no such user ('" + user + "')");
        if (!a.tokens.count(t)) {
          return error(500, failed + "no such token '" + t.substr(t.find('!') + 1) +
                                "' for user '" + user + "'");
        }
        changes.emplace_back(true, t, role);
      }
    }
    for (const auto& [is_token, subject, role] : changes) {
      if (remove) {
        auto node = a.acl.find(*path);
        if (node == a.acl.end()) continue;
        auto& subjects = is_token ? node->second.tokens : node->second.users;
        if (auto s = subjects.find(subject); s != subjects.end()) {
          s->second.erase(role);
          if (s->second.empty()) subjects.erase(s);
        }
      } else {
        a.grant(*path, is_token, subject, role, propagate);
      }
    }
    return ok_data(nullptr);
  }
  return error(501, fmt::format("Method '{} {}' not implemented", m, p));
}

SimResponse Simulator::restore_guest(const SimRequest& r, const Caller& tok,
                                     const std::string& node, const std::string& type) {
  // qemu names the archive "archive", lxc "ostemplate" with restore=1.
  const std::string archive = type == "qemu" ? param(r, "archive") : param(r, "ostemplate");
  if (archive.empty() || (type == "lxc" && param(r, "restore") != "1")) {
    return error(501,
                 "pvesim: only restores are simulated (archive=, or ostemplate= with "
                 "restore=1)");
  }
  const auto vmid = to_int(param(r, "vmid"));
  if (!vmid || *vmid < 100) {
    return bad_param("vmid", "invalid format - value does not look like a valid VM ID");
  }
  const std::string vp = vm_path(*vmid);
  if (!tok.has(vp, "VM.Allocate")) return forbidden(vp, "VM.Allocate");
  const BackupVolume* backup = nullptr;
  for (const auto& b : t_.backups) {
    if (b.volid == archive) backup = &b;
  }
  if (backup == nullptr) return error(500, fmt::format("volume '{}' does not exist", archive));
  const std::string bsp = "/storage/" + backup->storage;
  if (!tok.has(bsp, "Datastore.Allocate") &&
      !(tok.has(bsp, "Datastore.AllocateSpace") && tok.has(vm_path(backup->vmid), "VM.Backup"))) {
    return forbidden(bsp, "Datastore.AllocateSpace");
  }
  if (backup->subtype != type) {
    return error(500, fmt::format("unable to restore {} {} - archive '{}' is a {} backup",
                                  type == "qemu" ? "VM" : "CT", *vmid, archive, backup->subtype));
  }
  const std::string storage = param(r, "storage", "local");
  const Storage* target = nullptr;
  for (const auto& st : t_.storages) {
    if (st.id == storage && st.on_node(node)) target = &st;
  }
  if (target == nullptr) return error(500, fmt::format("storage '{}' does not exist", storage));
  if (!tok.has("/storage/" + storage, "Datastore.AllocateSpace"))
    return forbidden("/storage/" + storage, "Datastore.AllocateSpace");
  const char* content = type == "qemu" ? "images" : "rootdir";
  if (!target->has_content(content)) {
    return error(500, fmt::format("storage '{}' does not support {}", storage,
                                  type == "qemu" ? "vm images" : "container directories"));
  }
  if (const Guest* taken = find_guest(*vmid)) {
    return error(500, fmt::format("unable to restore {} {} - VM {} already exists on node '{}'",
                                  type == "qemu" ? "VM" : "CT", *vmid, *vmid, taken->node));
  }
  // As PVE: the guest exists, locked, from the moment the restore starts.
  // Volume names as the storage types make them: containers get subvolumes on ZFS and
  // directories, everything else "vm-ID-disk-N".
  const bool subvol = type == "lxc" && (target->type == "zfspool" || target->type == "dir");
  RestoredConfig restored =
      restored_config(backup->guest_config, type, *vmid, storage, subvol ? "subvol" : "vm",
                      param(r, "unique") == "1", rng_);
  Guest g;
  g.vmid = *vmid;
  g.type = type;
  g.node = node;
  g.name = restored.config.value(type == "qemu" ? "name" : "hostname", "");
  g.lock = "create";
  g.config = {{"lock", "create"}};
  t_.guests.push_back(g);

  const std::string upid = new_task(node, type == "qemu" ? "qmrestore" : "vzrestore",
                                    std::to_string(*vmid), tok.id, t_.timing.restore_duration_ms);
  std::string failure;
  if (auto f = t_.faults.fail_next_restore.find(*vmid); f != t_.faults.fail_next_restore.end()) {
    failure = f->second;
    t_.faults.fail_next_restore.erase(f);
  }
  const BackupVolume source = *backup;
  on_finish_[upid] = [this, source, storage, type, restored, failure, vmid = *vmid,
                      upid](Task& task) {
    Guest* gg = find_guest(vmid);
    const bool stopped = stopped_.erase(upid) > 0;
    const bool fails = stopped || !failure.empty();
    // What qmrestore (from PBS) and vzrestore write, cut short where a failure strikes.
    if (type == "qemu") {
      task.log.push_back(
          fmt::format("restore proxmox backup image: /usr/bin/pbs-restore "
                      "--repository pvt@pbs@pbs.example.lan:store1 {}",
                      source.volid));
      for (int d = 0; d < restored.disks; ++d)
        task.log.push_back(fmt::format("new volume ID is '{}'", restored.volumes[d]));
      task.log.push_back("progress 50% (read 4294967296 bytes, duration 1 sec)");
      if (!fails) {
        task.log.push_back("progress 100% (read 8589934592 bytes, duration 2 sec)");
        task.log.push_back(
            "restore image complete (bytes=8589934592, duration=2.00s, speed=4096.00MB/s)");
        task.log.push_back("rescan volumes...");
      } else {
        task.log.push_back(
            fmt::format("error before or during data restore, some or all disks "
                        "were not completely restored. VM {} state is NOT "
                        "cleaned up.",
                        vmid));
      }
    } else {
      task.log.push_back(fmt::format("recovering backed-up configuration from '{}'", source.volid));
      for (int d = 0; d < restored.disks; ++d) {
        const auto& v = restored.volumes[d];
        task.log.push_back(
            fmt::format("  Logical volume \"{}\" created.", v.substr(v.find(':') + 1)));
      }
      task.log.push_back("Creating filesystem with 1048576 4k blocks and 262144 inodes");
      task.log.push_back(fmt::format("restoring '{}' now..", source.volid));
      if (!fails) {
        task.log.push_back("merging backed-up and given configuration..");
        task.log.push_back("Detected container architecture: amd64");
      } else {
        task.log.push_back("error: unpacking the archive stopped midway");
      }
    }
    if (fails) {
      // Midway: some disks written, the config as far as it got; the lock is gone.
      task.exitstatus = fmt::format("unable to restore {} {} - {}", type == "qemu" ? "VM" : "CT",
                                    vmid, stopped ? "interrupted by signal" : failure);
    }
    if (gg) {
      gg->lock.reset();
      gg->config = restored.config;
    }
  };
  return ok_data(upid);
}

SimResponse Simulator::destroy_guest(const SimRequest& r, const Caller& tok, Guest& g) {
  const std::string vp = vm_path(g.vmid);
  if (!tok.has(vp, "VM.Allocate")) return forbidden(vp, "VM.Allocate");
  const char* what = g.type == "qemu" ? "VM" : "CT";
  if (g.lock) return error(500, fmt::format("{} is locked ({})", what, *g.lock));
  if (g.status == "running") {
    return error(500, fmt::format("{} {} is running - destroy failed", what, g.vmid));
  }
  if (g.config.value("protection", 0) == 1) {
    return error(500, fmt::format("can't remove {} {} - protection mode enabled", what, g.vmid));
  }
  const int64_t vmid = g.vmid;
  const std::string upid = new_task(g.node, g.type == "qemu" ? "qmdestroy" : "vzdestroy",
                                    std::to_string(vmid), tok.id, t_.timing.destroy_duration_ms);
  std::string failure;
  if (auto f = t_.faults.fail_next_destroy.find(vmid); f != t_.faults.fail_next_destroy.end()) {
    failure = f->second;
    t_.faults.fail_next_destroy.erase(f);
  }
  const bool purge = param(r, "purge") == "1";
  on_finish_[upid] = [this, vmid, failure, purge](Task& task) {
    if (!failure.empty()) {
      task.exitstatus = failure;
      return;
    }
    for (auto it = t_.guests.begin(); it != t_.guests.end(); ++it) {
      if (it->vmid != vmid) continue;
      for (const auto& [k, v] : it->config.items()) {
        if (v.is_string() &&
            v.get<std::string>().find("-" + std::to_string(vmid) + "-disk-") != std::string::npos) {
          const std::string volume = v.get<std::string>().substr(0, v.get<std::string>().find(','));
          task.log.push_back(fmt::format("  Logical volume \"{}\" successfully removed.",
                                         volume.substr(volume.find(':') + 1)));
        }
      }
      t_.guests.erase(it);
      break;
    }
    if (purge) task.log.push_back(fmt::format("purging VM {} from related configurations..", vmid));
  };
  return ok_data(upid);
}

SimResponse Simulator::stop_task(const Caller& tok, const std::string& node,
                                 const std::string& upid) {
  for (auto& task : t_.tasks) {
    if (task.upid != upid || task.node != node) continue;
    if (task.user != tok.id && !tok.has("/nodes/" + node, "Sys.Modify"))
      return forbidden("/nodes/" + node, "Sys.Modify");
    if (!task.finished) {
      stopped_.insert(upid);
      finish_at_ms_[upid] = now_ms_;  // ends with the next request
    }
    return ok_data(nullptr);
  }
  return error(500, "unable to parse worker upid '" + upid + "'");
}

SimResponse Simulator::admin(const std::string& method, const std::string& path,
                             const std::string& body) {
  std::lock_guard lock(mu_);
  if (method == "GET" && path == "/_sim/state") {
    // As of now: tasks due by the clock's time have ended, as a PVE request would see them.
    set_time(clock_.now());
    finish_due_tasks();
    Json guests = Json::array();
    for (const auto& g : t_.guests) {
      guests.push_back(
          {{"vmid", g.vmid}, {"node", g.node}, {"status", g.status}, {"config", g.config}});
    }
    return SimResponse{
        200, "OK",
        Json{{"guests", guests}, {"tasks", t_.tasks.size()}, {"backups", t_.backups.size()}}.dump(),
        0};
  }
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return SimResponse{400, "Bad Request", R"({"error":"body must be a JSON object"})", 0};
  if (method == "POST" && path == "/_sim/faults") {
    auto& f = t_.faults;
    if (j.contains("latency_ms")) f.latency_ms = j["latency_ms"].get<int>();
    if (j.contains("error_rate")) f.error_rate = j["error_rate"].get<double>();
    if (j.contains("offline_nodes"))
      f.offline_nodes = j["offline_nodes"].get<std::set<std::string>>();
    if (j.contains("quorum_lost")) f.quorum_lost = j["quorum_lost"].get<bool>();
    if (j.contains("garbage_paths"))
      f.garbage_paths = j["garbage_paths"].get<std::vector<std::string>>();
    if (j.contains("fail_next_vzdump")) {
      for (const auto& [k, v] : j["fail_next_vzdump"].items())
        f.fail_next_vzdump[std::stoll(k)] = v.get<std::string>();
    }
    if (j.contains("fail_starts")) {
      for (const auto& [k, v] : j["fail_starts"].items()) {
        f.fail_starts[std::stoll(k)] = {v.at("message").get<std::string>(),
                                        v.at("count").get<int>()};
      }
    }
    for (auto [key, target] : {std::pair{"fail_next_start", &f.fail_next_start},
                               std::pair{"fail_next_restore", &f.fail_next_restore},
                               std::pair{"fail_next_destroy", &f.fail_next_destroy}}) {
      if (!j.contains(key)) continue;
      for (const auto& [k, v] : j[key].items()) (*target)[std::stoll(k)] = v.get<std::string>();
    }
    return SimResponse{200, "OK", R"({"ok":true})", 0};
  }
  static const std::regex guest_re(R"(^/_sim/guest/(\d+)$)");
  std::smatch gm;
  if (method == "POST" && std::regex_match(path, gm, guest_re)) {
    Guest* g = find_guest(std::stoll(gm[1]));
    if (!g) return SimResponse{404, "Not Found", R"({"error":"no such guest"})", 0};
    if (j.contains("status")) g->status = j["status"].get<std::string>();
    if (j.contains("node")) g->node = j["node"].get<std::string>();
    if (j.contains("ha_managed")) g->ha_managed = j["ha_managed"].get<bool>();
    if (j.contains("lock")) {
      if (j["lock"].is_null()) {
        g->lock.reset();
        g->config.erase("lock");
      } else {
        g->lock = j["lock"].get<std::string>();
        g->config["lock"] = *g->lock;
      }
    }
    if (j.contains("config")) {
      for (const auto& [k, v] : j["config"].items()) {
        if (v.is_null())
          g->config.erase(k);
        else
          g->config[k] = v;
      }
    }
    return SimResponse{200, "OK", R"({"ok":true})", 0};
  }
  return SimResponse{404, "Not Found", R"({"error":"unknown admin path"})", 0};
}

}  // namespace pvt::sim
