#include "pve/client.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

namespace pvt::pve {
namespace {

// Path segments (node names, storage ids, volids, UPIDs with ':') are percent-encoded.
std::string seg(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string guest_path(const std::string& node, GuestKind kind, int64_t vmid) {
  return fmt::format("/nodes/{}/{}/{}", seg(node), to_string(kind), vmid);
}

std::string excerpt(const std::string& body) {
  std::string s = body.substr(0, 80);
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return body.size() > 80 ? s + "..." : s;
}

bool retryable(const ApiError& e) {
  switch (e.kind) {
    case ErrorKind::timeout:
    case ErrorKind::unreachable:
    case ErrorKind::server:
      return true;
    default:
      return false;
  }
}

// Maps an HTTP answer to the "data" member or an ApiError.
ApiResult<Json> interpret(const Request& req, const Response& res) {
  ApiError e;
  e.method = req.method;
  e.path = req.path;
  e.endpoint = res.endpoint;
  e.http_status = res.status;
  Json body = Json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  std::string message;
  if (body.is_object()) {
    if (auto m = body.find("message"); m != body.end() && m->is_string())
      message = m->get<std::string>();
    if (auto errs = body.find("errors"); errs != body.end() && errs->is_object()) {
      for (const auto& [k, v] : errs->items()) {
        std::string text = v.is_string() ? v.get<std::string>() : v.dump();
        while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
        e.param_errors[k] = text;
      }
    }
  }
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.empty()) message = res.reason;
  e.message = message;

  if (res.status == 200) {
    if (body.is_discarded() || !body.is_object() || !body.contains("data")) {
      e.kind = ErrorKind::malformed;
      e.message = fmt::format("answer is not a Proxmox VE JSON object with \"data\": {}",
                              excerpt(res.body));
      return tl::unexpected(e);
    }
    return std::move(body["data"]);
  }
  if (res.status == 401) {
    e.kind = ErrorKind::unauthorized;
    if (e.message.empty()) e.message = "authentication failure";
  } else if (res.status == 403) {
    e.kind = ErrorKind::forbidden;
  } else if (res.status == 400) {
    e.kind = ErrorKind::bad_request;
  } else if (res.status == 404 ||
             (res.status == 500 && (message.find("does not exist") != std::string::npos ||
                                    message.find("no such") != std::string::npos))) {
    e.kind = ErrorKind::not_found;
  } else if (res.status == 595 || res.status == 596) {
    e.kind = ErrorKind::node_unreachable;
  } else {
    e.kind = ErrorKind::server;
  }
  if (e.message.empty()) e.message = fmt::format("HTTP {}", res.status);
  return tl::unexpected(e);
}

template <class T, class F>
ApiResult<T> then(ApiResult<Json> data, const Request& req, F&& parse) {
  if (!data) return tl::unexpected(data.error());
  auto parsed = parse(*data);
  if (!parsed) {
    ApiError e = parsed.error();
    e.method = req.method;
    e.path = req.path;
    return tl::unexpected(e);
  }
  return std::move(*parsed);
}

}  // namespace

const char* to_string(GuestKind k) { return k == GuestKind::qemu ? "qemu" : "lxc"; }

Client::Client(Transport& transport, Clock& clock, RetryPolicy retry)
    : transport_(transport), clock_(clock), retry_(retry) {}

void Client::set_deadline(std::optional<std::chrono::steady_clock::time_point> deadline) {
  deadline_ = deadline;
}

namespace {

// "https://pve2.example.lan:8006" -> "pve2.example.lan:8006"
std::string host_of(const std::string& endpoint) {
  auto scheme = endpoint.find("://");
  return scheme == std::string::npos ? endpoint : endpoint.substr(scheme + 3);
}

}  // namespace

ApiResult<Json> Client::call(const Request& original) {
  Request request = original;
  request.deadline = deadline_;
  const bool idempotent = request.method == "GET";
  const int attempts = idempotent ? std::max(1, retry_.get_attempts) : 1;
  auto backoff = retry_.initial_backoff;
  ApiError last;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    if (deadline_ && clock_.steady_now() >= *deadline_) {
      ApiError e;
      e.kind = ErrorKind::timeout;
      e.method = request.method;
      e.path = request.path;
      e.message = attempt == 1
                      ? "not tried: the run's time limit (-t) was reached"
                      : "the run's time limit (-t) was reached while retrying: " + last.message;
      if (!cut_by_deadline_) cut_by_deadline_ = fmt::format("{} not read", request.path);
      return tl::unexpected(e);
    }
    ++requests_made_;
    auto res = transport_.perform(request);
    ApiResult<Json> data =
        res ? interpret(request, *res) : ApiResult<Json>(tl::unexpected(res.error()));
    if (data) return data;
    last = data.error();
    last.method = request.method;
    last.path = request.path;
    if (last.kind == ErrorKind::timeout && deadline_ && clock_.steady_now() >= *deadline_ &&
        !cut_by_deadline_) {
      cut_by_deadline_ = last.endpoint.empty()
                             ? fmt::format("{} did not answer", request.path)
                             : fmt::format("{} did not answer", host_of(last.endpoint));
    }
    if (attempt == attempts || !retryable(last)) return tl::unexpected(last);
    if (deadline_ && clock_.steady_now() + backoff >= *deadline_) return tl::unexpected(last);
    spdlog::debug("pve: {} failed ({}), retrying in {} ms", request.path, last.message,
                  backoff.count());
    clock_.sleep_for(backoff);
    backoff = std::min(backoff * 2, retry_.max_backoff);
  }
  return tl::unexpected(last);
}

ApiResult<Version> Client::version() {
  Request r{"GET", "/version", {}};
  return then<Version>(call(r), r, parse_version);
}

ApiResult<ClusterStatus> Client::cluster_status() {
  Request r{"GET", "/cluster/status", {}};
  return then<ClusterStatus>(call(r), r, parse_cluster_status);
}

ApiResult<QDevice> Client::qdevice() {
  Request r{"GET", "/cluster/config/qdevice", {}};
  return then<QDevice>(call(r), r, parse_qdevice);
}

ApiResult<std::vector<VmResource>> Client::vm_resources() {
  Request r{"GET", "/cluster/resources", {{"type", "vm"}}};
  return then<std::vector<VmResource>>(call(r), r, parse_vm_resources);
}

ApiResult<std::vector<StorageResource>> Client::storage_resources() {
  Request r{"GET", "/cluster/resources", {{"type", "storage"}}};
  return then<std::vector<StorageResource>>(call(r), r, parse_storage_resources);
}

ApiResult<std::vector<NodeEntry>> Client::nodes() {
  Request r{"GET", "/nodes", {}};
  return then<std::vector<NodeEntry>>(call(r), r, parse_nodes);
}

ApiResult<NodeTime> Client::node_time(const std::string& node) {
  Request r{"GET", fmt::format("/nodes/{}/time", seg(node)), {}};
  return then<NodeTime>(call(r), r, parse_node_time);
}

ApiResult<Permissions> Client::permissions(const std::optional<std::string>& path) {
  Request r{"GET", "/access/permissions", {}};
  if (path) r.params.emplace_back("path", *path);
  return then<Permissions>(call(r), r, parse_permissions);
}

ApiResult<GuestStatus> Client::guest_status(const std::string& node, GuestKind kind, int64_t vmid) {
  Request r{"GET", guest_path(node, kind, vmid) + "/status/current", {}};
  return then<GuestStatus>(call(r), r, parse_guest_status);
}

ApiResult<GuestConfig> Client::guest_config(const std::string& node, GuestKind kind, int64_t vmid) {
  Request r{"GET", guest_path(node, kind, vmid) + "/config", {}};
  return then<GuestConfig>(call(r), r, parse_guest_config);
}

ApiResult<void> Client::update_guest_config(const std::string& node, GuestKind kind, int64_t vmid,
                                            const Params& changes) {
  Request r{"PUT", guest_path(node, kind, vmid) + "/config", changes};
  auto data = call(r);
  if (!data) return tl::unexpected(data.error());
  return {};
}

namespace {

ApiResult<Upid> upid_from(ApiResult<Json> data, const Request& r) {
  if (!data) return tl::unexpected(data.error());
  if (data->is_string()) {
    if (auto u = Upid::parse(data->get<std::string>())) return *u;
  }
  ApiError e;
  e.kind = ErrorKind::malformed;
  e.method = r.method;
  e.path = r.path;
  e.message = fmt::format("expected a task id (UPID), got {}", data->dump());
  return tl::unexpected(e);
}

std::string join_vmids(const std::vector<int64_t>& vmids) {
  std::string out;
  for (auto v : vmids) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

}  // namespace

ApiResult<Upid> Client::start_guest(const std::string& node, GuestKind kind, int64_t vmid) {
  Request r{"POST", guest_path(node, kind, vmid) + "/status/start", {}};
  return upid_from(call(r), r);
}

ApiResult<std::optional<Upid>> Client::vzdump(const std::string& node, const VzdumpOptions& o) {
  Request r{"POST", fmt::format("/nodes/{}/vzdump", seg(node)), {{"vmid", join_vmids(o.vmids)}}};
  if (o.storage) r.params.emplace_back("storage", *o.storage);
  if (o.mode) r.params.emplace_back("mode", *o.mode);
  if (o.compress) r.params.emplace_back("compress", *o.compress);
  if (o.notes_template) r.params.emplace_back("notes-template", *o.notes_template);
  auto data = call(r);
  // "OK" and no task: none of the guests is on this node.
  if (data && data->is_string() && data->get<std::string>() == "OK") return std::optional<Upid>{};
  auto upid = upid_from(std::move(data), r);
  if (!upid) return tl::unexpected(upid.error());
  return std::optional<Upid>{*upid};
}

ApiResult<Upid> Client::restore_guest(const std::string& node, GuestKind kind, int64_t vmid,
                                      const std::string& archive, const std::string& storage,
                                      bool unique) {
  // qemu takes the archive as "archive"; lxc as "ostemplate" with restore=1.
  Request r{"POST",
            fmt::format("/nodes/{}/{}", seg(node), to_string(kind)),
            {{"vmid", std::to_string(vmid)}, {"storage", storage}}};
  if (kind == GuestKind::qemu) {
    r.params.emplace_back("archive", archive);
  } else {
    r.params.emplace_back("ostemplate", archive);
    r.params.emplace_back("restore", "1");
  }
  if (unique) r.params.emplace_back("unique", "1");
  return upid_from(call(r), r);
}

ApiResult<Upid> Client::destroy_guest(const std::string& node, GuestKind kind, int64_t vmid) {
  Request r{"DELETE",
            guest_path(node, kind, vmid),
            {{"purge", "1"}, {"destroy-unreferenced-disks", "1"}}};
  return upid_from(call(r), r);
}

ApiResult<bool> Client::vmid_free(int64_t vmid) {
  Request r{"GET", "/cluster/nextid", {{"vmid", std::to_string(vmid)}}};
  auto data = call(r);
  if (!data) {
    // PVE rejects a taken id as a parameter error ("VM 9999 already exists").
    const ApiError& e = data.error();
    auto taken = [](const std::string& m) { return m.find("already exists") != std::string::npos; };
    if (e.kind == ErrorKind::bad_request || e.kind == ErrorKind::server) {
      if (taken(e.message)) return false;
      for (const auto& [param, message] : e.param_errors) {
        if (taken(message)) return false;
      }
    }
    return tl::unexpected(e);
  }
  // The id comes back as a string ("9999"), in older releases as a number.
  if ((data->is_string() && data->get<std::string>() == std::to_string(vmid)) ||
      (data->is_number_integer() && data->get<int64_t>() == vmid)) {
    return true;
  }
  ApiError e;
  e.kind = ErrorKind::malformed;
  e.method = r.method;
  e.path = r.path;
  e.message = fmt::format("expected {} back, got {}", vmid, excerpt(data->dump()));
  return tl::unexpected(e);
}

ApiResult<void> Client::stop_task(const std::string& node, const std::string& upid) {
  Request r{"DELETE", fmt::format("/nodes/{}/tasks/{}", seg(node), seg(upid)), {}};
  auto data = call(r);
  if (!data) return tl::unexpected(data.error());
  return {};
}

ApiResult<TaskStatus> Client::task_status(const std::string& node, const std::string& upid) {
  Request r{"GET", fmt::format("/nodes/{}/tasks/{}/status", seg(node), seg(upid)), {}};
  return then<TaskStatus>(call(r), r, parse_task_status);
}

ApiResult<std::vector<TaskLogLine>> Client::task_log(const std::string& node,
                                                     const std::string& upid, int64_t start,
                                                     int64_t limit) {
  Request r{"GET",
            fmt::format("/nodes/{}/tasks/{}/log", seg(node), seg(upid)),
            {{"start", std::to_string(start)}, {"limit", std::to_string(limit)}}};
  return then<std::vector<TaskLogLine>>(call(r), r, parse_task_log);
}

ApiResult<std::vector<TaskListEntry>> Client::node_tasks(const std::string& node,
                                                         const std::string& typefilter,
                                                         int64_t limit,
                                                         std::optional<int64_t> since) {
  // No vmid filter: it drops the tasks of jobs that back up several guests (their id is empty).
  Request r{"GET",
            fmt::format("/nodes/{}/tasks", seg(node)),
            {{"typefilter", typefilter}, {"limit", std::to_string(limit)}, {"source", "all"}}};
  if (since) r.params.emplace_back("since", std::to_string(*since));
  return then<std::vector<TaskListEntry>>(call(r), r, parse_task_list);
}

ApiResult<std::vector<BackupJob>> Client::backup_jobs() {
  Request r{"GET", "/cluster/backup", {}};
  return then<std::vector<BackupJob>>(call(r), r, parse_backup_jobs);
}

ApiResult<std::vector<NotBackedUp>> Client::not_backed_up() {
  Request r{"GET", "/cluster/backup-info/not-backed-up", {}};
  return then<std::vector<NotBackedUp>>(call(r), r, parse_not_backed_up);
}

ApiResult<std::vector<StorageConfig>> Client::storage_configs() {
  Request r{"GET", "/storage", {}};
  return then<std::vector<StorageConfig>>(call(r), r, parse_storage_configs);
}

ApiResult<std::vector<BackupVolume>> Client::backup_volumes(const std::string& node,
                                                            const std::string& storage,
                                                            std::optional<int64_t> vmid) {
  Request r{"GET",
            fmt::format("/nodes/{}/storage/{}/content", seg(node), seg(storage)),
            {{"content", "backup"}}};
  if (vmid) r.params.emplace_back("vmid", std::to_string(*vmid));
  return then<std::vector<BackupVolume>>(
      call(r), r, [&](const Json& d) { return parse_backup_volumes(d, storage); });
}

ApiResult<std::string> Client::extract_config(const std::string& node, const std::string& volid) {
  Request r{"GET", fmt::format("/nodes/{}/vzdump/extractconfig", seg(node)), {{"volume", volid}}};
  auto data = call(r);
  if (!data) return tl::unexpected(data.error());
  if (!data->is_string()) {
    ApiError e;
    e.kind = ErrorKind::malformed;
    e.method = r.method;
    e.path = r.path;
    e.message = "expected the guest config as text";
    return tl::unexpected(e);
  }
  return data->get<std::string>();
}

ApiResult<Pool> Client::pool(const std::string& poolid) {
  Request r{"GET", fmt::format("/pools/{}", seg(poolid)), {}};
  return then<Pool>(call(r), r, [&](const Json& d) { return parse_pool(d, poolid); });
}

}  // namespace pvt::pve
