#include "controller/env/public_probe.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

#include "common/text.h"

namespace pvt::controller {
namespace {

struct Answer {
  std::string x_tunnel;
  bool found = false;
};

// Header lines one by one; only X-Tunnel is kept (case-insensitive, as HTTP header names are).
size_t on_header(char* data, size_t size, size_t n, void* userdata) {
  const std::string_view line(data, size * n);
  constexpr std::string_view kName = "x-tunnel:";
  if (line.size() > kName.size()) {
    bool match = true;
    for (size_t i = 0; i < kName.size() && match; ++i) {
      match = std::tolower(static_cast<unsigned char>(line[i])) == kName[i];
    }
    if (match) {
      auto* a = static_cast<Answer*>(userdata);
      std::string v(line.substr(kName.size()));
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
      // Bounded and printable: it ends up in the status page and metrics labels.
      a->x_tunnel = text::sanitize(v.substr(0, 64));
      a->found = true;
    }
  }
  return size * n;
}

size_t discard_body(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

Result<std::string> probe_traffic_via(const std::string& public_url,
                                      std::chrono::milliseconds timeout) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  if (!c) return fail("public_url: curl could not start");
  Answer answer;
  char error[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(c.get(), CURLOPT_URL, public_url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &answer);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, discard_body);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  const CURLcode rc = curl_easy_perform(c.get());
  if (rc != CURLE_OK) {
    return fail(fmt::format("{}: {}", public_url, error[0] ? error : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return fail(fmt::format("{}: HTTP {}", public_url, status));
  if (!answer.found || answer.x_tunnel.empty()) {
    return fail(fmt::format("{}: the answer has no X-Tunnel header", public_url));
  }
  return answer.x_tunnel;
}

}  // namespace pvt::controller
