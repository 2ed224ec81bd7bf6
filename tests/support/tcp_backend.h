// Test support: the "internal nginx" of a tunnel guest, in the test process. A small TCP server
// with a line protocol that makes relayed traffic checkable end to end:
//   "GET /healthz ..."   an HTTP/1.0 answer (200 for /healthz, 404 otherwise), then close
//   "UP\n"               read to EOF, answer the SHA-256 (hex) of what came, close
//   "DOWN <n> <seed>\n"  send n bytes of the seeded stream (pattern_bytes), close
//   "ECHO\n"             send back every byte until EOF, then close (half-close passes through)
//   "SLOW <n> <ms>\n"    send n bytes spread over ms milliseconds, close
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace pvt::testing {

// A reproducible byte stream (xorshift64*), so both ends can compute the expected checksum.
class Pattern {
 public:
  explicit Pattern(uint64_t seed) : state_(seed | 1) {}
  void fill(char* out, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (left_ == 0) {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        word_ = state_ * 2685821657736338717ULL;
        left_ = 8;
      }
      out[i] = static_cast<char>(word_ & 0xff);
      word_ >>= 8;
      --left_;
    }
  }

 private:
  uint64_t state_;
  uint64_t word_ = 0;
  int left_ = 0;
};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const char* p, size_t n) { EVP_DigestUpdate(ctx_, p, n); }
  std::string hex() {
    unsigned char d[32];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, d, &len);
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < len; ++i) {
      out += digits[d[i] >> 4];
      out += digits[d[i] & 15];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

inline std::string pattern_sha256(uint64_t seed, size_t n) {
  Pattern p(seed);
  Sha256 sha;
  std::vector<char> buf(1 << 16);
  while (n > 0) {
    const size_t k = std::min(n, buf.size());
    p.fill(buf.data(), k);
    sha.update(buf.data(), k);
    n -= k;
  }
  return sha.hex();
}

inline bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) {
      if (k < 0 && errno == EINTR) continue;
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// A free TCP port on 127.0.0.1 (bound and released; good enough for tests on one machine).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Connects to 127.0.0.1:port; -1 if refused.
inline int connect_local(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{60, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Reads to EOF (or error/timeout) without keeping the data: how much came and its SHA-256.
struct Received {
  size_t bytes = 0;
  std::string sha256;
};
inline Received receive_digest(int fd) {
  Sha256 sha;
  Received r;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    sha.update(buf, static_cast<size_t>(n));
    r.bytes += static_cast<size_t>(n);
  }
  r.sha256 = sha.hex();
  return r;
}

// Asks the backend behind `port` for `n` bytes of the stream `seed` ("DOWN") and checks that
// exactly those arrived.
inline bool download_matches(int port, size_t n, uint64_t seed) {
  const int fd = connect_local(port);
  if (fd < 0) return false;
  const std::string cmd = "DOWN " + std::to_string(n) + " " + std::to_string(seed) + "\n";
  send_all(fd, cmd.data(), cmd.size());
  const Received r = receive_digest(fd);
  ::close(fd);
  return r.bytes == n && r.sha256 == pattern_sha256(seed, n);
}

// Reads to EOF (or error/timeout); returns what came.
inline std::string read_all(int fd) {
  std::string out;
  char buf[65536];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

class TcpBackend {
 public:
  TcpBackend() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(listen_fd_, 1024) != 0) {
      throw std::runtime_error("backend: cannot listen");
    }
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~TcpBackend() { stop(); }
  TcpBackend(const TcpBackend&) = delete;
  TcpBackend& operator=(const TcpBackend&) = delete;

  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int health_checks() const { return health_checks_.load(); }

  // Closes the listener (new connections are refused) and waits for open ones to end.
  void stop() {
    if (stopped_.exchange(true)) return;
    ::shutdown(listen_fd_, SHUT_RDWR);
    ::close(listen_fd_);
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> workers;
    {
      std::lock_guard lock(mutex_);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }

 private:
  void accept_loop() {
    while (!stopped_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd] {
        serve(fd);
        ::close(fd);
      });
    }
  }

  // Reads the first line byte by byte, so nothing after it is consumed here.
  static std::string first_line(int fd) {
    std::string line;
    char c;
    while (line.size() < 4096 && ::recv(fd, &c, 1, 0) == 1) {
      if (c == '\n') break;
      line += c;
    }
    return line;
  }

  void serve(int fd) {
    timeval tv{60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    const std::string line = first_line(fd);
    std::istringstream words(line);
    std::string verb;
    words >> verb;
    char buf[65536];
    if (verb == "GET") {
      std::string path;
      words >> path;
      // Drain the request headers (up to the blank line) before answering.
      std::string rest;
      while (rest.rfind("\r\n", 0) != 0 && rest.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        rest.append(buf, static_cast<size_t>(n));
      }
      if (path == "/healthz") ++health_checks_;
      const std::string answer = path == "/healthz"
                                     ? "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nok\n"
                                     : "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n";
      send_all(fd, answer.data(), answer.size());
    } else if (verb == "UP") {
      Sha256 sha;
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) sha.update(buf, static_cast<size_t>(n));
      const std::string hex = sha.hex() + "\n";
      send_all(fd, hex.data(), hex.size());
    } else if (verb == "DOWN") {
      size_t n = 0;
      uint64_t seed = 0;
      words >> n >> seed;
      Pattern p(seed);
      while (n > 0) {
        const size_t k = std::min(n, sizeof buf);
        p.fill(buf, k);
        if (!send_all(fd, buf, k)) break;
        n -= k;
      }
    } else if (verb == "ECHO") {
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        if (!send_all(fd, buf, static_cast<size_t>(n))) break;
      }
    } else if (verb == "SLOW") {
      size_t n = 0;
      int ms = 0;
      words >> n >> ms;
      const int steps = 20;
      std::memset(buf, 'x', sizeof buf);
      for (int i = 0; i < steps; ++i) {
        const size_t k = n / steps + (i == steps - 1 ? n % steps : 0);
        if (!send_all(fd, buf, std::min(k, sizeof buf))) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms / steps));
      }
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> health_checks_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

}  // namespace pvt::testing
