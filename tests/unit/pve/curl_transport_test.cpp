// CurlTransport against real servers on 127.0.0.1: an HTTPS server (cpp-httplib) with a
// certificate made here, and raw sockets for what httplib cannot do (Proxmox's own reason
// phrases, a node that takes a request and drops the connection, a port nobody listens on).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string_view>
#include <thread>

#include "common/cert_fingerprint.h"
#include "pve/client.h"
#include "pve/curl_transport.h"
#include "tests/support/fake_clock.h"

namespace pvt::pve {
namespace {

constexpr const char* kSecret = "5f0c3d2e-aaaa-bbbb-cccc-0123456789ab";
constexpr const char* kTokenId = "pvectl@pve!tunnel";

// A self-signed certificate for 127.0.0.1 (SAN IP), usable as its own CA file.
struct Certificate {
  X509* cert = nullptr;
  EVP_PKEY* key = nullptr;
  explicit Certificate(const char* common_name = "127.0.0.1") {
    key = EVP_EC_gen("P-256");
    cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600L * 24);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                              std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
      X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
      X509_add_ext(cert, ext, -1);
      X509_EXTENSION_free(ext);
    }
    X509_sign(cert, key, EVP_sha256());
  }
  ~Certificate() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  std::string fingerprint() const { return sha256_fingerprint(cert); }
  std::string pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert);
    char* data = nullptr;
    long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(len));
    BIO_free(bio);
    return out;
  }
};

// What the HTTPS server saw of the requests it answered.
struct Seen {
  std::mutex mu;
  std::vector<std::string> authorizations;
  std::vector<std::string> lines;  // "POST /api2/json/... body"
  std::string content_type;
};

class HttpsServer {
 public:
  HttpsServer(const Certificate& c, Seen& seen) : server_(c.cert, c.key) {
    server_.Get("/api2/json/version", [&seen](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(seen.mu);
      seen.authorizations.push_back(req.get_header_value("Authorization"));
      seen.lines.push_back("GET " + req.path + " " + req.get_param_value("verbose"));
      res.set_content(R"({"data":{"version":"8.2.4","release":"8.2","repoid":"faa83925"}})",
                      "application/json");
    });
    server_.Post(
        R"(/api2/json/nodes/([^/]+)/qemu/(\d+)/status/start)",
        [&seen](const httplib::Request& req, httplib::Response& res) {
          std::lock_guard lock(seen.mu);
          seen.lines.push_back("POST " + req.path + " " + req.body);
          seen.content_type = req.get_header_value("Content-Type");
          res.set_content(
              R"({"data":"UPID:pve-1:00001234:00005678:6A4AB624:qmstart:110:pvectl@pve!tunnel:"})",
              "application/json");
        });
    server_.Get("/api2/json/nodes/pve-1/qemu/110/config", [](const httplib::Request&,
                                                             httplib::Response& res) {
      res.status = 403;
      res.set_content(R"({"data":null,"message":"Permission check failed (/vms/110, VM.Audit)\n"})",
                      "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::yield();
  }
  ~HttpsServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::SSLServer server_;
  int port_ = 0;
  std::thread thread_;
};

// A socket bound on 127.0.0.1 that never listens: connecting to it is refused.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~ClosedPort() { ::close(fd_); }
  std::string url(const char* scheme = "https") const {
    return std::string(scheme) + "://127.0.0.1:" + std::to_string(port_);
  }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Plain HTTP on 127.0.0.1: reads each request's head (and a Content-Length body) and writes the
// canned answer, or closes the connection without answering when the answer is empty.
class RawHttpServer {
 public:
  explicit RawHttpServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd_, 8);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~RawHttpServer() {
    stopping_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_; }
  std::string last_request() {
    std::lock_guard lock(mu_);
    return last_;
  }

 private:
  void serve() {
    while (!stopping_) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
      }
      {
        std::lock_guard lock(mu_);
        last_ = in;
      }
      ++requests_;
      if (!answer_.empty()) {
        ssize_t off = 0;
        while (off < static_cast<ssize_t>(answer_.size())) {
          ssize_t n = ::write(c, answer_.data() + off, answer_.size() - off);
          if (n <= 0) break;
          off += n;
        }
      }
      ::close(c);
    }
  }

  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::mutex mu_;
  std::string last_;
  std::thread thread_;
};

std::string proxmox_answer(const std::string& status_line, const std::string& body) {
  return "HTTP/1.1 " + status_line +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

CurlTransportOptions options(std::vector<std::string> endpoints) {
  CurlTransportOptions o;
  o.endpoints = std::move(endpoints);
  o.token_id = kTokenId;
  o.token_secret = kSecret;
  o.connect_timeout = std::chrono::seconds(5);
  o.total_timeout = std::chrono::seconds(10);
  return o;
}

struct CurlTransportTest : ::testing::Test {
  Certificate cert;
  Seen seen;
  HttpsServer server{cert, seen};
};

TEST_F(CurlTransportTest, PinnedFingerprintIsTrustedAndTheTokenIsSent) {
  auto o = options({server.url()});
  o.fingerprints = {cert.fingerprint()};
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {{"verbose", "1"}}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->reason, "OK");
  EXPECT_EQ(r->endpoint, server.url());
  EXPECT_NE(r->body.find("8.2.4"), std::string::npos);
  std::lock_guard lock(seen.mu);
  ASSERT_EQ(seen.authorizations.size(), 1u);
  EXPECT_EQ(seen.authorizations[0], std::string("PVEAPIToken=") + kTokenId + "=" + kSecret);
  EXPECT_EQ(seen.lines[0], "GET /api2/json/version 1");
}

TEST_F(CurlTransportTest, PinIsComparedWithoutRegardToCase) {
  auto o = options({server.url()});
  std::string lower = cert.fingerprint();
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  o.fingerprints = {lower};
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(r) << r.error().describe();
}

TEST_F(CurlTransportTest, FingerprintMismatchReportsTheFingerprintSeen) {
  auto o = options({server.url()});
  std::string wrong;
  for (int i = 0; i < 32; ++i) wrong += i == 0 ? "AB" : ":AB";
  o.fingerprints = {wrong};
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::tls);
  EXPECT_EQ(r.error().fingerprint_seen, cert.fingerprint());
  EXPECT_NE(r.error().describe().find(cert.fingerprint()), std::string::npos);
  EXPECT_EQ(r.error().describe().find(kSecret), std::string::npos);
  std::lock_guard lock(seen.mu);
  EXPECT_TRUE(seen.authorizations.empty());  // nothing was sent to an untrusted peer
}

TEST_F(CurlTransportTest, CaFileIsOrdinaryTrust) {
  auto dir = std::filesystem::temp_directory_path() /
             ("pvt-pve-ca-" + std::to_string(::getpid()) + ".pem");
  { std::ofstream(dir) << cert.pem(); }
  auto o = options({server.url()});
  o.ca_file = dir.string();
  {
    CurlTransport t(o);
    auto r = t.perform(Request{"GET", "/version", {}});
    EXPECT_TRUE(r) << r.error().describe();
  }
  // Another certificate as the CA: the server is not trusted.
  Certificate other;
  { std::ofstream(dir) << other.pem(); }
  {
    CurlTransport t(o);
    auto r = t.perform(Request{"GET", "/version", {}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::tls);
  }
  std::filesystem::remove(dir);
}

// ca_file is the only trust: a certificate the system's CA directory would vouch for is still
// refused. The test puts the server's certificate into /etc/ssl/certs (curl's default CA path)
// inside a private mount namespace of a child process, so the machine's store is never touched.
// The child runs a fresh copy of this binary (the disabled test below): a forked copy of a
// process with running threads (the HTTPS server here, a sanitizer's own) may hold a lock of
// malloc or OpenSSL that nobody will ever release, so between fork and exec it makes only
// system calls.
constexpr const char* kChildUrlVar = "PVT_TEST_CAPATH_URL";
constexpr const char* kChildCaVar = "PVT_TEST_CAPATH_CA";

TEST(CurlTransportCaPathChild, DISABLED_RefusesWhatOnlyTheSystemDirectoryTrusts) {
  const char* url = std::getenv(kChildUrlVar);
  const char* ca = std::getenv(kChildCaVar);
  ASSERT_TRUE(url && ca) << "run by CaFileIsTheOnlyTrustNotTheSystemCaDirectory only";
  auto o = options({url});
  o.ca_file = ca;
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_FALSE(r) << "a CA from the system directory was trusted besides ca_file";
  EXPECT_EQ(r.error().kind, ErrorKind::tls) << r.error().describe();
}

TEST_F(CurlTransportTest, CaFileIsTheOnlyTrustNotTheSystemCaDirectory) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("pvt-pve-capath-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  char hash[16];
  std::snprintf(hash, sizeof hash, "%08lx.0", X509_subject_name_hash(cert.cert));
  { std::ofstream(dir / hash) << cert.pem(); }
  // Another subject: OpenSSL looks a trust anchor up by name, and one of the same name in the
  // CA file would hide the directory's.
  Certificate other("pvectl-tunnel test CA");
  const auto other_ca = dir / "other-ca.pem";
  { std::ofstream(other_ca) << other.pem(); }

  // Everything the child needs is built before fork.
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string dir_text = dir.string();
  std::vector<std::string> args = {self, "--gtest_filter=CurlTransportCaPathChild.*",
                                   "--gtest_also_run_disabled_tests", "--gtest_brief=1"};
  // Without gtest's own variables (a sharding index could leave the child no test to run).
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    if (!std::string_view(*e).starts_with("GTEST_")) env.emplace_back(*e);
  }
  env.push_back(std::string(kChildUrlVar) + "=" + server.url());
  env.push_back(std::string(kChildCaVar) + "=" + other_ca.string());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  constexpr int kNoNamespace = 97;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount(dir_text.c_str(), "/etc/ssl/certs", nullptr, MS_BIND, nullptr) != 0) {
      ::_exit(kNoNamespace);
    }
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  // Bounded: a child that hangs fails this test instead of the whole run's time limit.
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 1200 && waited == 0; ++i) {
    waited = ::waitpid(child, &status, WNOHANG);
    if (waited == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (waited == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
  }
  std::filesystem::remove_all(dir);
  ASSERT_EQ(waited, child) << (waited == 0
                                   ? "the child did not finish within 60 s"
                                   : "waitpid failed: " + std::string(std::strerror(errno)));
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kNoNamespace) GTEST_SKIP() << "no mount namespace here (needs root)";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "the child test failed (its output is above): a CA from the system directory was "
         "trusted besides ca_file, or the request did not fail as a TLS error";
}

TEST_F(CurlTransportTest, UntrustedWithoutPinOrCaFails) {
  CurlTransport t(options({server.url()}));
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::tls);
}

TEST_F(CurlTransportTest, InsecureSkipsVerification) {
  auto o = options({server.url()});
  o.insecure = true;
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(r) << r.error().describe();
}

TEST_F(CurlTransportTest, FailsOverFromADeadEndpointAndPrefersTheLiveOne) {
  ClosedPort dead;
  auto o = options({dead.url(), server.url()});
  o.fingerprints = {cert.fingerprint()};
  CurlTransport t(o);
  EXPECT_EQ(t.preferred_endpoint(), dead.url());
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->endpoint, server.url());
  EXPECT_EQ(t.preferred_endpoint(), server.url());
  auto again = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(again);
  EXPECT_EQ(t.preferred_endpoint(), server.url());
}

TEST_F(CurlTransportTest, EveryEndpointDeadIsUnreachable) {
  ClosedPort a, b;
  auto o = options({a.url(), b.url()});
  o.fingerprints = {cert.fingerprint()};
  CurlTransport t(o);
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::unreachable);
  EXPECT_EQ(r.error().endpoint, b.url());
  EXPECT_EQ(r.error().describe().find(kSecret), std::string::npos);
}

TEST_F(CurlTransportTest, PostSendsAFormBody) {
  auto o = options({server.url()});
  o.fingerprints = {cert.fingerprint()};
  CurlTransport t(o);
  FakeClock clock;
  Client client(t, clock);
  auto upid = client.start_guest("pve-1", GuestKind::qemu, 110);
  ASSERT_TRUE(upid) << upid.error().describe();
  EXPECT_EQ(upid->node, "pve-1");
  EXPECT_EQ(upid->type, "qmstart");
  // Through the client: an HTTP error answer with Proxmox's message.
  auto cfg = client.guest_config("pve-1", GuestKind::qemu, 110);
  ASSERT_FALSE(cfg);
  EXPECT_EQ(cfg.error().kind, ErrorKind::forbidden);
  EXPECT_EQ(cfg.error().missing_privilege()->privilege, "VM.Audit");
  EXPECT_EQ(cfg.error().endpoint, server.url());

  auto raw = t.perform(Request{
      "POST", "/nodes/pve-1/qemu/110/status/start", {{"timeout", "30"}, {"note", "a b&c"}}});
  ASSERT_TRUE(raw);
  std::lock_guard lock(seen.mu);
  EXPECT_EQ(seen.lines.back(),
            "POST /api2/json/nodes/pve-1/qemu/110/status/start timeout=30&note=a%20b%26c");
  EXPECT_EQ(seen.content_type, "application/x-www-form-urlencoded");
}

TEST(CurlTransportRaw, ReasonPhraseCarriesProxmoxsMessage) {
  RawHttpServer pve(proxmox_answer("401 invalid token value!", R"({"data":null})"));
  CurlTransport t(options({pve.url()}));
  auto r = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->reason, "invalid token value!");
  EXPECT_NE(pve.last_request().find(std::string("Authorization: PVEAPIToken=") + kTokenId + "=" +
                                    kSecret + "\r\n"),
            std::string::npos);

  FakeClock clock;
  Client client(t, clock);
  auto v = client.version();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().kind, ErrorKind::unauthorized);
  EXPECT_EQ(v.error().message, "invalid token value!");
  EXPECT_EQ(pve.requests(), 2);  // never retried
}

TEST(CurlTransportRaw, ProxyErrorFromAnotherNode) {
  RawHttpServer pve(proxmox_answer("595 Connection refused", ""));
  CurlTransport t(options({pve.url()}));
  FakeClock clock;
  Client client(t, clock);
  auto s = client.guest_status("pve2", GuestKind::lxc, 210);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().kind, ErrorKind::node_unreachable);
  EXPECT_EQ(s.error().message, "Connection refused");
  EXPECT_EQ(pve.requests(), 1);
}

TEST(CurlTransportRaw, APostThatWasSentIsNotSentToTheNextEndpoint) {
  // The first node takes the request and drops the connection: it may have started the guest.
  RawHttpServer dropping("");
  RawHttpServer healthy(proxmox_answer(
      "200 OK", R"({"data":"UPID:pve2:00001234:00005678:6A4AB624:qmstart:110:root@pam:"})"));
  CurlTransport t(options({dropping.url(), healthy.url()}));
  auto post = t.perform(Request{"POST", "/nodes/pve1/qemu/110/status/start", {}});
  ASSERT_FALSE(post);
  EXPECT_EQ(post.error().endpoint, dropping.url());
  EXPECT_EQ(healthy.requests(), 0);
  // A GET is safe to send again elsewhere.
  auto get = t.perform(Request{"GET", "/version", {}});
  ASSERT_TRUE(get) << get.error().describe();
  EXPECT_EQ(get->endpoint, healthy.url());
  EXPECT_EQ(healthy.requests(), 1);
}

TEST(CurlTransportOptionsFromConfig, CopiesTrustAndTimeouts) {
  config::PveSection pve;
  pve.endpoints = {"https://pve1:8006", "https://pve2:8006"};
  pve.token_id = kTokenId;
  pve.token_secret = kSecret;
  pve.fingerprints = {"AB:CD", "EF:01"};
  pve.timeout_s = 3;
  auto o = options_from_config(pve);
  EXPECT_EQ(o.endpoints, pve.endpoints);
  EXPECT_EQ(o.token_id, kTokenId);
  EXPECT_EQ(o.token_secret, kSecret);
  EXPECT_EQ(o.fingerprints, pve.fingerprints);
  EXPECT_FALSE(o.ca_file);
  EXPECT_FALSE(o.insecure);
  EXPECT_EQ(o.total_timeout, std::chrono::seconds(3));
  EXPECT_LE(o.connect_timeout, o.total_timeout);
}

}  // namespace
}  // namespace pvt::pve
