// The tunnel worker (`pvectl-tunnel tunnel --name NAME`): one SSH session to the VPS holding one
// remote forward, relaying every forwarded connection to the local target, in one non-blocking
// event loop (poll) on one thread — a libssh2 session belongs to one thread.
//
// The loop follows chrony's shape: one poll() over the session socket, the relayed sockets, a
// signalfd and the control API's eventfd, with a timeout from the earliest deadline of the pure
// parts (SessionMachine, Liveness, probe schedule, watchdog). All decisions live in those parts;
// this class performs them.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "tunnel/block_pool.h"
#include "tunnel/control_api.h"
#include "tunnel/http_probe.h"
#include "tunnel/liveness.h"
#include "tunnel/relay_channel.h"
#include "tunnel/resolver.h"
#include "tunnel/session_state.h"
#include "tunnel/ssh_connection.h"

namespace pvt::tunnel {

struct WorkerOptions {
  std::string config_path;  // re-read on SIGHUP
  std::string name;
  bool accept_new_hostkey = false;
};

class Worker {
 public:
  // Every time the worker reads comes from `clock` (steady time for its deadlines, wall time for
  // what it reports); it must outlive the worker. The loop itself waits in poll() on real
  // sockets, so run() wants a SystemClock.
  Worker(config::Tunnel tunnel, WorkerOptions options, pvt::Clock& clock);
  ~Worker();

  // Runs until SIGTERM/SIGINT; returns the process exit code.
  int run();

 private:
  using Clock = std::chrono::steady_clock;
  enum class Setup { tcp, handshake, host_key, auth };
  enum class Opening { none, probe, keepalive };

  // One loop iteration's work after poll().
  void step(Clock::time_point now);
  void drive_resolve(Clock::time_point now);
  void drive_connect(Clock::time_point now);
  void drive_setup(Clock::time_point now);
  void drive_session(Clock::time_point now);
  void drive_forward(Clock::time_point now);
  void note_inbound();  // bytes from the VPS since the last look prove it alive
  bool drive_relays(Clock::time_point now);
  void drive_opening(Clock::time_point now);
  void finish_probe(const ProbeOutcome& outcome, Clock::time_point now);
  void handle_due(Clock::time_point now);

  void begin_attempt(Clock::time_point now);
  void fail_session(const Step& why, Clock::time_point now);
  void teardown();
  void close_channel(LIBSSH2_CHANNEL* channel);

  void handle_signals(Clock::time_point now);
  void handle_commands(Clock::time_point now);
  ControlReply command_reply(ControlCommand command, Clock::time_point now);
  void reload(Clock::time_point now);

  void log_transitions();
  void publish();
  void notify_systemd(Clock::time_point now);
  std::optional<Clock::time_point> next_deadline(Clock::time_point now) const;

  SshSettings ssh_settings();
  SessionTimings timings() const;

  pvt::Clock& clock_;  // first: the members below start from its time
  config::Tunnel tunnel_;
  WorkerOptions options_;
  BlockPool pool_ = make_packet_pool();  // libssh2's packets
  BlockPool buffers_;                    // the relays' per-direction buffers
  SessionMachine machine_;
  ControlChannel control_;

  AsyncResolver resolver_;
  std::vector<Address> addresses_;
  size_t address_index_ = 0;
  std::unique_ptr<SshConnection> conn_;
  Setup setup_ = Setup::tcp;
  Clock::time_point connect_deadline_{};
  Clock::time_point setup_deadline_{};
  std::optional<Liveness> liveness_;
  bool socket_readable_ = false;
  Clock::time_point seen_inbound_{};
  bool forward_in_flight_ = false;

  std::vector<std::unique_ptr<RelayChannel>> relays_;
  std::vector<short> relay_revents_;
  std::vector<LIBSSH2_CHANNEL*> closing_;
  RelayTotals totals_;
  // tunnel.max_connections reached: new forwarded connections are closed at once. Logged when
  // it starts and when it ends (with the count), not per connection.
  bool at_connection_limit_ = false;
  int64_t refused_at_limit_ = 0;

  Opening opening_ = Opening::none;
  std::unique_ptr<HttpProbe> probe_;
  Clock::time_point next_probe_{};
  Clock::time_point probe_started_{};
  bool discard_opened_ = false;  // a probe open that timed out: close its channel on arrival
  int probe_failures_ = 0;
  ProbeResult last_probe_;

  int signal_fd_ = -1;
  bool exit_ = false;
  std::string last_logged_failure_;
  bool warned_long_refusal_ = false;
  std::chrono::system_clock::time_point since_wall_ = clock_.now();
  uint64_t watchdog_usec_ = 0;
  Clock::time_point next_watchdog_{};
  Clock::time_point last_traffic_{};
  bool trimmed_ = false;
  Clock::time_point last_publish_{};
  bool publish_now_ = true;  // a state change: publish at once
  bool dirty_ = false;       // counters moved: publish within kPublishEvery
};

}  // namespace pvt::tunnel
