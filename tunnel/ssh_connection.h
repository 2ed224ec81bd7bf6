// One SSH connection to the VPS, driven without blocking on reads: every step returns `again`
// until it can finish, and the event loop waits on events() before calling it again.
//
// Sends are the exception, on purpose. libssh2 has one output buffer per session: a send that
// returned EAGAIN leaves its packet half-sent, and until the same call is repeated with the same
// arguments every other send fails with LIBSSH2_ERROR_BAD_USE — including the replies libssh2
// sends by itself while reading (channel open confirmations, window adjustments). With many
// channels that loses connections. So the socket send callback waits for room (poll) until the
// packet is out, bounded by send_timeout: libssh2 never sees EAGAIN on a send. The VPS's sshd
// reads its socket whatever it is doing, so the wait is only as long as the network needs.
//
// The connection never decides what to do next (SessionMachine does); it reports what happened
// with enough detail to choose the backoff (FailureKind) and to tell the user what to fix.
#pragma once

#include <libssh2.h>
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/config.h"
#include "tunnel/backoff.h"
#include "tunnel/block_pool.h"
#include "tunnel/resolver.h"

namespace pvt::tunnel {

struct SshSettings {
  std::string host;
  int port = 22;
  std::string user;
  std::string key_file;
  std::string passphrase;  // empty: the key is not encrypted
  std::string known_hosts_file;
  bool accept_new_hostkey = false;
  // Called once a new host key was trusted and written: the worker then trusts no other one for
  // the rest of its life (--accept-new-hostkey means one key, not one per reconnect).
  std::function<void()> on_new_host_key_trusted;
  // A send that cannot get rid of its data gives up once nothing has come from the VPS for this
  // long (the worker uses keepalive interval x count, the Liveness bound).
  std::chrono::milliseconds send_timeout{30000};
  config::HostPort remote;  // the forward requested on the VPS, exactly as configured
};

struct Step {
  enum Status { done, again, refused, failed };
  Status status = done;
  FailureKind kind = FailureKind::after_connect;  // when failed
  std::string message;                            // when failed or refused

  static Step ok() { return {}; }
  static Step wait() { return {again, FailureKind::after_connect, {}}; }
  static Step fail(FailureKind k, std::string m) { return {failed, k, std::move(m)}; }
};

class SshConnection {
 public:
  using Clock = std::chrono::steady_clock;

  SshConnection(SshSettings settings, BlockPool& pool);
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  // TCP: start_connect, then finish_connect once the socket is writable.
  Step start_connect(const Address& address);
  Step finish_connect();
  // SSH: handshake, host key, public key authentication.
  Step handshake();
  Step verify_host_key();
  Step authenticate();
  // The remote forward (`refused` when the VPS says no) and its cancellation (drain).
  Step request_forward();
  Step cancel_forward();
  bool forward_bound() const { return listener_ != nullptr; }
  // A connection the VPS forwarded to us, or nullptr when none is waiting (see broken()).
  LIBSSH2_CHANNEL* accept();

  // Opening channels: libssh2 keeps one open state per session, so only one open may be in
  // flight; the caller serialises (see Worker). `done` with channel set, or `failed`.
  Step open_direct(const config::HostPort& target, LIBSSH2_CHANNEL** channel);
  // Something the server must answer, for dead-peer detection: opening a channel of a type no
  // server knows is answered with SSH_MSG_CHANNEL_OPEN_FAILURE (RFC 4254 5.1), consumed by
  // libssh2 — unlike keepalive@openssh replies, which libssh2 1.10 lets pile up (issue #623).
  Step open_keepalive();

  // Reads whatever the server sent into libssh2 through one of our channels, when no other call
  // would (no listener to accept on); without any channel, open_keepalive() does the same.
  void pump(LIBSSH2_CHANNEL* channel);

  // What the loop should wait for on the session socket.
  pollfd events() const;
  int fd() const { return fd_; }
  LIBSSH2_SESSION* session() const { return session_; }

  // The socket failed or the server closed the session; failure() says how.
  bool broken() const { return broken_; }
  Step failure() const;
  // Classifies a libssh2 error from a call on this session.
  Step error_step(int rc, const char* what);

  // Called about once a second while a send waits for room (the loop's watchdog ping).
  void set_waiting_hook(std::function<void()> hook) { waiting_hook_ = std::move(hook); }

  // Tells the server goodbye (best effort, bounded) and closes the socket.
  void disconnect(const char* reason);

  Clock::time_point last_inbound() const { return last_inbound_; }
  uint64_t socket_bytes_in() const { return socket_in_; }
  uint64_t socket_bytes_out() const { return socket_out_; }
  const std::string& peer() const { return peer_; }

 private:
  static ssize_t on_recv(libssh2_socket_t fd, void* buf, size_t len, int flags, void** abstract);
  static ssize_t on_send(libssh2_socket_t fd, const void* buf, size_t len, int flags,
                         void** abstract);
  static void on_disconnect(LIBSSH2_SESSION*, int reason, const char* message, int message_len,
                            const char*, int, void** abstract);
  static void* on_alloc(size_t size, void** abstract);
  static void on_free(void* p, void** abstract);
  static void* on_realloc(void* p, size_t size, void** abstract);

  std::string last_error_text() const;
  Step init_session();

  SshSettings settings_;
  BlockPool& pool_;
  int fd_ = -1;
  std::string peer_;
  LIBSSH2_SESSION* session_ = nullptr;
  LIBSSH2_LISTENER* listener_ = nullptr;
  bool host_key_accepted_ = false;
  std::function<void()> waiting_hook_;

  bool broken_ = false;
  bool peer_closed_ = false;  // orderly close: EOF or SSH_MSG_DISCONNECT
  std::string broken_reason_;
  Clock::time_point last_inbound_ = Clock::now();
  uint64_t socket_in_ = 0;
  uint64_t socket_out_ = 0;
};

}  // namespace pvt::tunnel
