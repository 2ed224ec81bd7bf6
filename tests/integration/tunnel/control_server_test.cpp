// The worker's control API server in this process, with the test standing in for the worker's
// event loop: what each endpoint answers, the life of a POSTed command (queued, taken, answered,
// or withdrawn when the loop does not take it in time), and that a POST waiting for the loop holds
// up no other client.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "tests/support/raw_http.h"
#include "tunnel/control_api.h"

namespace pvt {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::exchange_http;
using testing::HttpAnswer;

milliseconds since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t);
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    port_ = testing::free_port();
    tunnel::WorkerStatus s;
    s.name = "t1";
    s.state = "serving";
    s.since = "2026-01-01T00:00:00Z";
    s.vps = "127.0.0.1:22";
    channel_.publish(s);
    server_ = std::make_unique<tunnel::ControlServer>(channel_, "secret-token");
    auto started = server_->start({"127.0.0.1", static_cast<uint16_t>(port_)});
    ASSERT_TRUE(started) << started.error().message;
  }

  void TearDown() override { server_.reset(); }

  static std::string request(const std::string& method, const std::string& path,
                             const std::string& body = "", bool token = true) {
    std::string r = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (token) r += "Authorization: Bearer secret-token\r\n";
    if (method == "POST") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return r + "\r\n" + body;
  }

  HttpAnswer ask(const std::string& text, milliseconds timeout = seconds(2)) {
    return exchange_http(port_, text, timeout);
  }

  // Whether a command waits for the loop (its eventfd is readable), within `timeout`.
  bool command_queued(milliseconds timeout) {
    pollfd p{channel_.wake_fd(), POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) == 1;
  }

  int port_ = 0;
  tunnel::ControlChannel channel_;  // outlives the server
  std::unique_ptr<tunnel::ControlServer> server_;
};

TEST_F(ControlServerTest, AnswersKeepTheirStatusesBodiesAndHeaders) {
  const auto status = ask(request("GET", "/v1/status"));
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.header("Content-Type"), "application/json");
  auto parsed = tunnel::parse_worker_status(status.body);
  ASSERT_TRUE(parsed) << status.body;
  EXPECT_EQ(parsed->state, "serving");

  const auto metrics = ask(request("GET", "/metrics"));
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("Content-Type"), "text/plain; version=0.0.4");

  const auto unauthorized = ask(request("GET", "/v1/status", "", false));
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_EQ(unauthorized.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(unauthorized.body,
            R"json({"error":"missing or wrong bearer token (control_token_file)"})json");
  const auto wrong = ask("GET /v1/status HTTP/1.1\r\nAuthorization: Bearer secret-tokeX\r\n\r\n");
  EXPECT_EQ(wrong.status, 401);
  const auto basic = ask("GET /v1/status HTTP/1.1\r\nAuthorization: Basic secret-token\r\n\r\n");
  EXPECT_EQ(basic.status, 401);
  // Unauthenticated, even a path that does not exist is only a 401.
  EXPECT_EQ(ask(request("GET", "/nope", "", false)).status, 401);

  const auto get_drain = ask(request("GET", "/v1/drain"));
  EXPECT_EQ(get_drain.status, 405);
  EXPECT_EQ(get_drain.header("Allow"), "POST");
  EXPECT_EQ(get_drain.body, R"({"error":"use POST"})");
  const auto post_status = ask(request("POST", "/v1/status"));
  EXPECT_EQ(post_status.status, 405);
  EXPECT_EQ(post_status.header("Allow"), "GET");
  EXPECT_EQ(post_status.body, R"({"error":"use GET"})");
  const auto missing = ask(request("GET", "/v2/status"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, R"({"error":"no such endpoint: GET /v2/status"})");
  for (const char* body : {"not json", "[1]", "\"text\""}) {
    const auto bad = ask(request("POST", "/v1/drain", body));
    EXPECT_EQ(bad.status, 400) << body;
    EXPECT_EQ(bad.body, R"({"error":"the body must be empty or a JSON object"})");
  }
  EXPECT_FALSE(command_queued(milliseconds(0)));  // none of these reached the loop
}

TEST_F(ControlServerTest, TheLoopsAnswerIsTheResponse) {
  std::thread loop([&] {
    ASSERT_TRUE(command_queued(seconds(2)));
    for (const auto& pending : channel_.take()) {
      EXPECT_EQ(pending.command, tunnel::ControlCommand::drain);
      channel_.answer(pending.id, {200, R"({"state":"draining"})"});
    }
  });
  const auto t = std::chrono::steady_clock::now();
  // Without a Content-Length: an empty body.
  const auto a = ask("POST /v1/drain HTTP/1.1\r\nAuthorization: Bearer secret-token\r\n\r\n");
  loop.join();
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"state":"draining"})");
  EXPECT_LT(since(t), seconds(1));
}

TEST_F(ControlServerTest, APostTheLoopDoesNotTakeIsAnswered503AndNeverRuns) {
  const auto t = std::chrono::steady_clock::now();
  const auto a = ask(request("POST", "/v1/reconnect", "{}"), seconds(10));
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(a.body, R"({"error":"the worker's event loop did not answer within 5 s"})");
  EXPECT_GE(since(t), milliseconds(4500));
  // The loop comes back: the command the client was told failed must not run now.
  EXPECT_TRUE(channel_.take().empty());
}

TEST_F(ControlServerTest, ACommandTheLoopTookIsWaitedForWhileStatusIsStillServed) {
  HttpAnswer answer;
  milliseconds took{0};
  std::thread client([&] {
    const auto t = std::chrono::steady_clock::now();
    answer = ask(request("POST", "/v1/drain"), seconds(15));
    took = since(t);
  });
  ASSERT_TRUE(command_queued(seconds(2)));
  auto taken = channel_.take();
  ASSERT_EQ(taken.size(), 1u);
  // The loop is slow to answer (longer than the 5 s a queued command may wait): meanwhile the
  // API answers everyone else at once.
  int statuses = 0;
  const auto until = std::chrono::steady_clock::now() + milliseconds(6000);
  while (std::chrono::steady_clock::now() < until) {
    const auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(ask(request("GET", "/v1/status"), seconds(2)).status, 200);
    EXPECT_LT(since(t), seconds(1));
    ++statuses;
    std::this_thread::sleep_for(milliseconds(250));
  }
  channel_.answer(taken.front().id, {200, R"({"state":"drained"})"});
  client.join();
  // It ran, so its answer is the truth — not a 503 that would have made the client think so.
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(answer.body, R"({"state":"drained"})");
  EXPECT_GE(took, milliseconds(5500));
  EXPECT_GE(statuses, 10);
}

}  // namespace
}  // namespace pvt
