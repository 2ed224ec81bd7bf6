// What the worker serves beside its status JSON (worker_client/ tests the JSON and the client).
#include "tunnel/worker_status.h"

#include <gtest/gtest.h>

#include "tests/support/worker_status_sample.h"

namespace pvt::tunnel {
namespace {

WorkerStatus sample() { return testing::sample_worker_status(); }

TEST(WorkerMetrics, OneLinePerStateAndEscapedLabels) {
  const std::string m = worker_metrics(sample());
  EXPECT_NE(m.find("pvectl_tunnel_state{tunnel=\"tunnel\\\"1\",state=\"drained\"} 1\n"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("pvectl_tunnel_state{tunnel=\"tunnel\\\"1\",state=\"serving\"} 0\n"),
            std::string::npos);
  EXPECT_NE(m.find("pvectl_tunnel_forward_bound{tunnel=\"tunnel\\\"1\"} 0\n"), std::string::npos);
  EXPECT_NE(m.find("pvectl_tunnel_reconnects_total{tunnel=\"tunnel\\\"1\"} 4\n"),
            std::string::npos);
  EXPECT_NE(m.find("pvectl_tunnel_probe_ok{tunnel=\"tunnel\\\"1\"} 0\n"), std::string::npos);
  // No latency without a successful probe.
  EXPECT_EQ(m.find("probe_latency_seconds{"), std::string::npos);
  // Every sample has HELP and TYPE lines before it.
  EXPECT_NE(m.find("# TYPE pvectl_tunnel_sent_bytes_total counter"), std::string::npos);
}

TEST(WorkerMetrics, LatencyInSeconds) {
  WorkerStatus s = sample();
  s.probe = {true, 12, "2026-11-24T19:00:05Z"};
  EXPECT_NE(
      worker_metrics(s).find("pvectl_tunnel_probe_latency_seconds{tunnel=\"tunnel\\\"1\"} 0.012"),
      std::string::npos);
}

}  // namespace
}  // namespace pvt::tunnel
