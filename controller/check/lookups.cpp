#include "controller/check/lookups.h"

#include <fmt/format.h>

#include "controller/check/rules.h"
#include "schedule/calendar_event.h"

namespace pvt::check {

const pve::BackupJob* covering_job(const std::vector<pve::BackupJob>& jobs, int64_t vmid,
                                   const std::string& node,
                                   const std::map<std::string, Read<pve::Pool>>& pools,
                                   bool enabled) {
  for (const auto& j : jobs) {
    if (j.enabled == enabled && job_selects(j, vmid, node, pools)) return &j;
  }
  return nullptr;
}

std::vector<pve::BackupVolume> backups_of(const GuestObservation& go, int64_t vmid) {
  std::vector<pve::BackupVolume> volumes;
  for (const auto& sb : go.backups) {
    if (!sb.volumes) continue;
    for (const auto& v : *sb.volumes) {
      if (v.vmid == vmid) volumes.push_back(v);
    }
  }
  return volumes;
}

const pve::BackupVolume* newest_backup(const GuestObservation& go, int64_t vmid,
                                       std::string_view plugintype) {
  const pve::BackupVolume* newest = nullptr;
  for (const auto& sb : go.backups) {
    if (!sb.volumes || (!plugintype.empty() && sb.plugintype != plugintype)) continue;
    for (const auto& v : *sb.volumes) {
      if (v.vmid == vmid && (newest == nullptr || v.ctime > newest->ctime)) newest = &v;
    }
  }
  return newest;
}

std::string unlisted_storage(const GuestObservation& go) {
  std::string unlisted;
  for (const auto& sb : go.backups) {
    if (!sb.volumes) unlisted = sb.storage + ": " + sb.volumes.error().describe();
  }
  return unlisted;
}

const pve::BackupVolume* newest_verified(const std::vector<pve::BackupVolume>& volumes) {
  const pve::BackupVolume* verified = nullptr;
  for (const auto& v : volumes) {
    const bool ok = v.verification && v.verification->state == "ok";
    if (ok && (verified == nullptr || v.ctime > verified->ctime)) verified = &v;
  }
  return verified;
}

const Read<pve::NodeTime>* node_time(const std::map<std::string, Read<pve::NodeTime>>& node_times,
                                     const std::string& node) {
  auto t = node_times.find(node);
  return t == node_times.end() ? nullptr : &t->second;
}

NodeZone node_zone(const Read<pve::NodeTime>* node_time) {
  NodeZone z;
  if (node_time != nullptr && *node_time) {
    if (auto found = schedule::find_time_zone((*node_time)->timezone)) {
      z.tz = *found;
      z.label = (*node_time)->timezone;
    } else {
      z.label = fmt::format("UTC, the node's zone \"{}\" is unknown here", (*node_time)->timezone);
    }
  } else if (node_time != nullptr) {
    z.label = "UTC, the node's time zone could not be read";
  }
  return z;
}

NodeZone node_zone(const std::map<std::string, Read<pve::NodeTime>>& node_times,
                   const std::string& node) {
  return node_zone(node_time(node_times, node));
}

std::set<std::string> offline_nodes(const Observation& o) {
  std::set<std::string> out;
  if (!o.cluster) return out;
  for (const auto& n : o.cluster->nodes) {
    if (!n.online) out.insert(n.name);
  }
  return out;
}

pve::GuestKind guest_kind(config::GuestType type) {
  return type == config::GuestType::lxc ? pve::GuestKind::lxc : pve::GuestKind::qemu;
}

pve::GuestKind guest_kind(std::string_view resource_type) {
  return resource_type == "lxc" ? pve::GuestKind::lxc : pve::GuestKind::qemu;
}

const char* guest_cli(config::GuestType type) {
  return type == config::GuestType::qemu ? "qm" : "pct";
}

const GuestObservation& observed_guest(const Observation& o, size_t i) {
  static const GuestObservation empty;
  return i < o.guests.size() ? o.guests[i] : empty;
}

}  // namespace pvt::check
