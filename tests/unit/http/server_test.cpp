// The HTTP server in this process on 127.0.0.1 with real sockets: what it answers, and that no
// client — trickling, idle, flooding — holds it up, grows it, or takes its descriptors. Timing
// bounds are loose (the suite also runs under sanitizers on a shared machine): they separate
// "answered at once" and "cut at the deadline" from "blocked", never finer.
#include "common/http_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <time.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tests/support/raw_http.h"

namespace pvt::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::closed_within;
using testing::connect_local;
using testing::exchange_http;
using testing::HttpAnswer;
using testing::read_answer;

// Log lines, kept for the test to count.
class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  size_t count(std::string_view text) {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count_if(lines_.begin(), lines_.end(), [&](const auto& l) {
      return l.find(text) != std::string::npos;
    }));
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::vector<std::string> lines_;
};

bool send_text(int fd, const std::string& text) {
  return testing::send_all(fd, text.data(), text.size());
}

std::string authorized(const std::string& method, const std::string& path,
                       const std::string& extra = "") {
  return method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer secret\r\n" +
         extra + "\r\n";
}

milliseconds since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t);
}

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    previous_logger_ = spdlog::default_logger();
    log_ = std::make_shared<LineSink>();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", log_));
  }

  void TearDown() override {
    stop_server();
    spdlog::set_default_logger(previous_logger_);
  }

  void start(ServerLimits limits = {}) {
    server_ = std::make_unique<Server>("test API", limits);
    server_->set_gate([](const Request& r) -> std::optional<Response> {
      const std::string* auth = r.header("authorization");
      if (auth != nullptr && *auth == "Bearer secret") return std::nullopt;
      Response refusal = error_response(401, "missing or wrong bearer token");
      refusal.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refusal;
    });
    server_->route("GET", "/status", [](const Request&) -> Reply {
      Response r;
      r.body = R"({"ok":true})";
      return r;
    });
    server_->route("POST", "/echo", [](const Request& req) -> Reply {
      Response r;
      r.content_type = "text/plain";
      r.body = req.body;
      return r;
    });
    server_->route("POST", "/later", [this](const Request&) -> Reply {
      ++later_calls_;
      return Deferred{[this](Clock::time_point) -> std::optional<Response> {
        if (!release_.load()) return std::nullopt;
        Response r;
        r.body = R"({"later":true})";
        return r;
      }};
    });
    server_->route("GET", "/items/*", [](const Request& req) -> Reply {
      Response r;
      r.content_type = "text/plain";
      r.body = req.path.substr(std::string("/items/").size());
      return r;
    });
    server_->route("GET", "/throw",
                   [](const Request&) -> Reply { throw std::runtime_error("a handler's bug"); });
    auto listening = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(listening) << listening.error().message;
    port_ = server_->port();
    thread_ = std::thread([this] {
      server_->run();
      returned_ = true;
    });
  }

  void stop_server() {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
  }

  HttpAnswer get_status(milliseconds timeout = seconds(2)) {
    return exchange_http(port_, authorized("GET", "/status"), timeout);
  }

  bool wait_for(const std::function<bool()>& ready, milliseconds timeout = seconds(5)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      if (ready()) return true;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return ready();
  }

  std::shared_ptr<spdlog::logger> previous_logger_;
  std::shared_ptr<LineSink> log_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<bool> release_{false};
  std::atomic<int> later_calls_{0};
  std::atomic<bool> returned_{false};
};

TEST_F(HttpServerTest, AnswersAndKeepsTheConnectionAlive) {
  start();
  const int fd = connect_local(port_);
  ASSERT_GE(fd, 0);
  std::string carry;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(send_text(fd, authorized("GET", "/status")));
    const auto a = read_answer(fd, seconds(2), &carry);
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.body, R"({"ok":true})");
    EXPECT_EQ(a.header("Content-Type"), "application/json");
    EXPECT_EQ(a.header("Connection"), "");
  }
  ::close(fd);
  EXPECT_EQ(server_->stats().accepted, 1u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  const int fd = connect_local(port_);
  ASSERT_TRUE(send_text(fd, authorized("POST", "/echo", "Content-Length: 3\r\n") + "one" +
                                authorized("GET", "/status") +
                                authorized("POST", "/echo", "Content-Length: 3\r\n") + "two"));
  std::string carry;
  EXPECT_EQ(read_answer(fd, seconds(2), &carry).body, "one");
  EXPECT_EQ(read_answer(fd, seconds(2), &carry).body, R"({"ok":true})");
  EXPECT_EQ(read_answer(fd, seconds(2), &carry).body, "two");
  ::close(fd);
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10EndTheConnectionAfterTheAnswer) {
  start();
  for (const auto& request :
       {authorized("GET", "/status", "Connection: close\r\n"),
        std::string("GET /status HTTP/1.0\r\nAuthorization: Bearer secret\r\n\r\n")}) {
    const int fd = connect_local(port_);
    ASSERT_TRUE(send_text(fd, request));
    const auto a = read_answer(fd, seconds(2));
    EXPECT_EQ(a.status, 200) << request;
    EXPECT_EQ(a.header("Connection"), "close");
    EXPECT_TRUE(closed_within(fd, seconds(2)));
    ::close(fd);
  }
}

TEST_F(HttpServerTest, PostWithoutContentLengthHasAnEmptyBody) {
  start();
  const auto a = exchange_http(port_, authorized("POST", "/echo"), seconds(2));
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, "");
}

TEST_F(HttpServerTest, UnknownPathsAre404AndOtherMethodsAre405WithAllow) {
  start();
  const auto missing = exchange_http(port_, authorized("GET", "/nope?x=1"), seconds(2));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, R"({"error":"no such endpoint: GET /nope"})");
  const auto get_echo = exchange_http(port_, authorized("GET", "/echo"), seconds(2));
  EXPECT_EQ(get_echo.status, 405);
  EXPECT_EQ(get_echo.header("Allow"), "POST");
  EXPECT_EQ(get_echo.body, R"({"error":"use POST"})");
  const auto delete_status = exchange_http(port_, authorized("DELETE", "/status"), seconds(2));
  EXPECT_EQ(delete_status.status, 405);
  EXPECT_EQ(delete_status.header("Allow"), "GET");
}

TEST_F(HttpServerTest, APathEndingInAStarMatchesEveryPathUnderIt) {
  start();
  const auto item = exchange_http(port_, authorized("GET", "/items/tunnel1/start"), seconds(2));
  EXPECT_EQ(item.status, 200);
  EXPECT_EQ(item.body, "tunnel1/start");
  const auto bare = exchange_http(port_, authorized("GET", "/items/"), seconds(2));
  EXPECT_EQ(bare.status, 200);
  EXPECT_EQ(bare.body, "");
  EXPECT_EQ(exchange_http(port_, authorized("GET", "/items"), seconds(2)).status, 404);
  EXPECT_EQ(exchange_http(port_, authorized("GET", "/itemsx/1"), seconds(2)).status, 404);
  const auto post = exchange_http(port_, authorized("POST", "/items/1"), seconds(2));
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.header("Allow"), "GET");
}

TEST_F(HttpServerTest, TheGateAnswersBeforeTheBodyIsSentAndClosesTheConnection) {
  start();
  const int fd = connect_local(port_);
  // A body is announced but never sent: the refusal must not wait for it.
  ASSERT_TRUE(send_text(fd, "POST /echo HTTP/1.1\r\nContent-Length: 4000\r\n\r\n"));
  const auto a = read_answer(fd, seconds(2));
  EXPECT_EQ(a.status, 401);
  EXPECT_EQ(a.header("WWW-Authenticate"), "Bearer");
  EXPECT_EQ(a.header("Connection"), "close");
  EXPECT_TRUE(closed_within(fd, seconds(2)));
  ::close(fd);
  EXPECT_EQ(server_->stats().gate_calls, 1u);
}

TEST_F(HttpServerTest, ExpectContinueGetsTheGoAheadOnlyAfterTheGate) {
  start();
  const int fd = connect_local(port_);
  ASSERT_TRUE(
      send_text(fd, authorized("POST", "/echo", "Content-Length: 5\r\nExpect: 100-continue\r\n")));
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  char buf[64];
  const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(std::max<ssize_t>(n, 0))),
            "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(send_text(fd, "hello"));
  EXPECT_EQ(read_answer(fd, seconds(2)).body, "hello");
  ::close(fd);
}

TEST_F(HttpServerTest, FramingErrorsGetTheirStatusAndAJsonError) {
  start();
  const std::vector<std::pair<std::string, int>> cases = {
      {"GARBAGE\r\n\r\n", 400},
      {authorized("POST", "/echo", "Transfer-Encoding: chunked\r\n") + "0\r\n\r\n", 411},
      {authorized("POST", "/echo", "Transfer-Encoding: gzip\r\n"), 501},
      {authorized("POST", "/echo", "Content-Length: 1\r\nContent-Length: 2\r\n"), 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
  };
  for (const auto& [request, status] : cases) {
    const int fd = connect_local(port_);
    ASSERT_TRUE(send_text(fd, request));
    const auto a = read_answer(fd, seconds(2));
    EXPECT_EQ(a.status, status) << request;
    EXPECT_EQ(a.body.rfind("{\"error\":\"", 0), 0u) << a.body;
    EXPECT_TRUE(closed_within(fd, seconds(2))) << request;
    ::close(fd);
  }
}

TEST_F(HttpServerTest, AHandlersExceptionIsA500AndTheServerGoesOn) {
  start();
  EXPECT_EQ(exchange_http(port_, authorized("GET", "/throw"), seconds(2)).status, 500);
  EXPECT_EQ(get_status().status, 200);
}

TEST_F(HttpServerTest, ASlowClientIsCutAtTheDeadlineWhileOthersAreAnswered) {
  ServerLimits limits;
  limits.request_deadline = seconds(1);
  start(limits);
  const auto began = std::chrono::steady_clock::now();
  const int slow = connect_local(port_);
  ASSERT_TRUE(send_text(slow, "GET /status HTTP/1.1\r\n"));

  std::atomic<bool> done{false};
  std::atomic<int> answered{0}, failed{0};
  std::atomic<int64_t> worst_ms{0};
  std::thread others([&] {
    while (!done.load()) {
      const auto t = std::chrono::steady_clock::now();
      const auto a = get_status(seconds(2));
      worst_ms = std::max<int64_t>(worst_ms.load(), since(t).count());
      ++(a.status == 200 ? answered : failed);
      std::this_thread::sleep_for(milliseconds(100));
    }
  });
  // One header line every 300 ms, as a slowloris does: 20 lines would take 6 s.
  milliseconds cut_after{0};
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(milliseconds(300));
    pollfd p{slow, POLLIN, 0};
    if (::poll(&p, 1, 0) == 1) {
      cut_after = since(began);
      break;
    }
    if (!send_text(slow, "X-Slow-" + std::to_string(i) + ": v\r\n")) break;
  }
  done = true;
  others.join();
  const auto a = read_answer(slow, seconds(2));
  ::close(slow);
  EXPECT_EQ(a.status, 408);
  EXPECT_GE(cut_after, milliseconds(900));
  EXPECT_LT(cut_after, seconds(3));
  EXPECT_GE(answered.load(), 5);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_LT(worst_ms.load(), 1000);
  EXPECT_GE(server_->stats().timed_out, 1u);
}

TEST_F(HttpServerTest, AConnectionThatNeverSendsIsClosedAtTheDeadlineWithoutAnAnswer) {
  ServerLimits limits;
  limits.request_deadline = milliseconds(300);
  limits.idle_timeout = milliseconds(300);
  start(limits);
  const int silent = connect_local(port_);
  const auto began = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_within(silent, seconds(3)));
  EXPECT_GE(since(began), milliseconds(200));
  ::close(silent);
  // And after an answer, an idle kept-alive connection the same way.
  const int idle = connect_local(port_);
  ASSERT_TRUE(send_text(idle, authorized("GET", "/status")));
  EXPECT_EQ(read_answer(idle, seconds(2)).status, 200);
  EXPECT_TRUE(closed_within(idle, seconds(3)));
  ::close(idle);
}

TEST_F(HttpServerTest, WhenAllConnectionsAreBeingAnsweredNewOnesAreClosedAtOnceAndLoggedOnce) {
  ServerLimits limits;
  limits.connections_max = 4;
  start(limits);
  std::vector<int> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(connect_local(port_));
    ASSERT_TRUE(send_text(busy.back(), authorized("POST", "/later", "Content-Length: 0\r\n")));
  }
  // All four are being answered (not merely accepted, which leaves them open to eviction).
  ASSERT_TRUE(wait_for([&] { return later_calls_.load() == 4; }));
  for (int i = 0; i < 10; ++i) {
    const int extra = connect_local(port_);
    ASSERT_GE(extra, 0);
    const auto began = std::chrono::steady_clock::now();
    EXPECT_TRUE(closed_within(extra, seconds(2)));
    EXPECT_LT(since(began), seconds(1));
    ::close(extra);
  }
  const auto stats = server_->stats();
  EXPECT_EQ(stats.refused, 10u);
  EXPECT_EQ(stats.evicted, 0u);
  EXPECT_LE(stats.open_connections, 4u);
  EXPECT_EQ(log_->count("closed at once"), 1u);  // rate-limited, not one line per connection
  // The ones being answered were never touched.
  release_ = true;
  server_->wake();
  for (int fd : busy) {
    EXPECT_EQ(read_answer(fd, seconds(2)).body, R"({"later":true})");
    ::close(fd);
  }
}

TEST_F(HttpServerTest, IdleConnectionsGiveWayToClientsWithARequest) {
  ServerLimits limits;
  limits.connections_max = 4;
  start(limits);
  std::vector<int> idle;
  for (int i = 0; i < 40; ++i) idle.push_back(connect_local(port_));
  ASSERT_TRUE(wait_for([&] {
    const auto s = server_->stats();
    return s.accepted + s.refused >= 40;
  }));
  for (int i = 0; i < 5; ++i) {
    const auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(get_status().status, 200);
    EXPECT_LT(since(t), seconds(1));
    EXPECT_LE(server_->stats().open_connections, 4u);
  }
  const auto stats = server_->stats();
  EXPECT_GE(stats.evicted, 36u);
  EXPECT_EQ(stats.refused, 0u);  // idle ones always give way
  EXPECT_EQ(log_->count("to make room"), 1u);
  for (int fd : idle) ::close(fd);
}

TEST_F(HttpServerTest, EndlessHeadersAreCutBeforeTheGateWithBoundedMemory) {
  start();
  const int fd = connect_local(port_);
  std::atomic<size_t> sent{0};
  std::thread flood([&] {
    // One endless header line: within the line count, only the byte cap can stop it.
    if (!send_text(fd, "GET /status HTTP/1.1\r\nX-Flood: ")) return;
    const std::string chunk(64 * 1024, 'a');
    for (int i = 0; i < 256 && send_text(fd, chunk); ++i) sent += chunk.size();  // 16 MiB at most
  });
  const auto a = read_answer(fd, seconds(5));
  flood.join();  // ends when the server closes the connection
  ::close(fd);
  EXPECT_EQ(a.status, 431);
  EXPECT_LT(sent.load(), 16u * 1024 * 1024);
  const auto stats = server_->stats();
  EXPECT_EQ(stats.gate_calls, 0u);
  // The header cap plus the answer: nothing grew with what the client sent.
  EXPECT_LE(stats.peak_connection_bytes, kHeaderSectionMaxBytes + 1024);
  EXPECT_EQ(get_status().status, 200);
}

TEST_F(HttpServerTest, TooManyHeaderLinesOrTooLargeABodyAreRefusedBeforeTheGate) {
  start();
  std::string many = "GET /status HTTP/1.1\r\n";
  for (size_t i = 0; i <= kHeaderLinesMax; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(exchange_http(port_, many + "\r\n", seconds(2)).status, 431);
  // The body is announced, never sent: refused on the header alone.
  const auto big =
      exchange_http(port_, "POST /echo HTTP/1.1\r\nContent-Length: 1048576\r\n\r\n", seconds(2));
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(server_->stats().gate_calls, 0u);
  // At the limit, with the token, it is served.
  const std::string body(kBodyMaxBytes, 'b');
  const auto exact = exchange_http(
      port_,
      authorized("POST", "/echo", "Content-Length: " + std::to_string(body.size()) + "\r\n") + body,
      seconds(2));
  EXPECT_EQ(exact.status, 200);
  EXPECT_EQ(exact.body, body);
}

TEST_F(HttpServerTest, ADeferredAnswerHoldsUpNoOne) {
  start();
  const int waiting = connect_local(port_);
  ASSERT_TRUE(send_text(waiting, authorized("POST", "/later", "Content-Length: 0\r\n")));
  for (int i = 0; i < 3; ++i) {
    const auto t = std::chrono::steady_clock::now();
    EXPECT_EQ(get_status().status, 200);
    EXPECT_LT(since(t), seconds(1));
  }
  pollfd p{waiting, POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // still waiting
  release_ = true;
  server_->wake();
  EXPECT_EQ(read_answer(waiting, seconds(2)).body, R"({"later":true})");
  ::close(waiting);
}

TEST_F(HttpServerTest, StopFromAnotherThreadEndsAnIdleLoopPromptly) {
  start();
  EXPECT_EQ(get_status().status, 200);
  // Nothing to wait for: only stop()'s wake-up can end the poll.
  std::this_thread::sleep_for(milliseconds(100));
  server_->stop();
  EXPECT_TRUE(wait_for([&] { return returned_.load(); }, seconds(1)));
  if (!returned_) ::close(connect_local(port_));  // let TearDown join all the same
}

TEST_F(HttpServerTest, StopEndsTheLoopPromptlyWithConnectionsOpen) {
  start();
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(connect_local(port_));
  ASSERT_TRUE(send_text(fds[0], authorized("POST", "/later", "Content-Length: 0\r\n")));
  ASSERT_TRUE(send_text(fds[1], "GET /status HTTP/1.1\r\n"));
  ASSERT_TRUE(wait_for([&] { return server_->stats().open_connections == 3; }));
  const auto t = std::chrono::steady_clock::now();
  stop_server();
  EXPECT_LT(since(t), seconds(1));
  for (int fd : fds) {
    EXPECT_TRUE(closed_within(fd, seconds(1)));
    ::close(fd);
  }
}

TEST_F(HttpServerTest, OutOfDescriptorsTheListenerIsPausedNotSpunOn) {
  start();
  // Sockets made before the limit drops; connecting them needs no new descriptor here, but
  // accepting them needs one in the server.
  std::vector<int> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  const int lowest_free = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(lowest_free, 0);
  ::close(lowest_free);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowest_free);  // no new descriptor at all
  // Nothing logged meanwhile: UBSan's checks of the formatting code need a pipe, which it could
  // not have now.
  spdlog::default_logger()->set_level(spdlog::level::off);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &tight), 0);

  clockid_t server_cpu{};
  ASSERT_EQ(pthread_getcpuclockid(thread_.native_handle(), &server_cpu), 0);
  auto cpu_ms = [&] {
    timespec ts{};
    clock_gettime(server_cpu, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
  };
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port_));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (int fd : clients) {
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  }
  const int64_t cpu_before = cpu_ms();
  std::this_thread::sleep_for(seconds(1));
  const int64_t cpu_used = cpu_ms() - cpu_before;
  const uint64_t failures = server_->stats().accept_failures;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  spdlog::default_logger()->set_level(spdlog::level::info);

  EXPECT_LT(cpu_used, 300) << "the server thread spun on accept()";
  // One try per pause (100 ms), not one per pass of a spinning loop.
  EXPECT_GE(failures, 1u);
  EXPECT_LE(failures, 20u);
  // Descriptors are back: the waiting clients are accepted and answered.
  for (int fd : clients) {
    ASSERT_TRUE(send_text(fd, authorized("GET", "/status")));
    EXPECT_EQ(read_answer(fd, seconds(2)).status, 200);
    ::close(fd);
  }
}

}  // namespace
}  // namespace pvt::http
