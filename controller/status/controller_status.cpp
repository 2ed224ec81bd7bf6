#include "controller/status/controller_status.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/text.h"

namespace pvt::status {
namespace {

using Json = nlohmann::json;

Json optional_json(const auto& v) { return v ? Json(*v) : Json(nullptr); }

std::string html(std::string_view v) {
  std::string out;
  for (char c : text::sanitize(v)) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string duration(int64_t s) {
  if (s >= 172800) return fmt::format("{}d {}h", s / 86400, s % 86400 / 3600);
  return fmt::format("{}h {}m", s / 3600, s % 3600 / 60);
}

}  // namespace

std::string to_json(const ControllerStatus& s) {
  Json guests = Json::array();
  for (const auto& g : s.guests) {
    guests.push_back({{"name", g.name},
                      {"vmid", g.vmid},
                      {"type", g.type},
                      {"node", g.node},
                      {"power", g.power},
                      {"onboot", optional_json(g.onboot)},
                      {"state", g.state},
                      {"backup_age_s", optional_json(g.backup_age_s)},
                      {"backup_allowed_age_s", optional_json(g.backup_allowed_age_s)}});
  }
  Json tunnels = Json::array();
  for (const auto& t : s.tunnels) {
    tunnels.push_back({{"name", t.name},
                       {"role", t.role},
                       {"state", t.state},
                       {"serving", t.serving},
                       {"maintenance", t.maintenance},
                       {"probe_latency_s", optional_json(t.probe_latency_s)}});
  }
  Json actions = Json::array();
  for (const auto& a : s.recent_actions) {
    actions.push_back({{"at", a.at},
                       {"kind", a.kind},
                       {"target", a.target},
                       {"enforced", a.enforced},
                       {"result", a.result}});
  }
  const Json j = {{"node", s.node},
                  {"leader", s.leader},
                  {"leader_why", s.leader_why},
                  {"dry_run", s.dry_run},
                  {"cycle_at", s.cycle_at},
                  {"traffic_via", optional_json(s.traffic_via)},
                  {"guests", guests},
                  {"tunnels", tunnels},
                  {"recent_actions", actions},
                  {"api_errors", s.api_errors}};
  // Text from the cluster and the workers may carry any bytes: replaced, never thrown.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

std::string to_metrics(const ControllerStatus& s) {
  std::string out;
  auto header = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  header("pvectl_tunnel_controller_leader", "gauge", "1 when this controller holds the lock.");
  out += fmt::format("pvectl_tunnel_controller_leader {}\n", s.leader ? 1 : 0);
  header("pvectl_tunnel_guest_up", "gauge", "1 when the tunnel guest is running.");
  for (const auto& g : s.guests) {
    out += fmt::format("pvectl_tunnel_guest_up{{guest=\"{}\"}} {}\n",
                       text::prometheus_label(g.name), g.power == "running" ? 1 : 0);
  }
  header("pvectl_tunnel_guest_onboot", "gauge", "1 when the guest starts at boot.");
  for (const auto& g : s.guests) {
    if (g.onboot) {
      out += fmt::format("pvectl_tunnel_guest_onboot{{guest=\"{}\"}} {}\n",
                         text::prometheus_label(g.name), *g.onboot ? 1 : 0);
    }
  }
  header("pvectl_tunnel_backup_age_seconds", "gauge", "Age of the newest backup of the guest.");
  for (const auto& g : s.guests) {
    if (g.backup_age_s) {
      out += fmt::format("pvectl_tunnel_backup_age_seconds{{guest=\"{}\"}} {}\n",
                         text::prometheus_label(g.name), *g.backup_age_s);
    }
  }
  header("pvectl_tunnel_backup_allowed_age_seconds", "gauge",
         "Age the newest backup may have: the covering job's longest gap between runs + grace.");
  for (const auto& g : s.guests) {
    if (g.backup_allowed_age_s) {
      out += fmt::format("pvectl_tunnel_backup_allowed_age_seconds{{guest=\"{}\"}} {}\n",
                         text::prometheus_label(g.name), *g.backup_allowed_age_s);
    }
  }
  header("pvectl_tunnel_tunnel_serving", "gauge", "1 when the tunnel's forward is bound.");
  for (const auto& t : s.tunnels) {
    out += fmt::format("pvectl_tunnel_tunnel_serving{{tunnel=\"{}\",state=\"{}\"}} {}\n",
                       text::prometheus_label(t.name), text::prometheus_label(t.state),
                       t.serving ? 1 : 0);
  }
  header("pvectl_tunnel_probe_latency_seconds", "gauge",
         "Latency of the last end-to-end probe through the VPS.");
  for (const auto& t : s.tunnels) {
    if (t.probe_latency_s) {
      out += fmt::format("pvectl_tunnel_probe_latency_seconds{{tunnel=\"{}\"}} {}\n",
                         text::prometheus_label(t.name), *t.probe_latency_s);
    }
  }
  header("pvectl_tunnel_controller_actions_total", "counter",
         "Actions by kind and result (would: audit only).");
  for (const auto& [key, n] : s.actions_total) {
    out += fmt::format("pvectl_tunnel_controller_actions_total{{kind=\"{}\",result=\"{}\"}} {}\n",
                       text::prometheus_label(key.first), text::prometheus_label(key.second), n);
  }
  header("pvectl_tunnel_controller_api_errors_total", "counter",
         "Proxmox VE API requests that failed.");
  out += fmt::format("pvectl_tunnel_controller_api_errors_total {}\n", s.api_errors);
  return out;
}

std::string to_html(const ControllerStatus& s, int refresh_s) {
  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"{}\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>pvectl-tunnel on {}</title><style>"
      "body{{font-family:sans-serif;margin:1.5em;color:#222}}"
      "table{{border-collapse:collapse;margin-bottom:1.5em}}"
      "td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}"
      ".ok{{background:#dfd}}.bad{{background:#fdd}}.warn{{background:#ffd}}"
      "</style></head><body>\n",
      refresh_s, html(s.node));
  out += fmt::format("<h1>pvectl-tunnel on {}</h1>\n<p>{}{}{} Last cycle: {}.</p>\n", html(s.node),
                     s.leader ? "Leader." : "Follower",
                     s.leader ? "" : " (" + html(s.leader_why) + ").",
                     s.dry_run ? " Dry run: nothing is changed." : "", html(s.cycle_at));
  if (s.traffic_via) {
    out += fmt::format("<p>Traffic goes through <b>{}</b>.</p>\n", html(*s.traffic_via));
  }
  out +=
      "<h2>Guests</h2>\n<table><tr><th>guest</th><th>VMID</th><th>node</th><th>state</th>"
      "<th>starts at boot</th><th>newest backup</th><th>controller</th></tr>\n";
  for (const auto& g : s.guests) {
    const bool up = g.power == "running";
    const bool backup_late =
        g.backup_age_s && g.backup_allowed_age_s && *g.backup_age_s > *g.backup_allowed_age_s;
    out += fmt::format(
        "<tr id=\"guest-{}\"><td>{}</td><td>{} {}</td><td>{}</td><td class=\"{}\">{}</td>"
        "<td class=\"{}\">{}</td><td class=\"{}\">{}</td><td>{}</td></tr>\n",
        html(g.name), html(g.name), html(g.type), g.vmid, html(g.node), up ? "ok" : "bad",
        html(g.power), g.onboot.value_or(false) ? "ok" : "bad",
        g.onboot ? (*g.onboot ? "yes" : "no") : "?", backup_late ? "bad" : "ok",
        g.backup_age_s ? duration(*g.backup_age_s) + " old" : std::string("?"), html(g.state));
  }
  out +=
      "</table>\n<h2>Tunnels</h2>\n<table><tr><th>tunnel</th><th>role</th><th>worker</th>"
      "<th>probe</th></tr>\n";
  for (const auto& t : s.tunnels) {
    const char* cls = t.serving ? "ok" : (t.maintenance ? "warn" : "bad");
    out += fmt::format(
        "<tr id=\"tunnel-{}\"><td>{}</td><td>{}</td><td class=\"{}\">{}{}</td><td>{}</td></tr>\n",
        html(t.name), html(t.name), html(t.role), cls, html(t.state),
        t.maintenance ? " (maintenance)" : "",
        t.probe_latency_s ? fmt::format("{:.0f} ms", *t.probe_latency_s * 1000) : "?");
  }
  out += "</table>\n<h2>Recent actions</h2>\n";
  if (s.recent_actions.empty()) {
    out += "<p>None.</p>\n";
  } else {
    out += "<table><tr><th>when</th><th>action</th><th>target</th><th>result</th></tr>\n";
    for (auto it = s.recent_actions.rbegin(); it != s.recent_actions.rend(); ++it) {
      out += fmt::format("<tr><td>{}</td><td>{}{}</td><td>{}</td><td>{}</td></tr>\n", html(it->at),
                         it->enforced ? "" : "would ", html(it->kind), html(it->target),
                         html(it->result));
    }
    out += "</table>\n";
  }
  out += "</body></html>\n";
  return out;
}

}  // namespace pvt::status
