#include "worker_client/worker_status.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/text.h"

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

WorkerState worker_state(std::string_view state) {
  static constexpr std::pair<std::string_view, WorkerState> kStates[] = {
      {"resolving", WorkerState::resolving},
      {"connecting", WorkerState::connecting},
      {"authenticating", WorkerState::authenticating},
      {"forward-pending", WorkerState::forward_pending},
      {"serving", WorkerState::serving},
      {"draining", WorkerState::draining},
      {"drained", WorkerState::drained},
      {"backoff", WorkerState::backoff},
      {"stopping", WorkerState::stopping}};
  for (const auto& [name, value] : kStates) {
    if (name == state) return value;
  }
  return WorkerState::other;
}

bool carries_traffic(const WorkerStatus& s) {
  return worker_state(s.state) == WorkerState::serving && s.forward.has_value();
}

bool drained_or_draining(const WorkerStatus& s) {
  const auto state = worker_state(s.state);
  return state == WorkerState::drained || state == WorkerState::draining;
}

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
  s.role = j.value("role", "");
  s.local = j.value("local", "");
  s.drain_requested = j.value("drain_requested", false);
  s.forward_refusals = j.value("forward_refusals", int64_t{0});
  s.ssh_heap_bytes = j.value("ssh_heap_bytes", int64_t{0});
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

namespace {

Json optional_json(const auto& v) { return v ? Json(*v) : Json(nullptr); }

}  // namespace

std::string worker_status_json(const WorkerStatus& s) {
  Json probe = {{"ok", optional_json(s.probe.ok)},
                {"latency_ms", optional_json(s.probe.latency_ms)},
                {"at", optional_json(s.probe.at)}};
  Json j = {{"name", s.name},
            {"state", s.state},
            {"since", s.since},
            {"vps", s.vps},
            {"forward", optional_json(s.forward)},
            {"reconnects", s.reconnects},
            // From libssh2, the VPS or the local target: never let invalid UTF-8 make dump() throw.
            {"last_error", s.last_error ? Json(text::valid_utf8(*s.last_error)) : Json(nullptr)},
            {"probe", std::move(probe)},
            {"channels_open", s.channels_open},
            {"bytes_in", s.bytes_in},
            {"bytes_out", s.bytes_out},
            {"role", s.role},
            {"local", s.local},
            {"drain_requested", s.drain_requested},
            {"forward_refusals", s.forward_refusals},
            {"ssh_heap_bytes", s.ssh_heap_bytes}};
  return j.dump();
}

}  // namespace pvt::tunnel
