// The controller's cycle (pvt::controller::Controller::run_cycle) against the in-process pvesim,
// on virtual time (the SimWorld of tests/support/sim_env.h):
//
// BM_ControllerCycle/N       a steady cycle (observe + plan, nothing to do) with N guests in the
//                            cluster, two of them the configured tunnel guests. The time includes
//                            pvesim serving the requests (building and serialising its JSON
//                            answers; /cluster/resources grows with N) and the controller parsing
//                            them. Counters: api_calls, the requests of one cycle, which must
//                            equal api_calls_2_guests, the count for a cluster of only the two
//                            tunnel guests (the benchmark fails otherwise); cpu_ms split into
//                            pvesim_cpu_ms and controller_cpu_ms (parse + model + plan);
//                            ratio_to_n_div_10 / cpu_ratio_to_n_div_10, the time against a tenth
//                            of the guests when that size ran before in the same process.
// BM_ControllerFirstCycle/N  a controller's first cycle, which also reads the backup state
//                            (backup jobs, storages, backup lists, node times).
// BM_StartLatency/T          T trials: enforce = ["start"], interval_s 10, the tunnel guest 210
//                            is stopped in the simulator at a random instant; how many cycles and
//                            virtual seconds until the controller sends POST .../status/start.
//                            Counters start_latency_cycles_max (target 1) and
//                            start_latency_s_max (target <= interval_s).
//
// Output: Google Benchmark's; --benchmark_format=json for machine-readable results. Exit 1 when
// a benchmark failed what it asserts (api_calls constant, start within one cycle).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

#include "controller/loop/controller.h"
#include "tests/support/scenario_files.h"
#include "tests/support/sim_env.h"
#include "tools/pvesim/topology.h"

namespace pvt::bench {
namespace {

using testing::FakeWorker;
using testing::SimEnv;
using testing::SimWorld;
using namespace std::chrono_literals;

// A fixed start, so that every run simulates the same instants.
const auto kStart = testing::kScenarioStart;
constexpr int kNodes = 8;
constexpr int kInterval = 10;  // interval_s of the reference scenario's config
const std::string kStartPost = "POST /nodes/pve2/lxc/210/status/start";

// The topology of a cluster of `guests` guests over 8 nodes, in pvesim's format
// (docs/pvesim.md): the tunnel guests 110 (qemu, pve1) and 210 (lxc, pve2) with their backup job
// and fresh backups on PBS, and guests-2 other guests (VMIDs from 1000, every 7th stopped, every
// 50th a template, every 97th locked by a backup).
std::string topology_text(int guests) {
  std::string t = R"(version = "8.2.4"

[cluster]
name = "bench"
qdevice = false
)";
  for (int n = 1; n <= kNodes; ++n) {
    t += fmt::format("\n[[node]]\nname = \"pve{}\"\nip = \"192.0.2.{}\"\ntimezone = \"UTC\"\n", n,
                     n);
  }
  t += R"(
[[storage]]
id = "pbs1"
type = "pbs"
content = "backup"
shared = true

[[guest]]
vmid = 110
type = "qemu"
node = "pve1"
name = "tunnel1"
status = "running"
[guest.config]
onboot = 1
startup = "order=1"

[[guest]]
vmid = 210
type = "lxc"
node = "pve2"
name = "tunnel2"
status = "running"
[guest.config]
onboot = 1
startup = "order=2"
hostname = "tunnel2"
)";
  for (int i = 0; i < guests - 2; ++i) {
    const int vmid = 1000 + i;
    const bool lxc = i % 2 == 1;
    t += fmt::format(
        "\n[[guest]]\nvmid = {}\ntype = \"{}\"\nnode = \"pve{}\"\nname = \"{}{}\"\n"
        "status = \"{}\"\n",
        vmid, lxc ? "lxc" : "qemu", i % kNodes + 1, lxc ? "ct" : "vm", vmid,
        i % 7 == 0 ? "stopped" : "running");
    if (i % 50 == 0) t += "template = true\n";
    if (i % 97 == 0) t += "lock = \"backup\"\n";
  }
  t += R"(
[[job]]
id = "backup-tunnels"
schedule = "01:00"
vmid = "110,210"
storage = "pbs1"
mode = "snapshot"

[[backup]]
storage = "pbs1"
vmid = 110
age_h = 10

[[backup]]
storage = "pbs1"
vmid = 210
age_h = 10

[[token]]
id = "pvectl@pve!tunnel"
secret = "8d4b3c1e-2f6a-4b7d-9e0c-5a1f2b3c4d5e"
[token.acl]
"/" = ["Sys.Audit", "Sys.Modify", "VM.Audit", "VM.PowerMgmt", "VM.Config.Options", "VM.Backup", "Datastore.Audit", "Datastore.AllocateSpace", "Pool.Audit"]

[timing]
start_delay_ms = 3000
vzdump_duration_ms = 120000
)";
  return t;
}

// Parsed once per size and copied into each world.
const sim::Topology& topology(int guests) {
  static std::map<int, sim::Topology> cache;
  auto it = cache.find(guests);
  if (it != cache.end()) return it->second;
  auto t = testing::topology_from(topology_text(guests), "bench-topology.toml", kStart);
  return cache.emplace(guests, std::move(t)).first->second;
}

// The reference scenario's controller config (tests/scenarios/guest-stopped-is-started) with
// `enforce`.
config::Config controller_config(std::vector<std::string> enforce) {
  auto cfg = testing::scenario_config(testing::kReferenceScenario);
  cfg.controller.enforce = std::move(enforce);
  return cfg;
}

const std::vector<std::string> kEnforceAll = {"start", "onboot", "startup", "backup", "reconnect"};

// Set when a benchmark missed what it asserts; the program then exits 1 (Google Benchmark itself
// exits 0 after an error), so scripts/test.sh's smoke run catches it.
bool g_failed = false;

void fail_benchmark(benchmark::State& state, const std::string& why) {
  g_failed = true;
  state.SkipWithError(why.c_str());
}

// Thread CPU time: the machine is shared, so the split below is taken on CPU time, which other
// processes do not inflate.
double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The simulator's transport, timed: how much of a cycle is pvesim serving the requests (routing,
// privilege checks, building and serialising the JSON answer), which a real cluster does on its
// own CPUs. The rest of the cycle is the controller's: parsing the answers, the model, planning.
class TimedTransport final : public pve::Transport {
 public:
  explicit TimedTransport(testing::SimTransport& inner) : inner_(inner) {}
  Result<pve::Response, pve::ApiError> perform(const pve::Request& r) override {
    const double t0 = thread_cpu_s();
    auto res = inner_.perform(r);
    answer_cpu_s += thread_cpu_s() - t0;
    return res;
  }
  double answer_cpu_s = 0;

 private:
  testing::SimTransport& inner_;
};

// One simulated world with one controller (the leader), as in scenario_test.cpp.
struct Rig {
  Rig(int guests, std::vector<std::string> enforce)
      : cfg(controller_config(std::move(enforce))), world(topology(guests), kStart) {
    for (const auto& t : cfg.tunnels) {
      world.workers.emplace(t.name, std::make_unique<FakeWorker>(t.name));
    }
    // The timed transport between the client and pvesim.
    env =
        std::make_unique<testing::SimEnv>(world, "c1", std::chrono::seconds(cfg.controller.lease_s),
                                          [this](testing::SimTransport& sim) -> pve::Transport& {
                                            timed = std::make_unique<TimedTransport>(sim);
                                            return *timed;
                                          });
    controller = std::make_unique<controller::Controller>(
        cfg, *env, controller::ControllerOptions{false, "c1", 50});
  }

  // Virtual time: `t` seconds after kStart (never back).
  void advance_to(int t) {
    world.clock.advance(std::chrono::duration_cast<Clock::duration>(
        kStart + std::chrono::seconds(t) - world.clock.now()));
  }

  // One cycle; returns how many API requests it made.
  size_t cycle() {
    const size_t before = env->transport().log().size();
    last_lines = controller->run_cycle();
    return env->transport().log().size() - before;
  }

  config::Config cfg;
  SimWorld world;
  std::unique_ptr<TimedTransport> timed;  // declared before env, which uses it
  std::unique_ptr<testing::SimEnv> env;
  std::unique_ptr<controller::Controller> controller;
  std::vector<std::string> last_lines;
};

// The requests of a steady cycle in a cluster of only the two tunnel guests: what every size
// must match.
size_t reference_steady_calls() {
  static const size_t calls = [] {
    Rig r(2, kEnforceAll);
    r.cycle();
    return r.cycle();
  }();
  return calls;
}

// Mean steady-cycle time (real, CPU) per size measured in this process, for the growth ratio.
std::map<int, std::pair<double, double>>& measured_ms() {
  static std::map<int, std::pair<double, double>> m;
  return m;
}

void BM_ControllerCycle(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Rig rig(n, kEnforceAll);
  const size_t first_calls = rig.cycle();  // leader lease, backup state, workers: not measured
  size_t calls = 0;
  bool quiet = true;
  double total_s = 0;
  double cpu_s = 0;
  const double answer_before = rig.timed->answer_cpu_s;
  // The cycles run at one virtual instant: nothing becomes due (a backup, the next read of the
  // backup state every backup_check_interval_s), so every measured cycle is the same steady one.
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const double c0 = thread_cpu_s();
    calls = rig.cycle();
    cpu_s += thread_cpu_s() - c0;
    total_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    quiet = quiet && rig.last_lines.empty();
  }
  const size_t reference = reference_steady_calls();
  if (calls != reference) {
    fail_benchmark(state, fmt::format("api_calls {} at {} guests != {} with only the two tunnel "
                                      "guests: the cycle's requests grow with the cluster",
                                      calls, n, reference));
    return;
  }
  if (!quiet) {
    fail_benchmark(state, "a steady cycle logged or did something; the benchmark setup is wrong");
    return;
  }
  const double cycles = static_cast<double>(state.iterations());
  const double mean_ms = 1000 * total_s / cycles;
  const double sim_cpu_ms = 1000 * (rig.timed->answer_cpu_s - answer_before) / cycles;
  const double cpu_ms = 1000 * cpu_s / cycles;
  measured_ms()[n] = {mean_ms, cpu_ms};
  state.counters["guests"] = n;
  state.counters["api_calls"] = static_cast<double>(calls);
  state.counters["api_calls_2_guests"] = static_cast<double>(reference);
  state.counters["api_calls_first_cycle"] = static_cast<double>(first_calls);
  state.counters["us_per_guest"] = 1000 * mean_ms / n;
  // CPU per cycle, split: pvesim answering vs the controller (parse + model + plan).
  state.counters["cpu_ms"] = cpu_ms;
  state.counters["pvesim_cpu_ms"] = sim_cpu_ms;
  state.counters["controller_cpu_ms"] = cpu_ms - sim_cpu_ms;
  // Linear growth: a tenth of the guests, measured earlier in this run, took a tenth of the time.
  if (auto it = measured_ms().find(n / 10); n % 10 == 0 && it != measured_ms().end()) {
    state.counters["ratio_to_n_div_10"] = mean_ms / it->second.first;
    state.counters["cpu_ratio_to_n_div_10"] = cpu_ms / it->second.second;
  }
  state.SetComplexityN(n);
}

void BM_ControllerFirstCycle(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Rig rig(n, kEnforceAll);
  size_t calls = 0;
  for (auto _ : state) {
    state.PauseTiming();
    rig.controller = std::make_unique<controller::Controller>(
        rig.cfg, *rig.env, controller::ControllerOptions{false, "c1", 50});
    state.ResumeTiming();
    calls = rig.cycle();
  }
  state.counters["guests"] = n;
  state.counters["api_calls"] = static_cast<double>(calls);
  state.SetComplexityN(n);
}

// Trials of "guest stopped in the simulator -> start issued". Each trial is a fresh world and
// controller (so that no start back-off from an earlier trial counts) of 100 guests, cycles at
// 0, 10, 20 s; then the stop lands at a random instant:
//  - even trials: a uniformly random offset in [0, interval_s) after the last cycle, between
//    two cycles;
//  - odd trials: during a cycle, just before a uniformly random one of its API requests (so the
//    cycle may or may not have read /cluster/resources yet).
// Cycles go on every interval_s until the POST; latency_cycles counts the cycles that started
// after the stop up to and including the one that sent the POST (0 when the cycle running at the
// stop sent it), latency_s the virtual time from the stop to that POST.
void BM_StartLatency(benchmark::State& state) {
  const int trials = static_cast<int>(state.range(0));
  std::mt19937 rng(20261125);
  int cycles_max = 0;
  double s_max = 0;
  double s_sum = 0;
  int issued_in_running_cycle = 0;
  for (auto _ : state) {
    for (int trial = 0; trial < trials; ++trial) {
      Rig rig(100, {"start"});
      int t = 0;  // virtual seconds since kStart of the last cycle
      size_t steady_calls = 0;
      for (; t <= 2 * kInterval; t += kInterval) {
        rig.advance_to(t);
        steady_calls = rig.cycle();
      }
      t -= kInterval;
      std::optional<Clock::time_point> stopped_at;
      auto stop = [&] {
        auto res = rig.world.simulator.admin("POST", "/_sim/guest/210", R"({"status":"stopped"})");
        if (res.status != 200) throw std::runtime_error("stop: " + res.body);
        stopped_at = rig.world.clock.now();
      };
      size_t seen = 0;  // requests of the cycle running at a mid-cycle stop
      if (trial % 2 == 1) {
        const size_t k = std::uniform_int_distribution<size_t>(0, steady_calls - 1)(rng);
        rig.env->transport().lose = [&, k](const std::string&) {
          if (!stopped_at && seen++ == k) stop();
          return testing::SimTransport::Loss::none;
        };
      } else {
        const auto offset = std::chrono::milliseconds(
            std::uniform_int_distribution<int>(0, kInterval * 1000 - 1)(rng));
        rig.world.clock.advance(offset);
        stop();
      }
      int cycles = 0;
      bool issued = false;
      for (int c = 0; c < 10 && !issued; ++c) {
        t += kInterval;
        rig.advance_to(t);
        const bool started_after_stop = stopped_at.has_value();
        const size_t from = rig.env->transport().log().size();
        rig.cycle();
        if (started_after_stop) ++cycles;
        const auto& log = rig.env->transport().log();
        issued = std::find(log.begin() + static_cast<std::ptrdiff_t>(from), log.end(),
                           kStartPost) != log.end();
      }
      rig.env->transport().lose = nullptr;
      if (!issued || !stopped_at) {
        fail_benchmark(state, fmt::format("trial {}: no start within 10 cycles", trial));
        return;
      }
      const double s =
          std::chrono::duration<double>(kStart + std::chrono::seconds(t) - *stopped_at).count();
      if (cycles == 0) ++issued_in_running_cycle;
      cycles_max = std::max(cycles_max, cycles);
      s_max = std::max(s_max, s);
      s_sum += s;
    }
  }
  state.counters["trials"] = trials;
  state.counters["interval_s"] = kInterval;
  state.counters["start_latency_cycles_max"] = cycles_max;
  state.counters["start_latency_s_max"] = s_max;
  state.counters["start_latency_s_mean"] = s_sum / trials;
  state.counters["issued_in_running_cycle"] = issued_in_running_cycle;
  if (cycles_max > 1 || s_max > kInterval) {
    fail_benchmark(state, fmt::format("start latency {} cycles / {:.3f} s: target is <= 1 cycle "
                                      "(<= {} s)",
                                      cycles_max, s_max, kInterval));
  }
}

// No ->Complexity() here: Debian 12's libbenchmark (1.7.1) crashes computing the fit over a run
// that failed (SkipWithError), and this one must be able to fail. ratio_to_n_div_10 and
// us_per_guest show the growth; BM_ControllerFirstCycle, the same reads plus the backup state,
// has the fit.
BENCHMARK(BM_ControllerCycle)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ControllerFirstCycle)
    ->Arg(100)
    ->Arg(1000)
    ->Arg(10000)
    ->Unit(benchmark::kMillisecond)
    ->Complexity(benchmark::oN);
BENCHMARK(BM_StartLatency)->Arg(50)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace pvt::bench

int main(int argc, char** argv) {
  // The controller logs its cycles through spdlog to stdout, where the JSON goes.
  spdlog::set_level(spdlog::level::off);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return pvt::bench::g_failed ? 1 : 0;
}
