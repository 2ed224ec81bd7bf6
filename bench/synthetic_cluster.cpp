#include "bench/synthetic_cluster.h"

#include <nlohmann/json.hpp>

namespace pvt::bench {
namespace {

using Json = nlohmann::json;
constexpr int kNodes = 8;

std::string node_name(int i) { return "pve" + std::to_string(i % kNodes + 1); }

std::string data(const Json& j) { return Json{{"data", j}}.dump(); }

}  // namespace

std::string vm_resources_body(int guests) {
  Json list = Json::array();
  for (int i = 0; i < guests; ++i) {
    // The two configured tunnel guests are always there (first), whatever the size.
    int vmid = i == 0 ? 110 : i == 1 ? 210 : 100 + i + (100 + i >= 110) + (100 + i >= 209);
    bool lxc = vmid % 2 == 0;
    std::string node = vmid == 110 ? "pve1" : vmid == 210 ? "pve2" : node_name(i);
    if (vmid == 210) lxc = true;
    if (vmid == 110) lxc = false;
    // Shapes as the real API sends them: numbers, "template" only when set, status strings.
    Json g = {{"id", std::string(lxc ? "lxc/" : "qemu/") + std::to_string(vmid)},
              {"type", lxc ? "lxc" : "qemu"},
              {"vmid", vmid},
              {"name", (lxc ? "ct" : "vm") + std::to_string(vmid)},
              {"node", node},
              {"status", i % 7 == 0 ? "stopped" : "running"},
              {"maxmem", 2147483648LL},
              {"mem", 1073741824LL},
              {"maxcpu", 2},
              {"cpu", 0.0123},
              {"maxdisk", 34359738368LL},
              {"disk", 0},
              {"uptime", 3600},
              {"netin", 123456},
              {"netout", 654321},
              {"diskread", 0},
              {"diskwrite", 0}};
    if (i % 50 == 0) g["template"] = 1;
    if (i % 97 == 0) g["lock"] = "backup";
    list.push_back(std::move(g));
  }
  return data(list);
}

SyntheticCluster make_cluster(int guests) {
  SyntheticCluster c;
  c.bodies["/version"] = data({{"version", "8.2.4"}, {"release", "8.2"}, {"repoid", "faa83925"}});
  Json status = Json::array();
  status.push_back({{"type", "cluster"},
                    {"id", "cluster"},
                    {"name", "big"},
                    {"nodes", kNodes},
                    {"quorate", 1},
                    {"version", 12}});
  Json nodes = Json::array();
  for (int n = 0; n < kNodes; ++n) {
    std::string name = "pve" + std::to_string(n + 1);
    status.push_back({{"type", "node"},
                      {"id", "node/" + name},
                      {"name", name},
                      {"nodeid", n + 1},
                      {"ip", "192.0.2." + std::to_string(n + 1)},
                      {"online", 1},
                      {"local", n == 0 ? 1 : 0},
                      {"level", ""}});
    nodes.push_back(
        {{"node", name}, {"status", "online"}, {"type", "node"}, {"id", "node/" + name}});
  }
  c.bodies["/cluster/status"] = data(status);
  c.bodies["/nodes"] = data(nodes);
  c.bodies["/cluster/config/qdevice"] = data(Json::object());
  c.bodies["/cluster/resources?type=vm"] = vm_resources_body(guests);
  Json storages = Json::array();
  for (int n = 0; n < kNodes; ++n) {
    std::string name = "pve" + std::to_string(n + 1);
    storages.push_back({{"id", "storage/" + name + "/pbs1"},
                        {"type", "storage"},
                        {"storage", "pbs1"},
                        {"node", name},
                        {"plugintype", "pbs"},
                        {"content", "backup"},
                        {"status", "available"},
                        {"shared", 1}});
  }
  c.bodies["/cluster/resources?type=storage"] = data(storages);
  c.bodies["/storage"] = data(Json::array({{{"storage", "pbs1"},
                                            {"type", "pbs"},
                                            {"content", "backup"},
                                            {"shared", 1},
                                            {"prune-backups", "keep-last=3,keep-weekly=4"}}}));
  c.bodies["/cluster/backup"] = data(Json::array({{{"id", "backup-all"},
                                                   {"type", "vzdump"},
                                                   {"schedule", "sun 01:00"},
                                                   {"all", 1},
                                                   {"storage", "pbs1"},
                                                   {"mode", "snapshot"}}}));
  c.bodies["/access/permissions"] = data({{"/",
                                           {{"Sys.Audit", 1},
                                            {"VM.Audit", 1},
                                            {"Datastore.Audit", 1},
                                            {"Pool.Audit", 1},
                                            {"Datastore.AllocateSpace", 1},
                                            {"VM.Backup", 1}}}});
  return c;
}

}  // namespace pvt::bench
