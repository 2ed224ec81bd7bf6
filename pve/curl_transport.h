// The production Transport: libcurl over HTTPS with API-token auth, TLS trust from a CA file or
// a pinned SHA-256 certificate fingerprint, one reused handle per endpoint (keep-alive), and
// failover to the next endpoint when one cannot be reached.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "pve/transport.h"

namespace pvt::pve {

struct CurlTransportOptions {
  std::vector<std::string> endpoints;  // "https://pve1:8006", tried in order
  std::string token_id;
  std::string token_secret;
  std::optional<std::string> ca_file;
  std::vector<std::string> fingerprints;  // "AA:BB:..." upper case; any one may match
  bool insecure = false;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds total_timeout{10000};
  // Set from another thread (a signal handler's flag): requests in flight end at once, new ones
  // fail without being sent. Unset: never cancelled.
  const std::atomic<bool>* cancel = nullptr;
};

CurlTransportOptions options_from_config(const config::PveSection& pve);

class CurlTransport final : public Transport {
 public:
  explicit CurlTransport(CurlTransportOptions options);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<Response, ApiError> perform(const Request& request) override;

  // The endpoint that answered last; tried first next time.
  const std::string& preferred_endpoint() const;

  struct Handle;  // per endpoint: CURL* and TLS pinning state

 private:
  // `request_sent` tells whether any of the request left this process before a failure.
  Result<Response, ApiError> perform_on(Handle& h, const Request& request, bool& request_sent);

  CurlTransportOptions options_;
  std::vector<std::unique_ptr<Handle>> handles_;
  size_t preferred_ = 0;
};

}  // namespace pvt::pve
