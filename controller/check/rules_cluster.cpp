// The rules about the API connection and the cluster as a whole.
#include <fmt/format.h>

#include <algorithm>

#include "controller/check/rules_internal.h"

namespace pvt::check::detail {

using report::Status;

void rule_pve_tls(const config::Config& cfg, Builder& b) {
  if (cfg.pve && cfg.pve->insecure) {
    b.add("pve.tls", "cluster", Status::warning, opt("insecure"), opt("verified"),
          "insecure = true: the API's certificate is not verified, so anyone on the path can "
          "read the token",
          "copy /etc/pve/pve-root-ca.pem from a node and set ca_file to it (or pin each node's "
          "fingerprint), then remove insecure",
          "certificate not verified (insecure = true)");
  } else if (cfg.pve) {
    b.add("pve.tls", "cluster", Status::ok,
          opt(cfg.pve->ca_file ? "verified (ca_file)" : "verified (pinned fingerprint)"),
          opt("verified"),
          cfg.pve->ca_file ? "certificate verified against " + *cfg.pve->ca_file
                           : "certificate pinned by fingerprint");
  }
}

void rule_cluster_quorum(const Read<pve::ClusterStatus>& cluster, Builder& b) {
  if (!cluster) {
    b.add("cluster.quorum", "cluster", Status::unknown, std::nullopt, opt("quorate"),
          "cannot read cluster status: " + cluster.error().describe());
  } else if (!cluster->is_cluster) {
    b.add("cluster.quorum", "cluster", Status::ok, opt("standalone"), opt("quorate"),
          "standalone node: no cluster quorum to lose");
  } else if (!cluster->quorate) {
    b.add("cluster.quorum", "cluster", Status::unknown, std::nullopt, opt("1"),
          "the cluster status has no quorate flag");
  } else if (*cluster->quorate) {
    b.add("cluster.quorum", "cluster", Status::ok, opt("1"), opt("1"),
          fmt::format("cluster {} is quorate", cluster->cluster_name));
  } else {
    b.add("cluster.quorum", "cluster", Status::critical, opt("0"), opt("1"),
          fmt::format("cluster {} is not quorate: guests cannot be started or changed",
                      cluster->cluster_name),
          "check corosync with `pvecm status`; bring the missing nodes back (or, on a "
          "two-node cluster, temporarily `pvecm expected 1`)");
  }
}

void rule_cluster_two_node(const Read<pve::ClusterStatus>& cluster,
                           const Read<pve::QDevice>& qdevice, Builder& b) {
  if (!cluster) {
    b.add("cluster.two_node", "cluster", Status::unknown, std::nullopt, std::nullopt,
          "cannot read cluster status: " + cluster.error().describe());
    return;
  }
  if (!cluster->is_cluster) {
    b.add("cluster.two_node", "cluster", Status::ok, opt("standalone"), std::nullopt,
          "standalone node");
    return;
  }
  const auto& nodes = cluster->nodes;
  const auto n = nodes.size();
  const auto online = std::count_if(nodes.begin(), nodes.end(),
                                    [](const pve::ClusterNode& node) { return node.online; });
  b.measure("cluster", "nodes_online", static_cast<double>(online), report::Unit::none).max =
      static_cast<double>(n);
  if (n != 2) {
    b.add("cluster.two_node", "cluster", Status::ok, opt(fmt::format("{} nodes", n)), std::nullopt,
          fmt::format("{} nodes", n));
  } else if (!qdevice) {
    b.add("cluster.two_node", "cluster", Status::unknown, opt("2 nodes"), opt("QDevice"),
          "cannot read the QDevice configuration: " + qdevice.error().describe());
  } else if (qdevice->configured) {
    b.add("cluster.two_node", "cluster", Status::ok, opt("2 nodes + QDevice"), opt("QDevice"),
          "two nodes with a QDevice: one node can fail without losing quorum");
  } else {
    b.add("cluster.two_node", "cluster", Status::warning, opt("2 nodes, no QDevice"),
          opt("QDevice"),
          "two nodes without a QDevice: when one fails, the survivor loses quorum and cannot "
          "start the other tunnel guest",
          "add a QDevice on a third machine: `pvecm qdevice setup <ip>`");
  }
}

}  // namespace pvt::check::detail
