#include "tunnel/worker_status.h"

#include <fmt/format.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

namespace pvt::tunnel {
namespace {

using Json = nlohmann::json;

// Reads an optional field of the given JSON kind; a present field of another kind is an error.
template <class T>
Result<std::optional<T>> optional_field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::optional<T>{};
  try {
    return std::optional<T>{it->get<T>()};
  } catch (const Json::exception&) {
    return fail(fmt::format("field \"{}\" has the wrong type ({})", key, it->type_name()));
  }
}

template <class T>
Result<T> required_field(const Json& j, const char* key) {
  auto v = optional_field<T>(j, key);
  if (!v) return tl::unexpected(v.error());
  if (!*v) return fail(fmt::format("field \"{}\" is missing", key));
  return **v;
}

}  // namespace

Result<WorkerStatus> parse_worker_status(const std::string& body) {
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return fail("worker status is not a JSON object");
  WorkerStatus s;
  auto name = required_field<std::string>(j, "name");
  auto state = required_field<std::string>(j, "state");
  if (!name) return tl::unexpected(name.error());
  if (!state) return tl::unexpected(state.error());
  s.name = *name;
  s.state = *state;
  auto since = optional_field<std::string>(j, "since");
  auto vps = optional_field<std::string>(j, "vps");
  auto forward = optional_field<std::string>(j, "forward");
  auto reconnects = optional_field<int64_t>(j, "reconnects");
  auto last_error = optional_field<std::string>(j, "last_error");
  auto channels = optional_field<int64_t>(j, "channels_open");
  auto bytes_in = optional_field<int64_t>(j, "bytes_in");
  auto bytes_out = optional_field<int64_t>(j, "bytes_out");
  for (const auto* r : {&since, &vps, &forward, &last_error}) {
    if (!*r) return tl::unexpected(r->error());
  }
  for (const auto* r : {&reconnects, &channels, &bytes_in, &bytes_out}) {
    if (!*r) return tl::unexpected(r->error());
  }
  s.since = since->value_or("");
  s.vps = vps->value_or("");
  s.forward = *forward;
  s.reconnects = reconnects->value_or(0);
  s.last_error = *last_error;
  s.channels_open = channels->value_or(0);
  s.bytes_in = bytes_in->value_or(0);
  s.bytes_out = bytes_out->value_or(0);
  if (auto p = j.find("probe"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return fail("field \"probe\" is not an object");
    auto ok = optional_field<bool>(*p, "ok");
    auto latency = optional_field<int64_t>(*p, "latency_ms");
    auto at = optional_field<std::string>(*p, "at");
    if (!ok) return tl::unexpected(ok.error());
    if (!latency) return tl::unexpected(latency.error());
    if (!at) return tl::unexpected(at.error());
    s.probe = ProbeResult{*ok, *latency, *at};
  }
  return s;
}

Result<WorkerStatus> fetch_worker_status(const std::string& control_url, const std::string& token,
                                         std::chrono::milliseconds timeout) {
  httplib::Client client(control_url);
  if (!client.is_valid()) return fail(fmt::format("invalid control_url {}", control_url));
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(timeout);
  auto usecs = std::chrono::duration_cast<std::chrono::microseconds>(timeout - secs);
  client.set_connection_timeout(secs.count(), usecs.count());
  client.set_read_timeout(secs.count(), usecs.count());
  client.set_write_timeout(secs.count(), usecs.count());
  client.set_bearer_token_auth(token.c_str());
  auto res = client.Get("/v1/status");
  if (!res) {
    return fail(fmt::format("{}: cannot reach the worker: {}", control_url,
                            httplib::to_string(res.error())));
  }
  if (res->status == 401) return fail(fmt::format("{}: token rejected (401)", control_url));
  if (res->status != 200) {
    return fail(fmt::format("{}/v1/status answered HTTP {}", control_url, res->status));
  }
  auto status = parse_worker_status(res->body);
  if (!status) {
    return fail(fmt::format("{}/v1/status: {}", control_url, status.error().message));
  }
  return status;
}

}  // namespace pvt::tunnel
