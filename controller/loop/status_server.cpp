#include "controller/loop/status_server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/bearer_token.h"
#include "common/text.h"

namespace pvt::controller {
namespace {

using Json = nlohmann::json;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

http::Response json_response(int status, const Json& body) {
  http::Response r;
  r.status = status;
  r.body = body.dump();
  return r;
}

constexpr std::string_view kMaintenancePrefix = "/v1/maintenance/";

}  // namespace

StatusServer::StatusServer(Controller& controller, std::string token,
                           std::chrono::seconds stale_after, int refresh_s,
                           std::function<void()> on_maintenance)
    : controller_(controller),
      token_(std::move(token)),
      stale_after_(stale_after),
      refresh_s_(refresh_s),
      on_maintenance_(std::move(on_maintenance)),
      server_("status server") {}

StatusServer::~StatusServer() { stop(); }

void StatusServer::cycle_done() { last_cycle_ms_.store(steady_ms()); }

http::Reply StatusServer::healthz() const {
  const int64_t last = last_cycle_ms_.load();
  if (last < 0) return json_response(503, {{"status", "starting"}, {"error", "no cycle yet"}});
  const auto age_s = (steady_ms() - last) / 1000;
  if (age_s > stale_after_.count()) {
    return json_response(
        503, {{"status", "stuck"},
              {"error", fmt::format("the last cycle ended {} s ago (more than {} s)", age_s,
                                    stale_after_.count())}});
  }
  const auto s = controller_.status();
  return json_response(
      200,
      {{"status", "ok"}, {"leader", s.leader}, {"cycle_at", s.cycle_at}, {"dry_run", s.dry_run}});
}

Result<void> StatusServer::start(const config::HostPort& listen) {
  // Reading is open (a scraper, a browser); changing needs the token, checked before any body
  // is read.
  server_.set_gate([this](const http::Request& req) -> std::optional<http::Response> {
    if (req.method != "POST") return std::nullopt;
    if (token_.empty()) {
      return http::error_response(
          403, "POST endpoints are off: set [controller] token_file to allow them");
    }
    if (!http::bearer_matches(req, token_)) {
      auto refusal =
          http::error_response(401, "missing or wrong bearer token ([controller] token_file)");
      refusal.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refusal;
    }
    return std::nullopt;
  });
  server_.route("GET", "/healthz", [this](const http::Request&) { return healthz(); });
  server_.route("GET", "/v1/status", [this](const http::Request&) -> http::Reply {
    http::Response r;
    r.body = status::to_json(controller_.status());
    return r;
  });
  server_.route("GET", "/metrics", [this](const http::Request&) -> http::Reply {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = status::to_metrics(controller_.status());
    return r;
  });
  server_.route("GET", "/", [this](const http::Request&) -> http::Reply {
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = status::to_html(controller_.status(), refresh_s_);
    // One self-contained page: nothing from elsewhere, no scripts.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; style-src 'unsafe-inline'");
    return r;
  });
  // One route for every tunnel, also those a reload adds: /v1/maintenance/{tunnel}/start|stop.
  server_.route("POST", std::string(kMaintenancePrefix) + "*", [this](const http::Request& req) {
    const std::string_view rest = std::string_view(req.path).substr(kMaintenancePrefix.size());
    const auto slash = rest.find('/');
    const std::string_view verb = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (slash == 0 || (verb != "start" && verb != "stop")) {
      return http::Reply(http::error_response(
          404, "use POST /v1/maintenance/{tunnel}/start or /v1/maintenance/{tunnel}/stop"));
    }
    return maintenance(std::string(rest.substr(0, slash)), verb == "start", req);
  });
  auto bound = server_.listen(listen.host, listen.port);
  if (!bound) {
    return fail(fmt::format("cannot listen on {} for the status server ([controller] listen): {}",
                            listen.str(), bound.error().message));
  }
  thread_ = std::thread([this] { server_.run(); });
  return {};
}

void StatusServer::stop() {
  if (!thread_.joinable()) return;
  server_.stop();
  thread_.join();
}

http::Reply StatusServer::maintenance(const std::string& tunnel, bool start,
                                      const http::Request& req) {
  std::string by = "API";
  if (!req.body.empty()) {
    auto body = Json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      return http::error_response(400, "the body must be empty or a JSON object");
    }
    if (body.contains("by")) {
      if (!body["by"].is_string()) return http::error_response(400, "\"by\" must be a string");
      by = text::sanitize(body["by"].get<std::string>().substr(0, 128));
    }
  }
  const auto tunnels = controller_.tunnel_names();
  if (std::find(tunnels.begin(), tunnels.end(), tunnel) == tunnels.end()) {
    return http::error_response(
        404, fmt::format("no tunnel \"{}\" in the controller's config", text::sanitize(tunnel)));
  }
  auto r = controller_.set_maintenance(tunnel, start, by);
  if (!r) return http::error_response(500, r.error().message);
  if (on_maintenance_) on_maintenance_();
  return json_response(200, {{"tunnel", tunnel}, {"maintenance", start}, {"by", by}});
}

}  // namespace pvt::controller
