// Typed calls to the Proxmox VE API over a Transport. Maps HTTP answers to ApiErrors,
// retries idempotent GETs with backoff (never a 401), and honours a deadline for the whole run.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "pve/models.h"
#include "pve/transport.h"

namespace pvt::pve {

struct RetryPolicy {
  int get_attempts = 3;  // total tries for a GET on timeout, unreachable, 5xx (not 595/596)
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{2000};
};

enum class GuestKind { qemu, lxc };
const char* to_string(GuestKind k);

struct VzdumpOptions {
  std::vector<int64_t> vmids;
  std::optional<std::string> storage;
  std::optional<std::string> mode;  // snapshot | suspend | stop
  std::optional<std::string> compress;
  std::optional<std::string> notes_template;
};

class Client {
 public:
  Client(Transport& transport, Clock& clock, RetryPolicy retry = {});

  // Every call fails with ErrorKind::timeout once the deadline has passed, and no request
  // waits beyond it.
  void set_deadline(std::optional<std::chrono::steady_clock::time_point> deadline);
  // Set once the deadline cut a request short or kept one from being sent: what did not answer
  // in time ("pve2.example.lan:8006 did not answer"), for the report's first line.
  const std::optional<std::string>& cut_by_deadline() const { return cut_by_deadline_; }

  ApiResult<Version> version();
  ApiResult<ClusterStatus> cluster_status();
  ApiResult<QDevice> qdevice();
  ApiResult<std::vector<VmResource>> vm_resources();
  ApiResult<std::vector<StorageResource>> storage_resources();
  ApiResult<std::vector<NodeEntry>> nodes();
  ApiResult<NodeTime> node_time(const std::string& node);
  ApiResult<Permissions> permissions(const std::optional<std::string>& path = std::nullopt);

  ApiResult<GuestStatus> guest_status(const std::string& node, GuestKind kind, int64_t vmid);
  ApiResult<GuestConfig> guest_config(const std::string& node, GuestKind kind, int64_t vmid);
  // PUT config (synchronous): e.g. {"onboot","1"}, {"startup","order=1"}.
  ApiResult<void> update_guest_config(const std::string& node, GuestKind kind, int64_t vmid,
                                      const Params& changes);
  ApiResult<Upid> start_guest(const std::string& node, GuestKind kind, int64_t vmid);
  // Restore a backup archive into a new guest `vmid` without starting it (qmrestore/vzrestore
  // task). Never overwrites: PVE refuses when `vmid` exists. `unique` gives the copy new MAC
  // addresses, so it cannot clash with the original on the network.
  ApiResult<Upid> restore_guest(const std::string& node, GuestKind kind, int64_t vmid,
                                const std::string& archive, const std::string& storage,
                                bool unique = true);
  // Destroy a stopped guest with its disks, also ones its config no longer references, and
  // remove it from jobs, replication and HA (qmdestroy/vzdestroy task).
  ApiResult<Upid> destroy_guest(const std::string& node, GuestKind kind, int64_t vmid);
  // Whether `vmid` is unused in the whole cluster (GET /cluster/nextid?vmid=N), which PVE
  // answers from its VM list whatever the token may see.
  ApiResult<bool> vmid_free(int64_t vmid);

  // nullopt when the node answered "OK": none of the guests is on that node, no task started.
  ApiResult<std::optional<Upid>> vzdump(const std::string& node, const VzdumpOptions& options);
  ApiResult<TaskStatus> task_status(const std::string& node, const std::string& upid);
  // Ask a running task to stop (DELETE /nodes/{node}/tasks/{upid}); it ends shortly after.
  ApiResult<void> stop_task(const std::string& node, const std::string& upid);
  ApiResult<std::vector<TaskLogLine>> task_log(const std::string& node, const std::string& upid,
                                               int64_t start = 0, int64_t limit = 5000);
  // Newest first, as the API returns them; `limit` bounds the answer, `since` is epoch seconds.
  ApiResult<std::vector<TaskListEntry>> node_tasks(const std::string& node,
                                                   const std::string& typefilter,
                                                   int64_t limit = 50,
                                                   std::optional<int64_t> since = std::nullopt);

  ApiResult<std::vector<BackupJob>> backup_jobs();
  ApiResult<std::vector<NotBackedUp>> not_backed_up();
  ApiResult<std::vector<StorageConfig>> storage_configs();
  ApiResult<std::vector<BackupVolume>> backup_volumes(const std::string& node,
                                                      const std::string& storage,
                                                      std::optional<int64_t> vmid = std::nullopt);
  // The guest config stored in a backup archive, as text.
  ApiResult<std::string> extract_config(const std::string& node, const std::string& volid);
  ApiResult<Pool> pool(const std::string& poolid);

  // Raw access for calls without a typed model: returns the "data" member.
  ApiResult<Json> call(const Request& request);

  // Number of HTTP requests made so far (tests assert check's call count).
  int requests_made() const { return requests_made_; }

 private:
  Transport& transport_;
  Clock& clock_;
  RetryPolicy retry_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::optional<std::string> cut_by_deadline_;
  int requests_made_ = 0;
};

}  // namespace pvt::pve
