#include "tunnel/ssh_connection.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/text.h"
#include "tunnel/host_key.h"

namespace pvt::tunnel {
namespace {

// The channel type of the liveness probe; any server answers an unknown type with a failure.
constexpr char kKeepaliveChannelType[] = "keepalive@pvectl-tunnel";
// Forwarded connections the VPS may queue before we accept them (libssh2 refuses beyond).
constexpr int kAcceptQueue = 4096;
constexpr size_t kPeerTextMax = 200;  // bytes of a disconnect message kept

// libssh2 1.10 has neither AES-GCM nor chacha20-poly1305 nor encrypt-then-MAC: aes-ctr with
// hmac-sha2 is its fastest safe choice, and it is not open to the Terrapin prefix truncation
// (CVE-2023-48795), which needs chacha20-poly1305 or an -etm MAC.
constexpr char kCiphers[] = "aes128-ctr,aes256-ctr,aes192-ctr";
constexpr char kMacs[] = "hmac-sha2-256,hmac-sha2-512";
constexpr char kKex[] =
    "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
    "ecdh-sha2-nistp521,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    "diffie-hellman-group14-sha256,diffie-hellman-group-exchange-sha256";

bool is_socket_error(int rc) {
  return rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_RECV ||
         rc == LIBSSH2_ERROR_SOCKET_DISCONNECT || rc == LIBSSH2_ERROR_SOCKET_TIMEOUT ||
         rc == LIBSSH2_ERROR_SOCKET_NONE || rc == LIBSSH2_ERROR_TIMEOUT;
}

SshConnection* self(void** abstract) { return static_cast<SshConnection*>(*abstract); }

}  // namespace

SshConnection::SshConnection(SshSettings settings, BlockPool& pool)
    : settings_(std::move(settings)), pool_(pool) {}

SshConnection::~SshConnection() {
  // Without a socket every libssh2 send fails at once, so freeing cannot wait for the network.
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  if (session_ != nullptr) {
    libssh2_session_set_blocking(session_, 1);
    libssh2_session_free(session_);
  }
  if (fd_ >= 0) ::close(fd_);
}

// --- I/O hooks: every byte from the server proves it alive (Liveness). ---

ssize_t SshConnection::on_recv(libssh2_socket_t fd, void* buf, size_t len, int flags,
                               void** abstract) {
  SshConnection* c = self(abstract);
  const ssize_t n = ::recv(fd, buf, len, flags);
  if (n > 0) {
    c->socket_in_ += static_cast<uint64_t>(n);
    c->last_inbound_ = Clock::now();
    // OpenSSH's sshd sets TCP_NODELAY only for interactive sessions, so its small writes to us
    // wait for our ACK (Nagle), which Linux delays by up to 40 ms: acknowledge at once instead.
    // The flag does not stick, hence after every read.
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    return n;
  }
  if (n == 0) {
    if (!c->broken_) {
      c->broken_ = true;
      c->peer_closed_ = true;
      if (c->broken_reason_.empty()) c->broken_reason_ = "the VPS closed the connection";
    }
    return 0;
  }
  const int err = errno;
  if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && !c->broken_) {
    c->broken_ = true;
    c->broken_reason_ = fmt::format("connection to the VPS failed: {}", std::strerror(err));
  }
  return -err;
}

ssize_t SshConnection::on_send(libssh2_socket_t fd, const void* buf, size_t len, int flags,
                               void** abstract) {
  SshConnection* c = self(abstract);
  const auto* p = static_cast<const char*>(buf);
  // Dead by the same measure as Liveness: nothing from the VPS for send_timeout (at least a
  // second from now, for a send that starts after a long quiet spell).
  const auto deadline = std::max(c->last_inbound_ + c->settings_.send_timeout,
                                 Clock::now() + std::chrono::seconds(1));
  size_t sent = 0;
  int err = 0;
  while (sent < len) {
    const ssize_t n = ::send(fd, p + sent, len - sent, flags | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    err = n < 0 ? errno : EPIPE;
    if (err == EINTR) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) break;
    // See the header: finish the packet here rather than hand libssh2 an EAGAIN.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      err = ETIMEDOUT;
      break;
    }
    // In slices, so the loop's watchdog keeps being fed while the VPS is slow to take data.
    pollfd pfd{fd, POLLOUT, 0};
    const int slice = static_cast<int>(std::min<int64_t>(left.count(), 1000));
    if (::poll(&pfd, 1, slice) == 0 && c->waiting_hook_) c->waiting_hook_();
  }
  c->socket_out_ += sent;
  if (sent == len) return static_cast<ssize_t>(sent);
  if (!c->broken_) {
    c->broken_ = true;
    c->broken_reason_ =
        err == ETIMEDOUT
            ? fmt::format(
                  "the VPS accepted no data for {} s",
                  std::chrono::duration_cast<std::chrono::seconds>(c->settings_.send_timeout)
                      .count())
            : fmt::format("connection to the VPS failed: {}", std::strerror(err));
  }
  return -(err == 0 ? EPIPE : err);
}

void SshConnection::on_disconnect(LIBSSH2_SESSION*, int reason, const char* message,
                                  int message_len, const char*, int, void** abstract) {
  SshConnection* c = self(abstract);
  c->broken_ = true;
  c->peer_closed_ = true;
  // The message is the peer's text: escaped (no terminal escapes, no forged log lines, valid
  // UTF-8 for the status JSON) and bounded.
  std::string_view text(message, message_len > 0 ? static_cast<size_t>(message_len) : 0);
  if (text.size() > kPeerTextMax) text = text.substr(0, kPeerTextMax);
  c->broken_reason_ =
      fmt::format("the VPS ended the session (reason {}: {})", reason, text::sanitize(text));
}

void* SshConnection::on_alloc(size_t size, void** abstract) {
  return self(abstract)->pool_.allocate(size);
}
void SshConnection::on_free(void* p, void** abstract) { self(abstract)->pool_.release(p); }
void* SshConnection::on_realloc(void* p, size_t size, void** abstract) {
  return self(abstract)->pool_.reallocate(p, size);
}

// --- TCP ---

Step SshConnection::start_connect(const Address& address) {
  peer_ = address.text();
  fd_ = ::socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return Step::fail(FailureKind::network,
                      fmt::format("cannot create a socket: {}", std::strerror(errno)));
  }
  const int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address.storage), address.length) == 0) {
    return Step::ok();
  }
  if (errno == EINPROGRESS) return Step::wait();
  return Step::fail(FailureKind::network,
                    fmt::format("cannot connect to {}: {}", peer_, std::strerror(errno)));
}

Step SshConnection::finish_connect() {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) return Step::ok();
  if (err == EINPROGRESS || err == EALREADY) return Step::wait();
  return Step::fail(FailureKind::network,
                    fmt::format("cannot connect to {}: {}", peer_, std::strerror(err)));
}

// --- SSH ---

namespace {

// libssh2 1.11.1 (Debian 13) deprecates libssh2_session_callback_set, which takes the callback as
// a void*, for libssh2_session_callback_set2, which takes a function pointer; 1.10 (Debian 12)
// has only the first.
template <typename F>
void set_callback(LIBSSH2_SESSION* session, int type, F* callback) {
#if LIBSSH2_VERSION_NUM >= 0x010b01
  libssh2_session_callback_set2(session, type, reinterpret_cast<libssh2_cb_generic*>(callback));
#else
  libssh2_session_callback_set(session, type, reinterpret_cast<void*>(callback));
#endif
}

}  // namespace

Step SshConnection::init_session() {
  session_ = libssh2_session_init_ex(on_alloc, on_free, on_realloc, this);
  if (session_ == nullptr) return Step::fail(FailureKind::after_connect, "libssh2 init failed");
  set_callback(session_, LIBSSH2_CALLBACK_RECV, on_recv);
  set_callback(session_, LIBSSH2_CALLBACK_SEND, on_send);
  set_callback(session_, LIBSSH2_CALLBACK_DISCONNECT, on_disconnect);
  libssh2_session_set_blocking(session_, 0);
  libssh2_session_flag(session_, LIBSSH2_FLAG_COMPRESS, 0);

  std::string pinned_text = read_known_hosts(settings_.known_hosts_file).value_or("");
  const auto pinned = pinned_key_methods(pinned_text, settings_.host, settings_.port);
  const std::string hostkeys = host_key_preference(pinned);
  struct Pref {
    int method;
    const char* value;
  };
  const Pref prefs[] = {
      {LIBSSH2_METHOD_KEX, kKex},          {LIBSSH2_METHOD_HOSTKEY, hostkeys.c_str()},
      {LIBSSH2_METHOD_CRYPT_CS, kCiphers}, {LIBSSH2_METHOD_CRYPT_SC, kCiphers},
      {LIBSSH2_METHOD_MAC_CS, kMacs},      {LIBSSH2_METHOD_MAC_SC, kMacs}};
  for (const auto& p : prefs) {
    if (libssh2_session_method_pref(session_, p.method, p.value) != 0) {
      return Step::fail(
          FailureKind::after_connect,
          fmt::format("libssh2 rejected the method list \"{}\": {}", p.value, last_error_text()));
    }
  }
  return Step::ok();
}

Step SshConnection::handshake() {
  if (session_ == nullptr) {
    Step s = init_session();
    if (s.status != Step::done) return s;
  }
  const int rc = libssh2_session_handshake(session_, fd_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  if (rc != 0) return error_step(rc, "SSH handshake");
  return Step::ok();
}

Step SshConnection::verify_host_key() {
  auto check = check_host_key(session_, settings_.known_hosts_file, settings_.host, settings_.port);
  if (!check) return Step::fail(FailureKind::credentials, check.error().message);
  const std::string name = known_hosts_name(settings_.host, settings_.port);
  switch (check->verdict) {
    case HostKeyVerdict::match:
      return Step::ok();
    case HostKeyVerdict::mismatch:
      return Step::fail(
          FailureKind::credentials,
          fmt::format("host key of {} does not match {}: the server presented {} {}; if the VPS "
                      "was re-keyed, replace its line in {} (refusing to connect)",
                      name, settings_.known_hosts_file, check->key_type, check->fingerprint,
                      settings_.known_hosts_file));
    case HostKeyVerdict::unknown:
      break;
  }
  if (!settings_.accept_new_hostkey) {
    return Step::fail(
        FailureKind::credentials,
        fmt::format("host key of {} is not in {}: the server presented {} {}; add it "
                    "to that file, or run `pvectl-tunnel tunnel "
                    "--accept-new-hostkey` once to trust it (refusing to connect)",
                    name, settings_.known_hosts_file, check->key_type, check->fingerprint));
  }
  if (auto added =
          append_host_key(session_, settings_.known_hosts_file, settings_.host, settings_.port);
      !added) {
    return Step::fail(FailureKind::credentials, added.error().message);
  }
  spdlog::warn("tunnel: trusted the new host key of {} ({} {}) and added it to {}", name,
               check->key_type, check->fingerprint, settings_.known_hosts_file);
  // Trust on first use happens once: a later unknown key is refused again, in this session and
  // in every later one.
  settings_.accept_new_hostkey = false;
  if (settings_.on_new_host_key_trusted) settings_.on_new_host_key_trusted();
  return Step::ok();
}

Step SshConnection::authenticate() {
  const int rc = libssh2_userauth_publickey_fromfile_ex(
      session_, settings_.user.c_str(), static_cast<unsigned>(settings_.user.size()), nullptr,
      settings_.key_file.c_str(),
      settings_.passphrase.empty() ? nullptr : settings_.passphrase.c_str());
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  if (rc == 0) return Step::ok();
  if (rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED || rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED) {
    return Step::fail(FailureKind::credentials,
                      fmt::format("the VPS refused public key authentication as user \"{}\" with "
                                  "key {}: is its public key in that user's authorized_keys?",
                                  settings_.user, settings_.key_file));
  }
  if (rc == LIBSSH2_ERROR_FILE) {
    return Step::fail(FailureKind::credentials,
                      fmt::format("cannot use the key file {}: {} (wrong passphrase, or not an "
                                  "OpenSSH/PEM private key?)",
                                  settings_.key_file, last_error_text()));
  }
  return error_step(rc, "authentication");
}

Step SshConnection::request_forward() {
  int bound_port = 0;
  listener_ = libssh2_channel_forward_listen_ex(session_, settings_.remote.host.c_str(),
                                                settings_.remote.port, &bound_port, kAcceptQueue);
  if (listener_ != nullptr) return Step::ok();
  const int rc = libssh2_session_last_errno(session_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  if (rc == LIBSSH2_ERROR_REQUEST_DENIED) {
    return {Step::refused, FailureKind::after_connect,
            fmt::format("the VPS refused to listen on {}", settings_.remote.str())};
  }
  return error_step(rc, "remote forward request");
}

Step SshConnection::cancel_forward() {
  if (listener_ == nullptr) return Step::ok();
  const int rc = libssh2_channel_forward_cancel(listener_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  listener_ = nullptr;  // freed by libssh2 whatever the outcome
  if (rc != 0) return error_step(rc, "cancelling the remote forward");
  return Step::ok();
}

LIBSSH2_CHANNEL* SshConnection::accept() {
  if (listener_ == nullptr) return nullptr;
  return libssh2_channel_forward_accept(listener_);
}

Step SshConnection::open_direct(const config::HostPort& target, LIBSSH2_CHANNEL** channel) {
  *channel =
      libssh2_channel_direct_tcpip_ex(session_, target.host.c_str(), target.port, "127.0.0.1", 0);
  if (*channel != nullptr) return Step::ok();
  const int rc = libssh2_session_last_errno(session_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  if (rc == LIBSSH2_ERROR_CHANNEL_FAILURE) {
    return {Step::refused, FailureKind::after_connect,
            fmt::format("the VPS refused to open {} (permitopen?)", target.str())};
  }
  return error_step(rc, "opening the probe channel");
}

Step SshConnection::open_keepalive() {
  LIBSSH2_CHANNEL* ch = libssh2_channel_open_ex(
      session_, kKeepaliveChannelType, sizeof kKeepaliveChannelType - 1,
      LIBSSH2_CHANNEL_WINDOW_DEFAULT, LIBSSH2_CHANNEL_PACKET_DEFAULT, nullptr, 0);
  if (ch != nullptr) {
    // A server that knows this type is odd, but it answered: alive.
    libssh2_channel_free(ch);
    return Step::ok();
  }
  const int rc = libssh2_session_last_errno(session_);
  if (rc == LIBSSH2_ERROR_EAGAIN) return Step::wait();
  if (rc == LIBSSH2_ERROR_CHANNEL_FAILURE) return Step::ok();  // the expected answer
  return error_step(rc, "keepalive");
}

void SshConnection::pump(LIBSSH2_CHANNEL* channel) {
  // A zero-length read drains the socket into libssh2's packet list (answering the server's
  // keepalives and taking in window adjustments) without consuming any channel's data.
  char none[1];
  libssh2_channel_read_ex(channel, 0, none, 0);
}

pollfd SshConnection::events() const {
  // Sends never leave anything behind (see the header): only inbound data is waited for.
  return pollfd{fd_, POLLIN, 0};
}

Step SshConnection::failure() const {
  return Step::fail(peer_closed_ ? FailureKind::clean_close : FailureKind::network,
                    broken_reason_.empty() ? "connection to the VPS lost" : broken_reason_);
}

std::string SshConnection::last_error_text() const {
  if (session_ == nullptr) return "no session";
  char* msg = nullptr;
  int len = 0;
  libssh2_session_last_error(session_, &msg, &len, 0);
  // libssh2's messages can carry what the server sent (a banner, a disconnect text).
  return msg != nullptr ? text::sanitize(std::string_view(msg, static_cast<size_t>(len)))
                        : std::string("unknown");
}

Step SshConnection::error_step(int rc, const char* what) {
  if (broken_ || is_socket_error(rc)) {
    if (!broken_) {
      broken_ = true;
      broken_reason_ = fmt::format("{}: connection to the VPS lost ({})", what, last_error_text());
    }
    return failure();
  }
  return Step::fail(FailureKind::after_connect,
                    fmt::format("{} failed: {} (libssh2 error {})", what, last_error_text(), rc));
}

void SshConnection::disconnect(const char* reason) {
  if (session_ != nullptr && !broken_) {
    // Bounded: a blocking goodbye with a short timeout, so a dead VPS cannot hold shutdown
    // (neither libssh2's wait nor our send callback's).
    settings_.send_timeout = std::chrono::milliseconds(1000);
    libssh2_session_set_timeout(session_, 1000);
    libssh2_session_set_blocking(session_, 1);
    libssh2_session_disconnect_ex(session_, SSH_DISCONNECT_BY_APPLICATION, reason, "");
  }
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace pvt::tunnel
