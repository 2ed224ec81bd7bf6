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
  // {"start": {"ok": 2, "failed": 1}, "onboot": {"would": 1}}
  Json totals = Json::object();
  for (const auto& [key, n] : s.actions_total) totals[key.first][key.second] = n;
  const Json j = {{"node", s.node},
                  {"leader", s.leader},
                  {"leader_why", s.leader_why},
                  {"dry_run", s.dry_run},
                  {"cycle_at", s.cycle_at},
                  {"traffic_via", optional_json(s.traffic_via)},
                  {"guests", guests},
                  {"tunnels", tunnels},
                  {"recent_actions", actions},
                  {"actions_total", totals},
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
  // What a person needs first: does anything need attention, who acts, where traffic goes and
  // how fresh this is; the tables below hold the detail.
  std::vector<std::string> attention;
  for (const auto& g : s.guests) {
    if (g.power != "running") {
      attention.push_back(fmt::format("Guest {} is {}.", html(g.name), html(g.power)));
    }
    if (g.onboot && !*g.onboot) {
      attention.push_back(fmt::format("Guest {} does not start at boot.", html(g.name)));
    }
    if (g.backup_age_s && g.backup_allowed_age_s && *g.backup_age_s > *g.backup_allowed_age_s) {
      attention.push_back(fmt::format("Guest {}: newest backup is {} old (allowed: {}).",
                                      html(g.name), duration(*g.backup_age_s),
                                      duration(*g.backup_allowed_age_s)));
    }
    if (g.state != "ok") {
      attention.push_back(fmt::format("Guest {}: {}.", html(g.name), html(g.state)));
    }
  }
  for (const auto& t : s.tunnels) {
    if (!t.serving && !t.maintenance) {
      attention.push_back(
          fmt::format("Tunnel {} ({}): worker {}.", html(t.name), html(t.role), html(t.state)));
    }
  }

  std::string out = fmt::format(
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta http-equiv=\"refresh\" content=\"{}\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>{}pvectl-tunnel on {}</title><style>"
      "body{{font-family:system-ui,sans-serif;margin:1.2em 1.5em;color:#1a1a1a;"
      "background:#fff;max-width:72em}}"
      "h1{{font-size:1.6em;margin:0 0 .5em}}h2{{font-size:1.2em;margin:1.2em 0 .4em}}"
      "table{{border-collapse:collapse}}"
      "td,th{{border:1px solid #bbb;padding:.3em .7em;text-align:left;vertical-align:top}}"
      "th{{background:#eee}}"
      ".facts th{{background:none;border:none;padding:.15em 1em .15em 0;font-weight:600}}"
      ".facts td{{border:none;padding:.15em 0}}.facts th,.facts td{{vertical-align:baseline}}"
      ".ok{{background:#dcf5dc}}.bad{{background:#fbdcdc}}.warn{{background:#fdf3c4}}"
      ".badge{{display:inline-block;padding:.05em .6em;border-radius:.3em;font-weight:600;"
      "border:1px solid #999}}"
      ".verdict{{margin:1em 0;padding:.6em 1.2em .6em .9em;border-left:.4em solid;"
      "width:fit-content;min-width:30em}}"
      ".verdict.ok{{border-color:#2e7d32}}.verdict.bad{{border-color:#c62828}}"
      ".verdict p{{margin:0;font-weight:600}}.verdict ul{{margin:.3em 0 0;padding-left:1.3em}}"
      ".via{{font-weight:600}}.note{{color:#444;font-size:.9em}}"
      "</style></head><body>\n",
      refresh_s, attention.empty() ? "" : fmt::format("({}) ", attention.size()), html(s.node));
  out += fmt::format("<h1>pvectl-tunnel controller on {}</h1>\n<table class=\"facts\">\n",
                     html(s.node));

  std::string role;
  if (s.dry_run) {
    role =
        "<span id=\"role\" class=\"badge warn\">Dry run</span> &#8211; observes only, never takes "
        "the lock";
  } else if (s.leader) {
    role =
        "<span id=\"role\" class=\"badge ok\">Leader</span> &#8211; holds the lock: this "
        "controller decides";
  } else {
    role = "<span id=\"role\" class=\"badge\">Follower</span> &#8211; observes only";
    if (!s.leader_why.empty()) role += " (" + html(s.leader_why) + ")";
  }
  out += fmt::format("<tr><th>Role</th><td>{}</td></tr>\n", role);

  if (s.traffic_via) {
    std::string role_of;
    for (const auto& t : s.tunnels) {
      if (t.name == *s.traffic_via) role_of = " (" + html(t.role) + ")";
    }
    out += fmt::format(
        "<tr><th>Traffic</th><td id=\"traffic\">through <span class=\"via\">{}</span>{}</td>"
        "</tr>\n",
        html(*s.traffic_via), role_of);
  } else {
    out +=
        "<tr><th>Traffic</th><td id=\"traffic\">not known: [vps] public_url is not set, or "
        "its answer named no tunnel</td></tr>\n";
  }
  out += fmt::format(
      "<tr><th>Last cycle</th><td>{}</td></tr>\n"
      "<tr><th>PVE API errors</th><td>{} since the start</td></tr>\n</table>\n",
      s.cycle_at.empty() ? std::string("none yet") : html(s.cycle_at), s.api_errors);

  if (attention.empty()) {
    out += "<div class=\"verdict ok\" id=\"verdict\"><p>Nothing needs attention.</p></div>\n";
  } else {
    out +=
        fmt::format("<div class=\"verdict bad\" id=\"verdict\"><p>{} need{} attention:</p><ul>\n",
                    attention.size() == 1 ? std::string("One thing")
                                          : fmt::format("{} things", attention.size()),
                    attention.size() == 1 ? "s" : "");
    for (const auto& a : attention) out += "<li>" + a + "</li>\n";
    out += "</ul></div>\n";
  }

  out +=
      "<h2>Guests</h2>\n<table><tr><th>guest</th><th>VMID</th><th>node</th><th>state</th>"
      "<th>starts at boot</th><th>newest backup</th><th>controller's view</th></tr>\n";
  for (const auto& g : s.guests) {
    const bool up = g.power == "running";
    const bool backup_late =
        g.backup_age_s && g.backup_allowed_age_s && *g.backup_age_s > *g.backup_allowed_age_s;
    std::string backup = "none seen";
    if (g.backup_age_s) {
      backup = duration(*g.backup_age_s) + " old";
      if (g.backup_allowed_age_s) backup += " (allowed " + duration(*g.backup_allowed_age_s) + ")";
    }
    out += fmt::format(
        "<tr id=\"guest-{}\"><td>{}</td><td>{} {}</td><td>{}</td><td class=\"{}\">{}</td>"
        "<td class=\"{}\">{}</td><td class=\"{}\">{}</td><td class=\"{}\">{}</td></tr>\n",
        html(g.name), html(g.name), html(g.type), g.vmid,
        g.node.empty() ? std::string("?") : html(g.node), up ? "ok" : "bad", html(g.power),
        !g.onboot ? "warn" : (*g.onboot ? "ok" : "bad"),
        g.onboot ? (*g.onboot ? "yes" : "no") : "?",
        !g.backup_age_s ? "warn" : (backup_late ? "bad" : "ok"), backup,
        g.state == "ok" ? "ok" : "warn", html(g.state));
  }
  out +=
      "</table>\n<h2>Tunnels</h2>\n<table><tr><th>tunnel</th><th>role</th><th>traffic</th>"
      "<th>worker</th><th>probe</th></tr>\n";
  for (const auto& t : s.tunnels) {
    const char* cls = t.serving ? "ok" : (t.maintenance ? "warn" : "bad");
    const bool via = s.traffic_via && *s.traffic_via == t.name;
    out += fmt::format(
        "<tr id=\"tunnel-{}\"><td>{}</td><td>{}</td><td{}>{}</td><td class=\"{}\">{}{}</td>"
        "<td>{}</td></tr>\n",
        html(t.name), html(t.name), html(t.role), via ? " class=\"ok via\"" : "",
        via ? "carries it" : (s.traffic_via ? "idle" : "?"), cls, html(t.state),
        t.maintenance ? " (maintenance)" : "",
        t.probe_latency_s ? fmt::format("{:.0f} ms", *t.probe_latency_s * 1000)
                          : std::string("not measured"));
  }
  out += "</table>\n<h2>Recent actions</h2>\n";
  if (s.recent_actions.empty()) {
    out += "<p>None since the start.</p>\n";
  } else {
    out += "<table><tr><th>when</th><th>action</th><th>target</th><th>result</th></tr>\n";
    for (auto it = s.recent_actions.rbegin(); it != s.recent_actions.rend(); ++it) {
      const char* cls = it->result == "ok"                   ? " class=\"ok\""
                        : it->result.rfind("failed", 0) == 0 ? " class=\"bad\""
                                                             : "";
      out += fmt::format("<tr><td>{}</td><td>{}{}</td><td>{}</td><td{}>{}</td></tr>\n",
                         html(it->at), it->enforced ? "" : "would ", html(it->kind),
                         html(it->target), cls, html(it->result));
    }
    out +=
        "</table>\n<p class=\"note\">Newest first. \"would\": found needed but not done: the "
        "action is not in [controller] enforce (audit only), or this is a dry run.</p>\n";
  }
  out += fmt::format(
      "<p class=\"note\">This page reloads every {} s. The same facts as JSON: /v1/status; "
      "for Prometheus: /metrics.</p>\n</body></html>\n",
      refresh_s);
  return out;
}

}  // namespace pvt::status
