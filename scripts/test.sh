#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, checks formatting, runs the unit and
# integration tests, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and a short benchmark smoke run.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$PVT_ROOT"

pvt_ensure_packages "${PVT_PACKAGES[@]}"

pvt_log "checking formatting (.clang-format)"
mapfile -t sources < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
clang-format --dry-run --Werror "${sources[@]}"

pvt_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo
pvt_log "unit + integration tests"
(cd build && ctest --output-on-failure --parallel "$(nproc)" --timeout 600)

pvt_build build-asan -DCMAKE_BUILD_TYPE=Debug -DPVT_SANITIZE=ON -DPVT_BUILD_BENCH=OFF \
  -DPVT_BUILD_INTEGRATION_TESTS=OFF
pvt_log "unit tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --parallel "$(nproc)" -L unit --timeout 600)

pvt_log "benchmark smoke run"
./build/bench/check_bench --benchmark_min_time=0.01 --benchmark_filter='/1000$' >/dev/null
pvt_log "all tests passed"
