// The client of the worker's control API against servers in the test: our own bounded server for
// the worker's answers (200, 401, a JSON error, a command never answered), raw sockets for what no
// worker sends (a trickle, a connection closed before the answer, a proxy's HTML).
#include "worker_client/worker_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "common/http_server.h"

namespace pvt::tunnel {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kStatus =
    R"({"name":"tunnel1","state":"serving","forward":"127.0.0.1:29000"})";

// What the fake worker saw of one request.
struct Seen {
  std::string method;
  std::string path;
  std::string authorization;
  std::optional<std::string> content_length;
  std::string body;
};

// The worker's control API on the server the worker itself uses: bearer token "sekrit", status
// at GET /v1/status, and each POST answered with what the test put in `answers` (200 by default;
// an answer with status 0 is never given, as by a loop that does not take the command).
class FakeWorker : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.set_gate([](const http::Request& r) -> std::optional<http::Response> {
      const std::string* auth = r.header("authorization");
      if (auth != nullptr && *auth == "Bearer sekrit") return std::nullopt;
      return http::error_response(401, "missing or wrong bearer token (control_token_file)");
    });
    server_.route("GET", "/v1/status", [](const http::Request&) -> http::Reply {
      http::Response r;
      r.body = kStatus;
      return r;
    });
    for (const char* path : {"/v1/drain", "/v1/resume", "/v1/reconnect"}) {
      server_.route("POST", path, [this](const http::Request& req) -> http::Reply {
        http::Response answer;
        {
          std::lock_guard lock(mutex_);
          const std::string* length = req.header("content-length");
          seen_.push_back(Seen{req.method, req.path, *req.header("authorization"),
                               length ? std::optional<std::string>(*length) : std::nullopt,
                               req.body});
          if (auto it = answers_.find(req.path); it != answers_.end()) answer = it->second;
        }
        if (answer.status == 0) {
          return http::Deferred{[](http::Clock::time_point) { return std::nullopt; }};
        }
        return answer;
      });
    }
    ASSERT_TRUE(server_.listen("127.0.0.1", 0));
    thread_ = std::thread([this] { server_.run(); });
  }
  void TearDown() override {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }
  WorkerClient client(const std::string& token = "sekrit", milliseconds timeout = seconds(5)) {
    return WorkerClient(url(), token, timeout);
  }
  void answer(const std::string& path, int status, std::string body,
              std::string content_type = "application/json") {
    std::lock_guard lock(mutex_);
    answers_[path] = http::Response{status, std::move(content_type), std::move(body), {}};
  }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

  http::Server server_{"fake worker"};
  std::thread thread_;
  std::mutex mutex_;
  std::map<std::string, http::Response> answers_;
  std::vector<Seen> seen_;
};

TEST_F(FakeWorker, FetchesWithTheBearerToken) {
  auto s = fetch_worker_status(url(), "sekrit", seconds(5));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->state, "serving");
  auto again = client().status();
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->forward, "127.0.0.1:29000");
}

TEST_F(FakeWorker, RejectedTokenIsReportedWithoutTheToken) {
  auto s = fetch_worker_status(url(), "wrong", seconds(5));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, url() + ": token rejected (401)");
}

// Each command is a POST of an empty body with "Content-Length: 0" and the token; 200 is done.
TEST_F(FakeWorker, CommandsArePostsOfAnEmptyBody) {
  auto c = client();
  ASSERT_TRUE(c.drain());
  ASSERT_TRUE(c.resume());
  ASSERT_TRUE(c.reconnect());
  const auto s = seen();
  ASSERT_EQ(s.size(), 3u);
  const char* paths[] = {"/v1/drain", "/v1/resume", "/v1/reconnect"};
  for (size_t i = 0; i < s.size(); ++i) {
    EXPECT_EQ(s[i].method, "POST");
    EXPECT_EQ(s[i].path, paths[i]);
    EXPECT_EQ(s[i].authorization, "Bearer sekrit");
    EXPECT_EQ(s[i].content_length, "0");
    EXPECT_EQ(s[i].body, "");
  }
}

TEST_F(FakeWorker, ACommandWithARejectedTokenSaysSoWithoutTheToken) {
  // Log lines too: nothing the client writes anywhere may carry the token.
  std::ostringstream logged;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "test", std::make_shared<spdlog::sinks::ostream_sink_mt>(logged));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  auto drained = client("guessed-token-1234").drain();
  spdlog::set_default_logger(previous);
  ASSERT_FALSE(drained);
  EXPECT_EQ(drained.error().message, url() + ": token rejected (401)");
  EXPECT_EQ(logged.str().find("guessed-token-1234"), std::string::npos) << logged.str();
  EXPECT_TRUE(seen().empty()) << "the gate refuses before the handler";
}

TEST_F(FakeWorker, AnotherStatusBringsTheWorkersJsonError) {
  answer("/v1/drain", 503, R"({"error":"the worker's event loop did not answer within 5 s"})");
  answer("/v1/reconnect", 409, R"({"error":"the worker is stopping"})");
  auto drained = client().drain();
  ASSERT_FALSE(drained);
  EXPECT_EQ(
      drained.error().message,
      url() + "/v1/drain answered HTTP 503: the worker's event loop did not answer within 5 s");
  auto reconnected = client().reconnect();
  ASSERT_FALSE(reconnected);
  EXPECT_EQ(reconnected.error().message,
            url() + "/v1/reconnect answered HTTP 409: the worker is stopping");
}

TEST_F(FakeWorker, AnAnswerThatIsNotTheWorkersJsonIsSaidSo) {
  answer("/v1/resume", 502, "<html><body>Bad Gateway</body></html>", "text/html");
  answer("/v1/drain", 500, R"({"message":"no error field"})");
  auto resumed = client().resume();
  ASSERT_FALSE(resumed);
  EXPECT_EQ(resumed.error().message,
            url() + "/v1/resume answered HTTP 502 (not the worker's JSON error)");
  auto drained = client().drain();
  ASSERT_FALSE(drained);
  EXPECT_EQ(drained.error().message,
            url() + "/v1/drain answered HTTP 500 (not the worker's JSON error)");
}

// A command the worker's loop never answers: the call ends at its time limit.
TEST_F(FakeWorker, AnUnansweredCommandEndsAtTheTimeLimit) {
  answer("/v1/drain", 0, "");
  const auto started = std::chrono::steady_clock::now();
  auto drained = client("sekrit", milliseconds(300)).drain();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(drained);
  EXPECT_EQ(drained.error().message,
            url() + ": cannot reach the worker: no complete answer within 300 ms");
  EXPECT_GE(took, milliseconds(300));
  EXPECT_LT(took, seconds(3));
  EXPECT_EQ(seen().size(), 1u) << "a command cut by the time limit is not sent again";
}

TEST(FetchWorkerStatus, UnreachableWorker) {
  // Port 1 on loopback: nothing listens there in the test environment.
  auto s = fetch_worker_status("http://127.0.0.1:1", "t", seconds(2));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("cannot reach the worker"), std::string::npos)
      << s.error().message;
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
  auto s = fetch_worker_status(url, "token", milliseconds(500));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("connection refused"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("control_listen"), std::string::npos) << s.error().message;
}

// A loopback listener whose connections `serve` handles one after the other, on a thread of its
// own: for what no worker sends.
class RawServer {
 public:
  explicit RawServer(std::function<void(int fd, int index)> serve) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, 4) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, serve = std::move(serve)] {
      for (int index = 0;; ++index) {
        const int fd = ::accept(listener_, nullptr, nullptr);
        if (fd < 0 || stop_) {
          if (fd >= 0) ::close(fd);
          return;
        }
        ++accepted_;
        serve(fd, index);
        ::close(fd);
      }
    });
  }
  ~RawServer() {
    stop_ = true;
    ::shutdown(listener_, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable()) thread_.join();
    ::close(listener_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }
  bool stopping() const { return stop_; }

  // Reads until the end of the request's header section (the client's bodies here are empty).
  static void read_request(int fd) {
    std::string got;
    char buf[1024];
    while (got.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      got.append(buf, static_cast<size_t>(n));
    }
  }

 private:
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

void trickle(const RawServer& server, int fd) {
  RawServer::read_request(fd);
  const std::string answer = "HTTP/1.1 200 OK\r\nX-Padding: " + std::string(600, 'x');
  for (size_t i = 0; i < answer.size() && !server.stopping(); ++i) {
    if (::send(fd, &answer[i], 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(milliseconds(50));  // 30 s for the whole answer
  }
}

// Something at the control URL that answers one byte at a time keeps every per-read timeout of
// the HTTP client alive: the call must still end at its time limit (check's -t relies on it).
TEST(WorkerClient, ATricklingAnswerIsCutAtTheTimeLimit) {
  RawServer* self = nullptr;
  RawServer server([&](int fd, int) { trickle(*self, fd); });
  self = &server;
  WorkerClient client(server.url(), "token", milliseconds(500));
  for (const char* what : {"status", "drain"}) {
    const auto started = std::chrono::steady_clock::now();
    const std::string error = what == std::string("status") ? client.status().error().message
                                                            : client.drain().error().message;
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(error, server.url() + ": cannot reach the worker: no complete answer within 500 ms")
        << what;
    EXPECT_LT(took, seconds(3)) << what << " followed the trickle";
  }
}

// A busy control API may close a connection before reading its request, to make room: drain,
// resume and status try once more; reconnect does not (if the worker did take it, a second one
// would start yet another session).
TEST(WorkerClient, AConnectionClosedBeforeTheAnswerIsTriedOnceMoreExceptReconnect) {
  const std::string ok =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2"
      "\r\nConnection: close\r\n\r\n{}";
  // Even connections are closed unanswered, odd ones answered.
  RawServer server([&](int fd, int index) {
    RawServer::read_request(fd);
    if (index % 2 == 1) ::send(fd, ok.data(), ok.size(), MSG_NOSIGNAL);
  });
  WorkerClient client(server.url(), "token", seconds(5));
  auto drained = client.drain();
  EXPECT_TRUE(drained) << drained.error().message;
  EXPECT_EQ(server.accepted(), 2);
  auto resumed = client.resume();
  EXPECT_TRUE(resumed) << resumed.error().message;
  EXPECT_EQ(server.accepted(), 4);
  auto reconnected = client.reconnect();
  ASSERT_FALSE(reconnected);
  EXPECT_EQ(reconnected.error().message,
            server.url() + ": cannot reach the worker: the connection was closed before an answer");
  EXPECT_EQ(server.accepted(), 5);
}

// The controller drives workers through WorkerControl; a fake takes the client's place.
TEST(WorkerControl, AFakeTakesTheClientsPlace) {
  struct Fake final : WorkerControl {
    int drains = 0;
    Result<WorkerStatus> status() override { return parse_worker_status(kStatus); }
    Result<void> drain() override {
      ++drains;
      return {};
    }
    Result<void> resume() override { return fail("not now"); }
    Result<void> reconnect() override { return {}; }
  } fake;
  WorkerControl& control = fake;
  EXPECT_TRUE(control.drain());
  EXPECT_EQ(fake.drains, 1);
  EXPECT_EQ(control.resume().error().message, "not now");
  EXPECT_EQ(control.status()->name, "tunnel1");
}

}  // namespace
}  // namespace pvt::tunnel
