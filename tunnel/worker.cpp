#include "tunnel/worker.h"

#include <fmt/format.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "common/config_values.h"
#include "common/sd_notify.h"
#include "common/utc_time.h"
#include "tunnel/aes_ctr_engine.h"

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// An unanswered SYN is retransmitted only after 1, 2, 4 s: after a short wait a fresh attempt
// (or the next address) reaches a healed network sooner. Long enough for a SYN-ACK over any
// real path.
constexpr milliseconds kConnectTimeout{1500};
// The handshake and authentication, which liveness does not cover yet.
constexpr seconds kMinSetupTimeout{10};
// The first probe waits a moment after the forward is bound, so sshd has the listener ready.
constexpr milliseconds kFirstProbeDelay{500};
// Per connection and direction: enough to keep the SSH stream (32 KiB packets) and a local socket
// both busy; a thousand connections whose buffers all fill still stay within 256 MiB.
constexpr size_t kRelayBuffer = 128 * 1024;
// Free relay buffers kept for the next burst (2 MiB).
constexpr size_t kRelayBuffersKept = 16;
// After this long without traffic the pools give their blocks back.
constexpr seconds kIdleTrim{5};
// A safety net only: every wait has its own deadline.
constexpr milliseconds kMaxSleep{60000};
// Status is re-published at least this often while only counters change.
constexpr milliseconds kPublishEvery{200};

std::string read_secret(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string join_addresses(const std::vector<Address>& addresses) {
  std::string out;
  for (const auto& a : addresses) {
    if (!out.empty()) out += ", ";
    out += a.text();
  }
  return out;
}

// Draining closes idle connections at once (RelayActivity says why). Stopping (SIGTERM) does
// the same: it too has cancelled the forward and only waits for open connections, so an idle
// kept-alive one would hold the exit for the whole drain_timeout_s, during which the VPS nginx
// keeps sending requests through this tunnel instead of the other one.
bool closes_idle_connections(State s) { return s == State::draining || s == State::stopping; }

bool has_session(State s) {
  return s == State::forward_pending || s == State::serving || s == State::draining ||
         s == State::drained || s == State::stopping;
}

// Settings whose change needs a new session (the others apply in place on SIGHUP).
bool session_settings_differ(const config::Tunnel& a, const config::Tunnel& b) {
  return a.vps_host != b.vps_host || a.vps_port != b.vps_port || a.user != b.user ||
         a.key_file != b.key_file || a.passphrase_file != b.passphrase_file ||
         a.known_hosts_file != b.known_hosts_file || a.remote.str() != b.remote.str();
}

// Every relayed connection takes a descriptor, and so does each control API client: the soft
// limit (often 1024, lower where something lowered it) goes up to the hard one, which is the
// administrator's choice (LimitNOFILE= in the systemd unit).
void raise_descriptor_limit(const std::string& name) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("tunnel {}: cannot read the open files limit: {}", name, std::strerror(errno));
    return;
  }
  if (limit.rlim_cur >= limit.rlim_max) return;
  const rlim_t before = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("tunnel {}: cannot raise the open files limit from {} to {}: {}", name, before,
                 limit.rlim_max, std::strerror(errno));
    return;
  }
  spdlog::debug("tunnel {}: open files limit raised from {} to {}", name, before, limit.rlim_max);
}

}  // namespace

Worker::Worker(config::Tunnel tunnel, WorkerOptions options, pvt::Clock& clock)
    : clock_(clock),
      tunnel_(std::move(tunnel)),
      options_(std::move(options)),
      buffers_(kRelayBuffer, 0, kRelayBuffersKept),
      machine_(timings(), Backoff(BackoffPolicy{}, std::random_device{}()), clock_.steady_now()) {}

Worker::~Worker() {
  teardown();
  if (signal_fd_ >= 0) ::close(signal_fd_);
}

SessionTimings Worker::timings() const {
  SessionTimings t;
  t.forward_pending_max = seconds(tunnel_.forward_pending_max_s);
  t.drain_timeout = seconds(tunnel_.drain_timeout_s);
  return t;
}

SshSettings Worker::ssh_settings() {
  SshSettings s;
  s.host = tunnel_.vps_host;
  s.port = tunnel_.vps_port;
  s.user = tunnel_.user;
  s.key_file = tunnel_.key_file;
  if (tunnel_.passphrase_file) s.passphrase = read_secret(*tunnel_.passphrase_file);
  s.known_hosts_file = tunnel_.known_hosts_file;
  s.accept_new_hostkey = options_.accept_new_hostkey;
  s.on_new_host_key_trusted = [this] { options_.accept_new_hostkey = false; };
  s.remote = tunnel_.remote;
  // A VPS that takes no data for as long as a silent one may stay silent is as dead.
  s.send_timeout = seconds(tunnel_.keepalive_interval_s * tunnel_.keepalive_count_max);
  return s;
}

int Worker::run() {
  // The loop is one thread; the API thread needs no arena of its own (each would keep its own
  // free memory resident).
  mallopt(M_ARENA_MAX, 1);
  raise_descriptor_limit(tunnel_.name);
  libssh2_init(0);
  if (auto fast = use_aes_ctr_engine(); !fast) {
    spdlog::warn(
        "tunnel {}: the AES-CTR fast path is not available ({}); libssh2's own AES-CTR is used",
        tunnel_.name, fast.error().message);
  }
  // Signals arrive through a signalfd in the loop; block them before any thread starts so the
  // API thread never takes one.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  signal_fd_ = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);

  if (!config::is_loopback_address(tunnel_.control_listen.host)) {
    // Only with allow_remote_control (the config refuses it otherwise): a door beyond this
    // guest, which must be firewalled to the Proxmox hosts.
    spdlog::warn(
        "tunnel {}: the control API listens on {}, not on loopback "
        "(allow_remote_control = true): make sure a firewall lets only the Proxmox hosts "
        "reach it",
        tunnel_.name, tunnel_.control_listen.str());
  }
  ControlServer server(control_, tunnel_.control_token);
  if (auto started = server.start(tunnel_.control_listen); !started) {
    spdlog::error("tunnel {}: {}", tunnel_.name, started.error().message);
    return 1;
  }
  spdlog::info("tunnel {}: started; VPS {}:{} as {}, forward {} -> {}, control API on {}",
               tunnel_.name, tunnel_.vps_host, tunnel_.vps_port, tunnel_.user, tunnel_.remote.str(),
               tunnel_.local.str(), tunnel_.control_listen.str());
  // Ready as soon as the loop runs: never wait for the network, so boot is not held up.
  if (const auto interval = sd::watchdog_interval()) {
    watchdog_usec_ = static_cast<uint64_t>(interval->count());
    next_watchdog_ = clock_.steady_now();
  }
  sd::notify(fmt::format("READY=1\nSTATUS={}", describe(machine_.state())));
  publish();

  bool busy = false;
  std::vector<pollfd> fds;
  while (!exit_) {
    Clock::time_point now = clock_.steady_now();
    fds.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    fds.push_back({control_.wake_fd(), POLLIN, 0});
    pollfd session{-1, 0, 0};
    if (conn_ && conn_->fd() >= 0) {
      session = conn_->events();
      if (machine_.state() == State::connecting) session.events = POLLOUT;
    }
    fds.push_back(session);
    for (const auto& r : relays_) fds.push_back(r->local_events());

    // Idle means asleep: the loop wakes for the next deadline only (keepalive, probe, watchdog).
    int timeout_ms = static_cast<int>(kMaxSleep.count());
    if (busy) {
      timeout_ms = 0;
    } else if (auto deadline = next_deadline(now)) {
      const auto wait = std::chrono::ceil<milliseconds>(*deadline - now).count();
      timeout_ms = static_cast<int>(std::clamp<int64_t>(wait, 0, kMaxSleep.count()));
    }
    const int ready = ::poll(fds.data(), fds.size(), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      spdlog::critical("tunnel {}: poll failed: {}", tunnel_.name, std::strerror(errno));
      return 1;
    }
    now = clock_.steady_now();
    if (fds[0].revents != 0) handle_signals(now);
    if (fds[1].revents != 0) handle_commands(now);
    socket_readable_ = (fds[2].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
    relay_revents_.resize(relays_.size());
    for (size_t i = 0; i < relays_.size() && i + 3 < fds.size(); ++i) {
      relay_revents_[i] = fds[i + 3].revents;
    }
    const uint64_t bytes_before = conn_ ? conn_->socket_bytes_in() : 0;
    const RelayTotals totals_before = totals_;
    if (!exit_) step(now);
    // Bytes read from the socket in this pass may belong to channels already served in it, and
    // poll will not report them again: go round once more without waiting.
    busy = (conn_ && conn_->socket_bytes_in() != bytes_before) ||
           totals_.from_vps != totals_before.from_vps || totals_.to_vps != totals_before.to_vps;
    if (busy) {
      last_traffic_ = now;
      trimmed_ = false;
    }
    dirty_ = dirty_ || busy || ready > 0;
    log_transitions();
    notify_systemd(now);
    publish();
  }

  sd::notify("STOPPING=1\nSTATUS=stopped");
  for (auto& r : relays_) r->abort("worker stopping");
  if (conn_) conn_->disconnect("pvectl-tunnel worker stopping");
  teardown();
  server.stop();
  spdlog::info("tunnel {}: stopped", tunnel_.name);
  return 0;
}

// --- one pass ---

void Worker::step(Clock::time_point now) {
  // A state change can make the next phase ready at once (resolved -> connect): go on while
  // the state moves, a few times at most.
  for (int i = 0; i < 4 && !exit_; ++i) {
    const State before = machine_.state();
    switch (before) {
      case State::resolving:
        drive_resolve(now);
        break;
      case State::connecting:
        drive_connect(now);
        break;
      case State::authenticating:
        drive_setup(now);
        break;
      case State::backoff:
        break;
      default:
        drive_session(now);
        break;
    }
    handle_due(now);
    if (machine_.state() == before) break;
  }
}

void Worker::drive_resolve(Clock::time_point now) {
  if (!resolver_.running()) {
    resolver_.start(tunnel_.vps_host, tunnel_.vps_port);
    return;
  }
  auto answer = resolver_.poll();
  if (!answer) return;
  if (!*answer) {
    fail_session(Step::fail(FailureKind::network, answer->error().message), now);
    return;
  }
  addresses_ = std::move(**answer);
  address_index_ = 0;
  machine_.resolved(now, join_addresses(addresses_));
}

void Worker::drive_connect(Clock::time_point now) {
  // Every address in turn; the last failure decides how soon the next attempt comes.
  Step last = Step::fail(FailureKind::network, "no address to connect to");
  while (true) {
    if (!conn_) {
      if (address_index_ >= addresses_.size()) {
        fail_session(last, now);
        return;
      }
      conn_ = std::make_unique<SshConnection>(ssh_settings(), pool_);
      conn_->set_waiting_hook([this] { notify_systemd(clock_.steady_now()); });
      connect_deadline_ = now + kConnectTimeout;
      Step s = conn_->start_connect(addresses_[address_index_]);
      if (s.status == Step::again) return;
      if (s.status == Step::failed) {
        last = s;
        conn_.reset();
        ++address_index_;
        continue;
      }
    } else {
      Step s = conn_->finish_connect();
      if (s.status == Step::again) {
        if (now < connect_deadline_) return;
        s = Step::fail(FailureKind::network_timeout,
                       fmt::format("connecting to {} timed out after {} ms", conn_->peer(),
                                   kConnectTimeout.count()));
      }
      if (s.status == Step::failed) {
        last = s;
        conn_.reset();
        ++address_index_;
        continue;
      }
    }
    break;
  }
  machine_.connected(now);
  setup_ = Setup::handshake;
  setup_deadline_ = now + std::max<std::chrono::seconds>(
                              kMinSetupTimeout,
                              seconds(tunnel_.keepalive_interval_s * tunnel_.keepalive_count_max));
}

void Worker::drive_setup(Clock::time_point now) {
  if (conn_->broken()) {
    fail_session(conn_->failure(), now);
    return;
  }
  if (now >= setup_deadline_) {
    fail_session(
        Step::fail(FailureKind::network,
                   fmt::format("SSH handshake with {} did not finish in time", conn_->peer())),
        now);
    return;
  }
  while (true) {
    Step s;
    switch (setup_) {
      case Setup::tcp:
      case Setup::handshake:
        s = conn_->handshake();
        break;
      case Setup::host_key:
        s = conn_->verify_host_key();
        break;
      case Setup::auth:
        s = conn_->authenticate();
        break;
    }
    if (s.status == Step::again) return;
    if (s.status != Step::done) {
      fail_session(s, now);
      return;
    }
    if (setup_ == Setup::auth) break;
    setup_ = setup_ == Setup::host_key ? Setup::auth : Setup::host_key;
  }
  liveness_.emplace(seconds(tunnel_.keepalive_interval_s), tunnel_.keepalive_count_max, now);
  seen_inbound_ = conn_->last_inbound();
  forward_in_flight_ = false;
  machine_.authenticated(now);
}

void Worker::drive_session(Clock::time_point now) {
  if (!conn_ || conn_->broken()) {
    fail_session(
        conn_ ? conn_->failure() : Step::fail(FailureKind::network, "connection to the VPS lost"),
        now);
    return;
  }
  note_inbound();
  drive_forward(now);
  if (!conn_) return;

  const State state = machine_.state();
  if (state == State::serving && conn_->forward_bound()) {
    // Accepting also reads the socket into libssh2 (every channel's data, the server's
    // keepalives and window adjustments).
    while (LIBSSH2_CHANNEL* ch = conn_->accept()) {
      if (relays_.size() >= static_cast<size_t>(tunnel_.max_connections)) {
        // Closing it at once tells the VPS side, whose nginx then tries the other tunnel; each
        // relay may pin ~2.5 MiB when the VPS stalls, so the cap bounds the guest's memory.
        if (!at_connection_limit_) {
          spdlog::warn(
              "tunnel {}: max_connections ({}) reached: refusing new forwarded "
              "connections until some close",
              tunnel_.name, tunnel_.max_connections);
          at_connection_limit_ = true;
        }
        ++refused_at_limit_;
        close_channel(ch);
        continue;
      }
      relays_.push_back(std::make_unique<RelayChannel>(ch, tunnel_.local, buffers_, now));
    }
    if (at_connection_limit_ && relays_.size() < static_cast<size_t>(tunnel_.max_connections)) {
      spdlog::info("tunnel {}: below max_connections again; {} connections were refused",
                   tunnel_.name, refused_at_limit_);
      at_connection_limit_ = false;
      refused_at_limit_ = 0;
    }
  } else if (socket_readable_) {
    if (!relays_.empty()) {
      conn_->pump(relays_.front()->channel());
    } else if (!probe_ && opening_ == Opening::none && closing_.empty()) {
      opening_ = Opening::keepalive;
    }
  }
  drive_relays(now);
  note_inbound();  // what the relays just read counts before the liveness verdict
  switch (liveness_->tick(now)) {
    case Liveness::Action::none:
      break;
    case Liveness::Action::send_probe:
      // An open or a probe already in flight needs an answer too; otherwise ask for one.
      if (opening_ == Opening::none && !probe_) opening_ = Opening::keepalive;
      liveness_->on_probe_sent(now);
      break;
    case Liveness::Action::dead:
      fail_session(
          Step::fail(FailureKind::network,
                     fmt::format("no answer from the VPS for {} s (keepalive {} s x {}): "
                                 "the network or the VPS is down",
                                 liveness_->silence(now).count() / 1000,
                                 tunnel_.keepalive_interval_s, tunnel_.keepalive_count_max)),
          now);
      return;
  }

  if (machine_.state() == State::serving && tunnel_.probe && !probe_ && opening_ == Opening::none &&
      now >= next_probe_) {
    opening_ = Opening::probe;
    probe_started_ = now;
    discard_opened_ = false;
  }

  drive_opening(now);
  if (!conn_) return;

  for (auto it = closing_.begin(); it != closing_.end();) {
    if (libssh2_channel_free(*it) == LIBSSH2_ERROR_EAGAIN) {
      ++it;
    } else {
      it = closing_.erase(it);
    }
  }
  if (conn_->broken()) {
    fail_session(conn_->failure(), now);
    return;
  }

  const bool forward_gone = !conn_->forward_bound() && !forward_in_flight_;
  if (machine_.state() == State::draining && relays_.empty() && forward_gone) {
    machine_.channels_closed(now);
  }
  if (machine_.state() == State::stopping && relays_.empty() && forward_gone) exit_ = true;

  if (!trimmed_ && now - last_traffic_ >= kIdleTrim) {
    // Idle: hand pooled packets and freed heap pages back, so an idle worker stays small.
    pool_.trim();
    buffers_.trim();
    malloc_trim(0);
    trimmed_ = true;
  }
}

void Worker::note_inbound() {
  if (conn_->last_inbound() > seen_inbound_) {
    seen_inbound_ = conn_->last_inbound();
    liveness_->on_inbound(seen_inbound_);
  }
}

void Worker::drive_forward(Clock::time_point now) {
  const State state = machine_.state();
  if (state == State::forward_pending && !forward_in_flight_ &&
      machine_.due(now) == SessionMachine::Due::retry_forward) {
    machine_.forward_requested(now);
    forward_in_flight_ = true;
  }
  if (forward_in_flight_) {
    Step s = conn_->request_forward();
    if (s.status == Step::again) return;
    forward_in_flight_ = false;
    switch (s.status) {
      case Step::done:
        if (machine_.forward_bound(now, tunnel_.remote.str())) {
          warned_long_refusal_ = false;
          next_probe_ = now + kFirstProbeDelay;
          probe_failures_ = 0;
        }
        break;
      case Step::refused:
        machine_.forward_refused(now);
        if (machine_.forward_refusals() == 1) {
          spdlog::warn("tunnel {}: {}; keeping the session and retrying", tunnel_.name, s.message);
        }
        if (!warned_long_refusal_ && machine_.forward_long_refused(now)) {
          warned_long_refusal_ = true;
          spdlog::warn(
              "tunnel {}: the VPS has refused {} {} times: something else holds that port on "
              "the VPS (a stale session of ours until the VPS sshd's ClientAlive timeout ends "
              "it, or the old autossh unit still running); reconnecting after {} s",
              tunnel_.name, tunnel_.remote.str(), machine_.forward_refusals(),
              tunnel_.forward_pending_max_s);
        }
        break;
      default:
        fail_session(s, now);
        return;
    }
  }
  // Drained, draining or stopping: the forward goes, so the VPS nginx sends new requests to the
  // other tunnel while open connections finish here.
  const State after = machine_.state();
  if ((after == State::draining || after == State::drained || after == State::stopping) &&
      conn_->forward_bound()) {
    Step s = conn_->cancel_forward();
    if (s.status == Step::failed) fail_session(s, now);
  }
}

bool Worker::drive_relays(Clock::time_point now) {
  bool progress = false;
  for (size_t i = 0; i < relays_.size(); ++i) {
    const short revents = i < relay_revents_.size() ? relay_revents_[i] : 0;
    progress |= relays_[i]->pump(revents, totals_, now);
  }
  // After the pump, so a request that has just arrived counts as activity, not as idle.
  if (closes_idle_connections(machine_.state())) {
    int closed = 0;
    for (auto& r : relays_) {
      const auto idle_at = r->idle_at();
      if (!idle_at || *idle_at > now) continue;
      r->close_idle();
      progress |= r->pump(0, totals_, now);
      ++closed;
    }
    if (closed > 0) {
      spdlog::debug("tunnel {}: {}: closed {} idle connection(s)", tunnel_.name,
                    to_string(machine_.state()), closed);
      dirty_ = true;  // channels_open changed
    }
  }
  for (size_t i = 0; i < relays_.size();) {
    if (!relays_[i]->finished()) {
      ++i;
      continue;
    }
    if (!relays_[i]->error().empty()) {
      spdlog::debug("tunnel {}: connection closed: {}", tunnel_.name, relays_[i]->error());
    }
    close_channel(relays_[i]->release_channel());
    relays_.erase(relays_.begin() + static_cast<std::ptrdiff_t>(i));
    if (i < relay_revents_.size()) {
      relay_revents_.erase(relay_revents_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  return progress;
}

void Worker::drive_opening(Clock::time_point now) {
  const auto probe_timeout = std::min<milliseconds>(seconds(tunnel_.probe_interval_s), seconds(10));
  if (opening_ == Opening::probe) {
    LIBSSH2_CHANNEL* ch = nullptr;
    Step s = conn_->open_direct(tunnel_.remote, &ch);
    if (s.status == Step::again) {
      if (!discard_opened_ && now - probe_started_ >= probe_timeout) {
        discard_opened_ = true;  // the open stays in flight; its channel is closed on arrival
        finish_probe(ProbeOutcome{false, {}, "the VPS did not open the probe channel in time"},
                     now);
      }
      return;
    }
    opening_ = Opening::none;
    if (s.status == Step::failed) {
      fail_session(s, now);
      return;
    }
    if (s.status == Step::refused) {
      if (!discard_opened_) finish_probe(ProbeOutcome{false, {}, s.message}, now);
    } else if (discard_opened_) {
      close_channel(ch);
    } else {
      probe_ =
          std::make_unique<HttpProbe>(ch, probe_request(tunnel_.probe_path, tunnel_.remote.str()),
                                      probe_started_, probe_started_ + probe_timeout);
    }
  } else if (opening_ == Opening::keepalive) {
    Step s = conn_->open_keepalive();
    if (s.status == Step::again) return;
    opening_ = Opening::none;
    if (s.status == Step::failed) {
      fail_session(s, now);
      return;
    }
  }
  if (probe_) {
    if (auto outcome = probe_->pump(now)) {
      close_channel(probe_->channel());
      probe_.reset();
      finish_probe(*outcome, now);
    }
  }
}

void Worker::finish_probe(const ProbeOutcome& outcome, Clock::time_point now) {
  last_probe_.ok = outcome.ok;
  last_probe_.latency_ms =
      outcome.ok ? std::optional<int64_t>(outcome.latency.count()) : std::nullopt;
  last_probe_.at = format_utc(clock_.now());
  next_probe_ = now + seconds(tunnel_.probe_interval_s);
  if (outcome.ok) {
    if (probe_failures_ > 0) {
      spdlog::info("tunnel {}: end-to-end probe passes again ({}, {} ms)", tunnel_.name,
                   outcome.message, outcome.latency.count());
    }
    probe_failures_ = 0;
    return;
  }
  ++probe_failures_;
  spdlog::warn("tunnel {}: end-to-end probe {} via {} failed ({}/{}): {}", tunnel_.name,
               tunnel_.probe_path, tunnel_.remote.str(), probe_failures_,
               tunnel_.probe_failures_max, outcome.message);
  if (probe_failures_ >= tunnel_.probe_failures_max) {
    fail_session(Step::fail(FailureKind::after_connect,
                            fmt::format("end-to-end probe failed {} times in a row: {}",
                                        probe_failures_, outcome.message)),
                 now);
  }
}

void Worker::handle_due(Clock::time_point now) {
  switch (machine_.due(now)) {
    case SessionMachine::Due::nothing:
    case SessionMachine::Due::retry_forward:
      break;
    case SessionMachine::Due::reconnect:
      fail_session(
          Step::fail(FailureKind::after_connect,
                     fmt::format("the VPS refused the forward {} for {} s (something else holds "
                                 "that port on the VPS); reconnecting",
                                 tunnel_.remote.str(), tunnel_.forward_pending_max_s)),
          now);
      break;
    case SessionMachine::Due::backoff_over:
      machine_.retry(now);
      break;
    case SessionMachine::Due::drain_timeout:
      if (!relays_.empty()) {
        spdlog::warn("tunnel {}: {} connection(s) still open after {} s; closing them",
                     tunnel_.name, relays_.size(), tunnel_.drain_timeout_s);
      }
      for (auto& r : relays_) r->abort("drain timeout");
      drive_relays(now);
      if (machine_.state() == State::draining) machine_.channels_closed(now);
      if (machine_.state() == State::stopping) exit_ = true;
      break;
  }
}

// --- failure and teardown ---

void Worker::fail_session(const Step& why, Clock::time_point now) {
  const bool stopping = machine_.state() == State::stopping;
  teardown();
  if (stopping) {
    exit_ = true;
    return;
  }
  machine_.failed(why.kind, why.message, now);
}

void Worker::teardown() {
  // The session frees every channel it still has; ours only close their local sockets.
  relays_.clear();
  relay_revents_.clear();
  closing_.clear();
  probe_.reset();
  opening_ = Opening::none;
  discard_opened_ = false;
  forward_in_flight_ = false;
  liveness_.reset();
  conn_.reset();
  addresses_.clear();
  setup_ = Setup::tcp;
  pool_.trim();
  buffers_.trim();
}

void Worker::close_channel(LIBSSH2_CHANNEL* channel) {
  if (channel == nullptr) return;
  if (libssh2_channel_free(channel) == LIBSSH2_ERROR_EAGAIN) {
    closing_.push_back(channel);
  }
}

// --- signals, commands, reload ---

void Worker::handle_signals(Clock::time_point now) {
  signalfd_siginfo info{};
  while (::read(signal_fd_, &info, sizeof info) == sizeof info) {
    if (info.ssi_signo == SIGHUP) {
      reload(now);
      continue;
    }
    if (machine_.state() == State::stopping) {
      spdlog::warn("tunnel {}: second stop signal; exiting now", tunnel_.name);
      exit_ = true;
      return;
    }
    sd::notify("STOPPING=1");
    if (!has_session(machine_.state())) {
      exit_ = true;
      return;
    }
    spdlog::info(
        "tunnel {}: stopping: cancelling the forward, letting {} open connection(s) "
        "finish (up to {} s)",
        tunnel_.name, relays_.size(), tunnel_.drain_timeout_s);
    machine_.stop(now);
  }
}

void Worker::handle_commands(Clock::time_point now) {
  for (const auto& pending : control_.take()) {
    control_.answer(pending.id, command_reply(pending.command, now));
  }
  log_transitions();
  publish_now_ = true;
}

ControlReply Worker::command_reply(ControlCommand command, Clock::time_point now) {
  auto answer = [&](std::string message) {
    nlohmann::json j = {{"state", to_string(machine_.state())},
                        {"drain_requested", machine_.drain_requested()},
                        {"message", std::move(message)}};
    return ControlReply{200, j.dump()};
  };
  if (machine_.state() == State::stopping) {
    return ControlReply{409, nlohmann::json{{"error", "the worker is stopping"}}.dump()};
  }
  switch (command) {
    case ControlCommand::drain:
      spdlog::info("tunnel {}: drain requested through the control API", tunnel_.name);
      if (machine_.drain(now)) return answer("forward cancelled; open connections finishing");
      return answer(machine_.state() == State::drained || machine_.state() == State::draining
                        ? "already drained"
                        : "not connected; the forward will not be requested until resumed");
    case ControlCommand::resume:
      spdlog::info("tunnel {}: resume requested through the control API", tunnel_.name);
      if (machine_.resume(now)) return answer("requesting the forward again");
      return answer("not drained; nothing to resume");
    case ControlCommand::reconnect:
      spdlog::info("tunnel {}: reconnect requested through the control API", tunnel_.name);
      fail_session(Step::fail(FailureKind::clean_close, "reconnect requested"), now);
      return answer("reconnecting");
  }
  return ControlReply{400, nlohmann::json{{"error", "unknown command"}}.dump()};
}

void Worker::reload(Clock::time_point now) {
  spdlog::info("tunnel {}: SIGHUP: reloading {}", tunnel_.name, options_.config_path);
  auto cfg = config::load(options_.config_path, config::Command::tunnel);
  if (!cfg) {
    for (const auto& p : cfg.error()) {
      spdlog::error("tunnel {}: reload: {}", tunnel_.name, p.format());
    }
    spdlog::error("tunnel {}: reload failed; keeping the running configuration", tunnel_.name);
    return;
  }
  const config::Tunnel* fresh = cfg->find_tunnel(options_.name);
  if (fresh == nullptr) {
    spdlog::error(
        "tunnel {}: reload: the config has no [[tunnel]] named \"{}\" any more; keeping "
        "the running configuration",
        tunnel_.name, options_.name);
    return;
  }
  if (fresh->control_listen.str() != tunnel_.control_listen.str() ||
      fresh->control_token != tunnel_.control_token) {
    spdlog::warn("tunnel {}: control_listen and control_token_file changes apply after a restart",
                 tunnel_.name);
  }
  const bool reconnect = session_settings_differ(tunnel_, *fresh);
  const auto listen = tunnel_.control_listen;
  const auto token = tunnel_.control_token;
  tunnel_ = *fresh;
  tunnel_.control_listen = listen;
  tunnel_.control_token = token;
  machine_.set_timings(timings());
  if (liveness_) {
    liveness_.emplace(seconds(tunnel_.keepalive_interval_s), tunnel_.keepalive_count_max, now);
  }
  if (reconnect && machine_.state() != State::stopping) {
    spdlog::info("tunnel {}: session settings changed; reconnecting", tunnel_.name);
    fail_session(Step::fail(FailureKind::clean_close, "configuration reloaded"), now);
  } else {
    spdlog::info("tunnel {}: configuration reloaded; session kept", tunnel_.name);
  }
}

// --- reporting ---

void Worker::log_transitions() {
  for (const auto& t : machine_.take_transitions()) {
    since_wall_ = clock_.now();
    publish_now_ = true;
    const char* to = to_string(t.to);
    if (t.to == State::backoff) {
      // Once per distinct failure, not once per attempt: a long DNS outage is one line.
      const auto wait = machine_.wakeup().value_or(t.at) - t.at;
      if (t.reason != last_logged_failure_) {
        spdlog::warn("tunnel {}: {}; retrying in {} ms", tunnel_.name, t.reason,
                     std::chrono::duration_cast<milliseconds>(wait).count());
        last_logged_failure_ = t.reason;
      } else {
        spdlog::debug("tunnel {}: {} (again); retrying in {} ms", tunnel_.name, t.reason,
                      std::chrono::duration_cast<milliseconds>(wait).count());
      }
    } else if (t.to == State::resolving || t.to == State::connecting ||
               t.to == State::authenticating) {
      spdlog::debug("tunnel {}: state {} => {}: {}", tunnel_.name, to_string(t.from), to, t.reason);
    } else {
      if (t.to == State::serving) last_logged_failure_.clear();
      spdlog::info("tunnel {}: state {} => {}: {}", tunnel_.name, to_string(t.from), to, t.reason);
    }
    if (t.to == State::serving) {
      sd::notify(fmt::format("STATUS=serving: forward {} on {} bound, relaying to {}",
                             tunnel_.remote.str(), tunnel_.vps_host, tunnel_.local.str()));
    } else {
      sd::notify(fmt::format("STATUS={}: {}{}{}", to, describe(t.to), t.reason.empty() ? "" : " - ",
                             t.reason));
    }
  }
}

void Worker::publish() {
  const auto now = clock_.steady_now();
  // State changes at once; counters at most every kPublishEvery.
  if (!publish_now_ && !(dirty_ && now - last_publish_ >= kPublishEvery)) return;
  publish_now_ = false;
  dirty_ = false;
  last_publish_ = now;
  WorkerStatus s;
  s.name = tunnel_.name;
  s.state = to_string(machine_.state());
  s.since = format_utc(since_wall_);
  s.vps = fmt::format("{}:{}", tunnel_.vps_host, tunnel_.vps_port);
  if (machine_.state() == State::serving) s.forward = tunnel_.remote.str();
  s.reconnects = machine_.reconnects();
  if (!machine_.last_error().empty()) s.last_error = machine_.last_error();
  s.probe = last_probe_;
  s.channels_open = static_cast<int64_t>(relays_.size());
  s.bytes_in = static_cast<int64_t>(totals_.from_vps);
  s.bytes_out = static_cast<int64_t>(totals_.to_vps);
  s.role = std::string(config::to_string(tunnel_.role));
  s.local = tunnel_.local.str();
  s.drain_requested = machine_.drain_requested();
  s.forward_refusals = machine_.forward_refusals();
  s.ssh_heap_bytes = static_cast<int64_t>(pool_.live_bytes());
  control_.publish(s);
}

void Worker::notify_systemd(Clock::time_point now) {
  if (watchdog_usec_ == 0 || now < next_watchdog_) return;
  sd::notify("WATCHDOG=1");
  next_watchdog_ = now + std::chrono::microseconds(watchdog_usec_ / 2);
}

std::optional<Worker::Clock::time_point> Worker::next_deadline(Clock::time_point now) const {
  std::optional<Clock::time_point> best = machine_.wakeup();
  auto consider = [&](Clock::time_point t) {
    if (!best || t < *best) best = t;
  };
  switch (machine_.state()) {
    case State::resolving:
      consider(now + milliseconds(50));  // the lookup runs on another thread
      break;
    case State::connecting:
      consider(connect_deadline_);
      break;
    case State::authenticating:
      consider(setup_deadline_);
      break;
    default:
      break;
  }
  if (liveness_) consider(liveness_->next_wakeup());
  if (machine_.state() == State::serving && tunnel_.probe && !probe_) consider(next_probe_);
  if (probe_ || opening_ == Opening::probe) consider(now + milliseconds(100));
  if (!closing_.empty()) consider(now + milliseconds(100));
  if (closes_idle_connections(machine_.state())) {
    for (const auto& r : relays_) {
      if (auto idle_at = r->idle_at()) consider(*idle_at);
    }
  }
  if (watchdog_usec_ != 0) consider(next_watchdog_);
  if (!trimmed_ && conn_) consider(last_traffic_ + kIdleTrim);
  if (dirty_) consider(last_publish_ + kPublishEvery);
  return best;
}

}  // namespace pvt::tunnel
