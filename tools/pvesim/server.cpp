#include "tools/pvesim/server.h"

#include <fmt/format.h>

#include <httplib.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "common/cert_fingerprint.h"

#include <chrono>

namespace pvt::sim {
namespace {

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
};

KeyAndCert make_self_signed() {
  KeyAndCert kc;
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, nullptr);
  EVP_PKEY_keygen_init(pctx);
  EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx, NID_X9_62_prime256v1);
  EVP_PKEY_keygen(pctx, &kc.key);
  EVP_PKEY_CTX_free(pctx);
  kc.cert = X509_new();
  X509_set_version(kc.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(kc.cert), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(kc.cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(kc.cert), 3600L * 24 * 365);
  X509_set_pubkey(kc.cert, kc.key);
  X509_NAME* name = X509_get_subject_name(kc.cert);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("PVE Cluster Node (pvesim)"),
                             -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("pvesim"), -1, -1, 0);
  X509_set_issuer_name(kc.cert, name);
  X509_sign(kc.cert, kc.key, EVP_sha256());
  return kc;
}

std::string url_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

void parse_form(const std::string& body, std::map<std::string, std::string>& out) {
  size_t start = 0;
  while (start < body.size()) {
    auto amp = body.find('&', start);
    std::string pair =
        body.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    auto eq = pair.find('=');
    if (!pair.empty()) {
      out[url_decode(pair.substr(0, eq))] =
          eq == std::string::npos ? "" : url_decode(pair.substr(eq + 1));
    }
    if (amp == std::string::npos) break;
    start = amp + 1;
  }
}

}  // namespace

struct Server::Impl {
  KeyAndCert kc;
  std::unique_ptr<httplib::Server> server;
};

Server::Server(Simulator& sim, bool https) : impl_(std::make_unique<Impl>()), https_(https) {
  if (https) {
    impl_->kc = make_self_signed();
    fingerprint_ = pvt::sha256_fingerprint(impl_->kc.cert);
    impl_->server = std::make_unique<httplib::SSLServer>(impl_->kc.cert, impl_->kc.key);
  } else {
    impl_->server = std::make_unique<httplib::Server>();
  }
  auto handler = [&sim](const httplib::Request& req, httplib::Response& res) {
    const std::string api = "/api2/json";
    SimResponse out;
    if (req.path.rfind(api, 0) == 0) {
      SimRequest r;
      r.method = req.method;
      r.path = req.path.substr(api.size());
      for (const auto& [k, v] : req.params) r.params[k] = v;
      if (!req.body.empty()) parse_form(req.body, r.params);
      r.authorization = req.get_header_value("Authorization");
      out = sim.handle(r);
    } else if (req.path.rfind("/_sim/", 0) == 0) {
      out = sim.admin(req.method, req.path, req.body);
    } else {
      out = SimResponse{404, "Not Found", R"({"data":null})", 0};
    }
    if (out.delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(out.delay_ms));
    res.status = out.status;
    res.reason = out.reason;
    res.set_header("Server", "pve-api-daemon/3.0");
    res.set_header("Cache-Control", "max-age=0");
    res.set_content(out.body, "application/json;charset=UTF-8");
  };
  impl_->server->Get(".*", handler);
  impl_->server->Post(".*", handler);
  impl_->server->Put(".*", handler);
  impl_->server->Delete(".*", handler);
}

Server::~Server() {
  stop();
  if (impl_->kc.cert) X509_free(impl_->kc.cert);
  if (impl_->kc.key) EVP_PKEY_free(impl_->kc.key);
}

Result<int> Server::bind(const std::string& host, int port) {
  int bound = port == 0 ? impl_->server->bind_to_any_port(host)
                        : (impl_->server->bind_to_port(host, port) ? port : -1);
  if (bound < 0) return fail(fmt::format("cannot listen on {}:{}", host, port));
  return bound;
}

void Server::start() {
  thread_ = std::thread([this] { impl_->server->listen_after_bind(); });
  while (!impl_->server->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

void Server::stop() {
  if (thread_.joinable()) {
    impl_->server->stop();
    thread_.join();
  }
}

}  // namespace pvt::sim
