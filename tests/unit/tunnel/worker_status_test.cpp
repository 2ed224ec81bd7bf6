#include "tunnel/worker_status.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace pvt::tunnel {
namespace {

constexpr const char* kServing = R"({
  "name": "tunnel1", "state": "serving", "since": "2026-11-24T19:00:00Z",
  "vps": "203.0.113.7:22", "forward": "127.0.0.1:29000", "reconnects": 2,
  "last_error": null, "probe": {"ok": true, "latency_ms": 12, "at": "2026-11-24T19:00:05Z"},
  "channels_open": 3, "bytes_in": 1000, "bytes_out": 2000})";

TEST(ParseWorkerStatus, ReadsEveryField) {
  auto s = parse_worker_status(kServing);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->name, "tunnel1");
  EXPECT_EQ(s->state, "serving");
  EXPECT_EQ(s->forward, "127.0.0.1:29000");
  EXPECT_EQ(s->reconnects, 2);
  EXPECT_FALSE(s->last_error.has_value());
  EXPECT_EQ(s->probe.ok, true);
  EXPECT_EQ(s->probe.latency_ms, 12);
  EXPECT_EQ(s->probe.at, "2026-11-24T19:00:05Z");
  EXPECT_EQ(s->channels_open, 3);
  EXPECT_EQ(s->bytes_out, 2000);
}

TEST(ParseWorkerStatus, UnboundForwardAndNoProbeYet) {
  auto s = parse_worker_status(
      R"({"name":"t","state":"forward-pending","forward":null,"probe":{"ok":null}})");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_FALSE(s->forward.has_value());
  EXPECT_FALSE(s->probe.ok.has_value());
}

TEST(ParseWorkerStatus, NamesTheBadField) {
  EXPECT_EQ(parse_worker_status("not json").error().message, "worker status is not a JSON object");
  EXPECT_EQ(parse_worker_status(R"({"state":"serving"})").error().message,
            "field \"name\" is missing");
  EXPECT_EQ(
      parse_worker_status(R"({"name":"t","state":"serving","reconnects":"x"})").error().message,
      "field \"reconnects\" has the wrong type (string)");
  EXPECT_EQ(parse_worker_status(R"({"name":"t","state":"s","probe":[1]})").error().message,
            "field \"probe\" is not an object");
}

class FakeWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/v1/status", [](const httplib::Request& req, httplib::Response& res) {
      if (req.get_header_value("Authorization") != "Bearer sekrit") {
        res.status = 401;
        res.set_content(R"({"error":"unauthorized"})", "application/json");
        return;
      }
      res.set_content(kServing, "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

TEST_F(FakeWorker, FetchesWithTheBearerToken) {
  auto s = fetch_worker_status(url(), "sekrit", std::chrono::seconds(5));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->state, "serving");
}

TEST_F(FakeWorker, RejectedTokenIsReportedWithoutTheToken) {
  auto s = fetch_worker_status(url(), "wrong", std::chrono::seconds(5));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, url() + ": token rejected (401)");
}

TEST(FetchWorkerStatus, UnreachableWorker) {
  // Port 1 on loopback: nothing listens there in the test environment.
  auto s = fetch_worker_status("http://127.0.0.1:1", "t", std::chrono::seconds(2));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot reach the worker"), std::string::npos)
      << s.error().message;
}

}  // namespace
}  // namespace pvt::tunnel

namespace pvt::tunnel {
namespace {

WorkerStatus sample() {
  WorkerStatus s;
  s.name = "tunnel\"1";
  s.state = "drained";
  s.since = "2026-11-24T19:00:00Z";
  s.vps = "vps.example.net:22";
  s.reconnects = 4;
  s.last_error = "the VPS refused the remote forward";
  s.probe = {false, std::nullopt, "2026-11-24T19:00:05Z"};
  s.channels_open = 2;
  s.bytes_in = 10;
  s.bytes_out = 20;
  s.role = "backup";
  s.local = "127.0.0.1:18080";
  s.drain_requested = true;
  s.forward_refusals = 3;
  return s;
}

TEST(WorkerStatusJson, RoundTripsThroughTheParser) {
  const WorkerStatus s = sample();
  auto back = parse_worker_status(worker_status_json(s));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, s.name);
  EXPECT_EQ(back->state, "drained");
  EXPECT_EQ(back->forward, std::nullopt);
  EXPECT_EQ(back->reconnects, 4);
  EXPECT_EQ(back->last_error, s.last_error);
  EXPECT_EQ(back->probe.ok, std::optional<bool>(false));
  EXPECT_EQ(back->probe.latency_ms, std::nullopt);
  EXPECT_EQ(back->probe.at, s.probe.at);
  EXPECT_EQ(back->channels_open, 2);
  EXPECT_EQ(back->bytes_in, 10);
  EXPECT_EQ(back->bytes_out, 20);
  EXPECT_EQ(back->role, "backup");
  EXPECT_EQ(back->local, "127.0.0.1:18080");
  EXPECT_TRUE(back->drain_requested);
  EXPECT_EQ(back->forward_refusals, 3);
}

TEST(WorkerStatusJson, HasEveryDesignField) {
  auto j = nlohmann::json::parse(worker_status_json(sample()));
  for (const char* key : {"name", "state", "since", "vps", "forward", "reconnects", "last_error",
                          "probe", "channels_open", "bytes_in", "bytes_out"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"ok", "latency_ms", "at"}) EXPECT_TRUE(j["probe"].contains(key)) << key;
}

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

// The last error can carry the VPS's own text (a disconnect message): bytes that are not UTF-8
// made the status JSON throw while it was written.
TEST(WorkerStatusJson, InvalidUtf8InTheLastErrorIsRepaired) {
  WorkerStatus s;
  s.name = "tunnel1";
  s.state = "backoff";
  s.last_error = "the VPS ended the session (reason 11: bye \xFF\xFE)";
  std::string json;
  ASSERT_NO_THROW(json = worker_status_json(s));
  auto back = parse_worker_status(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back->last_error,
            "the VPS ended the session (reason 11: bye \xEF\xBF\xBD\xEF\xBF\xBD)");
}

// "cannot reach the worker: Connection" (httplib's own word) told nobody what to do: the message
// says refused (nothing listens) and what to look at.
TEST(FetchWorkerStatus, ARefusedConnectionIsSaidSo) {
  // A port that was free a moment ago: nothing listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  ::close(fd);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto s = fetch_worker_status(url, "token", std::chrono::milliseconds(500));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("connection refused"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("control_listen"), std::string::npos) << s.error().message;
}

// Something at the control URL that answers one byte at a time keeps every per-read timeout of
// the HTTP client alive: the fetch must still end at its time limit (check's -t relies on it).
TEST(FetchWorkerStatus, ATricklingAnswerIsCutAtTheTimeLimit) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::atomic<bool> stop{false};
  std::thread trickler([&] {
    const int fd = ::accept(listener, nullptr, nullptr);
    if (fd < 0) return;
    const std::string answer = "HTTP/1.1 200 OK\r\nX-Padding: " + std::string(600, 'x');
    for (size_t i = 0; i < answer.size() && !stop; ++i) {
      if (::send(fd, &answer[i], 1, MSG_NOSIGNAL) != 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // 30 s for the whole answer
    }
    ::close(fd);
  });
  const auto started = std::chrono::steady_clock::now();
  auto s = fetch_worker_status("http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)), "token",
                               std::chrono::milliseconds(500));
  const auto took = std::chrono::steady_clock::now() - started;
  stop = true;
  trickler.join();
  ::close(listener);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("no complete answer within 500 ms"), std::string::npos)
      << s.error().message;
  EXPECT_LT(took, std::chrono::seconds(10)) << "the fetch followed the trickle";
}

}  // namespace
}  // namespace pvt::tunnel
