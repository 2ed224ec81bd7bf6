// A synthetic cluster of N guests over a few nodes, as the PVE API would describe it: the
// answers check reads, keyed by request path, so the benchmark measures parsing and rules, not
// the network.
#pragma once

#include <map>
#include <string>

namespace pvt::bench {

struct SyntheticCluster {
  // "GET /cluster/resources?type=vm" style keys -> raw JSON bodies
  std::map<std::string, std::string> bodies;
};

// `guests` guests spread over 8 nodes; the two configured tunnel guests (110 on pve1, 210 on
// pve2) are among them.
SyntheticCluster make_cluster(int guests);

// The body of GET /cluster/resources?type=vm alone (the part that grows with the cluster).
std::string vm_resources_body(int guests);

}  // namespace pvt::bench
