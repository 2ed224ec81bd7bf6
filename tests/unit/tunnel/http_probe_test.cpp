#include "tunnel/http_probe.h"

#include <gtest/gtest.h>

namespace pvt::tunnel {
namespace {

TEST(ParseStatusLine, Table) {
  const struct {
    const char* line;
    std::optional<int> code;
  } cases[] = {
      {"HTTP/1.1 200 OK", 200},
      {"HTTP/1.0 503 Service Unavailable", 503},
      {"HTTP/1.1 204", 204},
      {"HTTP/2 301 Moved", 301},
      {"HTTP/1.1 99 Low", std::nullopt},
      {"HTTP/1.1 600 High", std::nullopt},
      {"HTTP/1.1 2000 OK", std::nullopt},
      {"HTTP/1.1 abc OK", std::nullopt},
      {"SSH-2.0-OpenSSH_9.2", std::nullopt},
      {"", std::nullopt},
      {"HTTP/1.1", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parse_status_line(c.line), c.code) << c.line;
}

TEST(ProbeRequest, ClosesTheConnectionAndNamesTheHost) {
  EXPECT_EQ(probe_request("/healthz", "127.0.0.1:29000"),
            "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1:29000\r\nUser-Agent: pvectl-tunnel-probe\r\n"
            "Connection: close\r\n\r\n");
}

}  // namespace
}  // namespace pvt::tunnel
