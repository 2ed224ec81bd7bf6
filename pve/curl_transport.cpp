#include "pve/curl_transport.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <mutex>

#include "common/cert_fingerprint.h"

namespace pvt::pve {

struct CurlTransport::Handle {
  std::string endpoint;
  CURL* curl = nullptr;
  std::vector<std::string> expected_fingerprints;
  std::string fingerprint_seen;  // of the last leaf certificate checked
  std::string reason;            // reason phrase of the last status line
  std::string body;
  char error_detail[CURL_ERROR_SIZE] = {};
};

namespace {

std::once_flag curl_init_once;

// Accepts the chain whatever its issuer and decides on the leaf's fingerprint alone: the pin
// replaces CA trust and host name checks.
int pin_verify(int /*preverify_ok*/, X509_STORE_CTX* store) {
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* h = static_cast<CurlTransport::Handle*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (X509_STORE_CTX_get_error_depth(store) != 0) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  h->fingerprint_seen = pvt::sha256_fingerprint(X509_STORE_CTX_get_current_cert(store));
  const auto& pins = h->expected_fingerprints;
  if (std::find(pins.begin(), pins.end(), h->fingerprint_seen) != pins.end()) {
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
  return 0;
}

CURLcode ssl_ctx_setup(CURL*, void* ssl_ctx, void* userdata) {
  auto* ctx = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_app_data(ctx, userdata);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, pin_verify);
  return CURLE_OK;
}

// Non-zero aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int on_progress(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(cancel)->load() ? 1 : 0;
}

size_t on_body(char* data, size_t size, size_t n, void* userdata) {
  static_cast<std::string*>(userdata)->append(data, size * n);
  return size * n;
}

size_t on_header(char* data, size_t size, size_t n, void* userdata) {
  std::string line(data, size * n);
  // "HTTP/1.1 401 invalid token value!\r\n": Proxmox puts its message in the reason phrase.
  if (line.rfind("HTTP/", 0) == 0) {
    auto sp1 = line.find(' ');
    auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
    std::string reason = sp2 == std::string::npos ? "" : line.substr(sp2 + 1);
    while (!reason.empty() && (reason.back() == '\r' || reason.back() == '\n')) reason.pop_back();
    *static_cast<std::string*>(userdata) = reason;
  }
  return size * n;
}

std::string encode_params(CURL* curl, const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    char* ek = curl_easy_escape(curl, k.c_str(), static_cast<int>(k.size()));
    char* ev = curl_easy_escape(curl, v.c_str(), static_cast<int>(v.size()));
    out += fmt::format("{}{}={}", out.empty() ? "" : "&", ek, ev);
    curl_free(ek);
    curl_free(ev);
  }
  return out;
}

// Whether the next endpoint may answer where this one could not. A request that was already
// sent may have been carried out (a guest started, a backup begun), so only a GET is sent again
// after that; anything else fails over only while nothing has left this process.
bool fail_over(const ApiError& e, const Request& request, bool request_sent) {
  const bool kind_fits =
      e.kind == ErrorKind::unreachable || e.kind == ErrorKind::timeout || e.kind == ErrorKind::tls;
  return kind_fits && (!request_sent || request.method == "GET");
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

}  // namespace

CurlTransportOptions options_from_config(const config::PveSection& pve) {
  CurlTransportOptions o;
  o.endpoints = pve.endpoints;
  o.token_id = pve.token_id;
  o.token_secret = pve.token_secret;
  o.ca_file = pve.ca_file;
  o.fingerprints = pve.fingerprints;
  o.insecure = pve.insecure;
  o.total_timeout = std::chrono::seconds(pve.timeout_s);
  o.connect_timeout = std::min<std::chrono::milliseconds>(std::chrono::seconds(5), o.total_timeout);
  return o;
}

CurlTransport::CurlTransport(CurlTransportOptions options) : options_(std::move(options)) {
  std::call_once(curl_init_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  for (const auto& e : options_.endpoints) {
    auto h = std::make_unique<Handle>();
    h->endpoint = e;
    while (!h->endpoint.empty() && h->endpoint.back() == '/') h->endpoint.pop_back();
    h->curl = curl_easy_init();
    // The config loader normalises to upper case; options built by hand may not be.
    for (const auto& fp : options_.fingerprints) h->expected_fingerprints.push_back(upper(fp));
    handles_.push_back(std::move(h));
  }
}

CurlTransport::~CurlTransport() {
  for (auto& h : handles_) curl_easy_cleanup(h->curl);
}

const std::string& CurlTransport::preferred_endpoint() const {
  return handles_.at(preferred_)->endpoint;
}

Result<Response, ApiError> CurlTransport::perform(const Request& request) {
  ApiError last;
  last.kind = ErrorKind::unreachable;
  last.message = "no endpoint configured";
  for (size_t i = 0; i < handles_.size(); ++i) {
    const size_t idx = (preferred_ + i) % handles_.size();
    if (request.deadline && std::chrono::steady_clock::now() >= *request.deadline) {
      // The run's time is up: the next endpoint would only be given no time at all.
      if (i == 0) {
        last.kind = ErrorKind::timeout;
        last.endpoint = handles_[idx]->endpoint;
        last.message = "not tried: the run's time limit was reached";
      }
      return tl::unexpected(last);
    }
    bool request_sent = false;
    auto res = perform_on(*handles_[idx], request, request_sent);
    if (res) {
      if (idx != preferred_) spdlog::info("pve: using endpoint {}", handles_[idx]->endpoint);
      preferred_ = idx;
      return res;
    }
    last = res.error();
    if (!fail_over(last, request, request_sent)) return tl::unexpected(last);
    spdlog::warn("pve: {} failed: {}", handles_[idx]->endpoint, last.message);
  }
  return tl::unexpected(last);
}

Result<Response, ApiError> CurlTransport::perform_on(Handle& h, const Request& request,
                                                     bool& request_sent) {
  CURL* c = h.curl;
  curl_easy_reset(c);  // keeps the connection cache: keep-alive survives
  h.body.clear();
  h.reason.clear();
  h.fingerprint_seen.clear();
  h.error_detail[0] = '\0';
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h.error_detail);

  std::string url = h.endpoint + "/api2/json" + request.path;
  const std::string params = encode_params(c, request.params);
  const bool body_params = request.method == "POST" || request.method == "PUT";
  if (!params.empty() && !body_params) url += "?" + params;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (body_params) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, params.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  const std::string auth =
      fmt::format("Authorization: PVEAPIToken={}={}", options_.token_id, options_.token_secret);
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  headers = curl_slist_append(headers, "Accept: application/json");
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  auto total = options_.total_timeout;
  if (request.deadline) {
    // At least 1 ms: curl reads 0 as "no limit".
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(
        *request.deadline - std::chrono::steady_clock::now());
    total = std::clamp(left, std::chrono::milliseconds(1), total);
  }
  const auto connect = std::min(options_.connect_timeout, total);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(total.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &h.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &h.reason);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  if (options_.insecure) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  } else if (!options_.fingerprints.empty()) {
    // The pin stands for the certificate itself, so neither CA trust nor the host name matter:
    // pin_verify accepts exactly the pinned leaf.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_setup);
    curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, &h);
  } else {
    // A CA file (the cluster's pve-root-ca.pem) is ordinary trust: Proxmox's node certificates
    // name the node's host name and addresses, so the host name check stays on; a setup that
    // reaches the nodes under other names pins the fingerprint instead.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (options_.ca_file) {
      // That file alone: no system CA directory, so no public CA can vouch for a node.
      curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_file->c_str());
      curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
  }

  if (options_.cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, options_.cancel);
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  long request_bytes = 0;
  curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes);
  request_sent = request_bytes > 0;
  if (rc != CURLE_OK) {
    ApiError e;
    e.method = request.method;
    e.path = request.path;
    e.endpoint = h.endpoint;
    // The detail names host and port ("Failed to connect to pve1 port 8006 ..."); neither it nor
    // curl_easy_strerror ever contains request headers, so the token secret cannot leak here.
    e.message = fmt::format("{}: {}", h.endpoint,
                            h.error_detail[0] != '\0' ? h.error_detail : curl_easy_strerror(rc));
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
        e.kind = ErrorKind::timeout;
        break;
      case CURLE_PEER_FAILED_VERIFICATION:
      case CURLE_SSL_CONNECT_ERROR:
      case CURLE_SSL_CACERT_BADFILE:
      case CURLE_SSL_CERTPROBLEM:
        e.kind = ErrorKind::tls;
        if (!h.expected_fingerprints.empty() && !h.fingerprint_seen.empty()) {
          e.fingerprint_seen = h.fingerprint_seen;
          std::string pinned;
          for (const auto& fp : h.expected_fingerprints)
            pinned += (pinned.empty() ? "" : ", ") + fp;
          e.message = fmt::format(
              "{}: certificate fingerprint {} is not among the pinned ({}): add this node's "
              "fingerprint to pve.fingerprint, or trust the cluster CA with pve.ca_file",
              h.endpoint, h.fingerprint_seen, pinned);
        }
        break;
      case CURLE_ABORTED_BY_CALLBACK:
        e.kind = ErrorKind::unreachable;
        e.message = fmt::format("{}: cancelled: shutting down", h.endpoint);
        break;
      default:
        e.kind = ErrorKind::unreachable;
    }
    return tl::unexpected(e);
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return Response{static_cast<int>(status), h.reason, std::move(h.body), h.endpoint};
}

}  // namespace pvt::pve
