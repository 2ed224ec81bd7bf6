// The status model's JSON, shared by the worker (which writes it) and its clients (which read it).
#include "worker_client/worker_status.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/worker_status_sample.h"

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

WorkerStatus sample() { return testing::sample_worker_status(); }

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

}  // namespace
}  // namespace pvt::tunnel

namespace pvt::tunnel {
namespace {

TEST(WorkerState, EveryDocumentedStateAndAnUnknownOne) {
  EXPECT_EQ(worker_state("resolving"), WorkerState::resolving);
  EXPECT_EQ(worker_state("connecting"), WorkerState::connecting);
  EXPECT_EQ(worker_state("authenticating"), WorkerState::authenticating);
  EXPECT_EQ(worker_state("forward-pending"), WorkerState::forward_pending);
  EXPECT_EQ(worker_state("serving"), WorkerState::serving);
  EXPECT_EQ(worker_state("draining"), WorkerState::draining);
  EXPECT_EQ(worker_state("drained"), WorkerState::drained);
  EXPECT_EQ(worker_state("backoff"), WorkerState::backoff);
  EXPECT_EQ(worker_state("stopping"), WorkerState::stopping);
  EXPECT_EQ(worker_state("hibernating"), WorkerState::other);
  EXPECT_EQ(worker_state("Serving"), WorkerState::other);
  EXPECT_EQ(worker_state(""), WorkerState::other);
}

TEST(WorkerState, CarriesTrafficOnlyWhenServingWithItsForwardBound) {
  WorkerStatus s;
  s.state = "serving";
  EXPECT_FALSE(carries_traffic(s));
  s.forward = "127.0.0.1:29000";
  EXPECT_TRUE(carries_traffic(s));
  s.state = "draining";
  EXPECT_FALSE(carries_traffic(s));
  EXPECT_TRUE(drained_or_draining(s));
  s.state = "drained";
  EXPECT_TRUE(drained_or_draining(s));
  s.state = "something-new";
  EXPECT_FALSE(carries_traffic(s));
  EXPECT_FALSE(drained_or_draining(s));
}

}  // namespace
}  // namespace pvt::tunnel
