// Parse + check over a synthetic cluster of N guests (issue 3 target: < 100 ms at 10,000 guests,
// linear growth), and the number of API calls check makes (must not grow with N).
// Output: Google Benchmark's, machine-readable with --benchmark_format=json; the counter
// "api_calls" is the request count of one check.
#include <benchmark/benchmark.h>

#include "bench/synthetic_cluster.h"
#include "controller/check/collect.h"
#include "controller/check/rules.h"
#include "pve/client.h"
#include "tests/support/fake_clock.h"

namespace pvt::bench {
namespace {

// Answers from the synthetic cluster by path (+ type for /cluster/resources); per-guest paths
// get small generic answers.
class SyntheticTransport : public pve::Transport {
 public:
  explicit SyntheticTransport(const SyntheticCluster& c) : c_(c) {}
  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    std::string key = r.path;
    for (const auto& [k, v] : r.params) {
      if (k == "type") key += "?type=" + v;
    }
    auto it = c_.bodies.find(key);
    if (it != c_.bodies.end()) return pve::Response{200, "OK", it->second, "bench"};
    if (r.path.ends_with("/config")) {
      return pve::Response{200, "OK",
                           R"({"data":{"onboot":1,"startup":"order=1","memory":"1024"}})", "bench"};
    }
    if (r.path.ends_with("/content")) {
      return pve::Response{200, "OK", R"({"data":[]})", "bench"};
    }
    if (r.path.ends_with("/tasks")) return pve::Response{200, "OK", R"({"data":[]})", "bench"};
    return pve::Response{404, "Not Found", R"({"data":null})", "bench"};
  }

 private:
  const SyntheticCluster& c_;
};

config::Config reference_config() {
  config::Config cfg;
  cfg.guests = {{"tunnel1", "pve1", 110, config::GuestType::qemu, 1},
                {"tunnel2", "pve2", 210, config::GuestType::lxc, 1}};
  return cfg;
}

void BM_ParseResources(benchmark::State& state) {
  const std::string body = vm_resources_body(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto j = pve::Json::parse(body);
    auto vms = pve::parse_vm_resources(j["data"]);
    benchmark::DoNotOptimize(vms);
  }
  state.SetComplexityN(state.range(0));
}

void BM_Check(benchmark::State& state) {
  const auto cluster = make_cluster(static_cast<int>(state.range(0)));
  const auto cfg = reference_config();
  int calls = 0;
  for (auto _ : state) {
    SyntheticTransport transport(cluster);
    FakeClock clock;
    pve::Client client(transport, clock);
    auto observed = check::collect(cfg, client, clock, check::CollectOptions{});
    auto report = check::evaluate(cfg, observed);
    benchmark::DoNotOptimize(report);
    calls = client.requests_made();
  }
  state.counters["api_calls"] = calls;
  state.SetComplexityN(state.range(0));
}

BENCHMARK(BM_ParseResources)
    ->RangeMultiplier(10)
    ->Range(10, 100000)
    ->Unit(benchmark::kMillisecond)
    ->Complexity();
BENCHMARK(BM_Check)
    ->RangeMultiplier(10)
    ->Range(10, 100000)
    ->Unit(benchmark::kMillisecond)
    ->Complexity();

}  // namespace
}  // namespace pvt::bench

BENCHMARK_MAIN();
