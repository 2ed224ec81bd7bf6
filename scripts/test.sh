#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, checks formatting, runs the unit and
# integration tests, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and short benchmark smoke runs (check, the controller's cycle, and the tunnel worker against
# autossh + OpenSSH).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$PVT_ROOT"

pvt_ensure_packages "${PVT_PACKAGES[@]}" "${PVT_TEST_PACKAGES[@]}"

pvt_log "checking formatting (.clang-format)"
mapfile -t sources < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
clang-format --dry-run --Werror "${sources[@]}"

# -g1 (functions and line tables; no variables) keeps backtraces, sanitizer reports and perf
# readable and takes a quarter off the compile time of -g.
# -Werror here only: the project's CI holds its own code to no warnings; users' builds do not fail
# on a new compiler's warning.
pvt_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DPVT_WERROR=ON
pvt_log "unit + integration tests"
(cd build && ctest --output-on-failure --parallel "$(nproc)" --timeout 600)

# Unit tests only: no benchmarks, no integration tests, and the worker binary from the ordinary
# modules (its slim variants would compile the same sources a second time).
pvt_build build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DPVT_SANITIZE=ON -DPVT_WERROR=ON \
  -DPVT_BUILD_BENCH=OFF -DPVT_BUILD_INTEGRATION_TESTS=OFF -DPVT_SLIM_WORKER=OFF
pvt_log "unit tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --parallel "$(nproc)" -L unit --timeout 600)

pvt_log "benchmark smoke run"
./build/bench/check_bench --benchmark_min_time=0.01 --benchmark_filter='/1000$' >/dev/null
# Exits 1 when the cycle's API calls grow with the cluster or a start takes more than one cycle.
./build/bench/controller_bench --benchmark_min_time=0.01 --benchmark_filter='/(100|1000)$|StartLatency' >/dev/null
pvt_log "tunnel benchmark smoke run (worker vs autossh + OpenSSH, --quick)"
# The harness must run end to end; a scenario that misses a figure on a loaded CI machine is
# reported in the JSON, not a test failure (the figures are bench/README.md's business).
rc=0
bench/tunnel/run.sh --quick --output build/tunnel-bench-quick.json >/dev/null 2>build/tunnel-bench-quick.log || rc=$?
if [ "$rc" -eq 2 ] || [ "$rc" -gt 3 ]; then
  cat build/tunnel-bench-quick.log >&2
  pvt_log "tunnel benchmark could not run (exit $rc)"
  exit 1
fi
[ "$rc" -eq 0 ] || pvt_log "tunnel benchmark: a scenario failed (exit $rc), see build/tunnel-bench-quick.json"
pvt_log "all tests passed"
