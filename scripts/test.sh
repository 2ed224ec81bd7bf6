#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, checks formatting, runs the unit and
# integration tests, then the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# and short benchmark smoke runs (check, the controller's cycle, and the tunnel worker against
# autossh + OpenSSH). Debian 12 is the native build; then, in a Debian 13 root
# (scripts/debian13-root.sh, made in the install step under /var/cache/pvectl-tunnel/roots and
# reused), the build with g++ 14 and -Werror, the unit tests and the tunnel worker's integration
# tests against Debian 13's OpenSSH, and each release's worker against the other's sshd. Then
# the .deb packages of both releases (scripts/build-debs.sh), each installed with apt into a
# clean root of its release and purged again (scripts/package-test.sh). The tunnel benchmark's
# smoke run goes in both too (in the root: OpenSSH 10.0 and nginx 1.26).
#
# Environment: PVT_SKIP_TRIXIE=1 skips everything of Debian 13 (its roots neither made nor used);
# PVT_ROOT_CACHE puts the roots elsewhere than /var/cache/pvectl-tunnel/roots.
#
# Budget: the whole of .ci/run within 45 min on 2 cores with the roots prepared (a first run also
# makes them: about 4 min more, and fills ccache). Each stage logs its budget and how long it
# took. Measured 2026-12-07 on a fresh clone, 2 cores: 22 min in all, of which native 6 min, ASan
# 9.5 min (its ccache cold; about 3 min warm), Debian 13 root 2 min, interoperability 2 min,
# packages 1 min, benchmark smoke runs 1.5 min (3 min with the root's).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/debian13-root.sh"
source "$(dirname "$0")/package-test.sh"
cd "$PVT_ROOT"

# pvt_stage NAME BUDGET_MINUTES: ends the previous stage (its time against its budget), starts one.
pvt_stage_name="" pvt_stage_budget=0 pvt_stage_start=0
pvt_stage() {
  if [ -n "$pvt_stage_name" ]; then
    local took=$((SECONDS - pvt_stage_start)) over=""
    [ "$took" -le $((pvt_stage_budget * 60)) ] || over=" OVER BUDGET"
    pvt_log "stage '$pvt_stage_name' took ${took} s (budget ${pvt_stage_budget} min)$over"
  fi
  pvt_stage_name="$1" pvt_stage_budget="${2:-0}" pvt_stage_start=$SECONDS
  [ -z "$pvt_stage_name" ] || pvt_log "stage '$pvt_stage_name' (budget ${pvt_stage_budget} min)"
}

pvt_stage install 5
pvt_ensure_packages "${PVT_PACKAGES[@]}" "${PVT_TEST_PACKAGES[@]}"
# The Debian 13 build root (about 3 min, 0.8 GB) and the clean roots the packages are installed
# into (about 30 s and 0.2 GB each, with the packages' dependencies downloaded into them): made
# here, the only step that downloads, and reused afterwards.
# The native packages are installed into a clean root of this machine's own release (Debian 12
# here; on another release than 12 or 13 that test is skipped, saying so).
native_suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
if pvt_clean_root_depends "$native_suite" >/dev/null 2>&1; then
  pvt_clean_root "$native_suite"
else
  pvt_log "no clean root for '$native_suite' (Debian 12 and 13 only): its package install test is skipped"
  native_suite=""
fi
if [ "${PVT_SKIP_TRIXIE:-}" != 1 ]; then
  pvt_trixie_root
  pvt_clean_root trixie
fi

pvt_stage format 1
pvt_log "checking formatting (.clang-format)"
mapfile -t sources < <(git ls-files '*.cpp' '*.h' 2>/dev/null || find . -path ./build -prune -o \( -name '*.cpp' -o -name '*.h' \) -print)
clang-format --dry-run --Werror "${sources[@]}"

pvt_stage "native build + unit + integration tests" 15
# -g1 (functions and line tables; no variables) keeps backtraces, sanitizer reports and perf
# readable and takes a quarter off the compile time of -g.
# -Werror here only: the project's CI holds its own code to no warnings; users' builds do not fail
# on a new compiler's warning.
pvt_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" -DPVT_WERROR=ON
pvt_log "unit + integration tests"
(cd build && ctest --output-on-failure --no-tests=error --parallel "$(nproc)" --timeout 600)

pvt_stage "ASan + UBSan build + unit tests" 10
# Unit tests only: no benchmarks, no integration tests, and the worker binary from the ordinary
# modules (its slim variants would compile the same sources a second time).
pvt_build build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DPVT_SANITIZE=ON -DPVT_WERROR=ON \
  -DPVT_BUILD_BENCH=OFF -DPVT_BUILD_INTEGRATION_TESTS=OFF -DPVT_SLIM_WORKER=OFF
pvt_log "unit tests under ASan + UBSan"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --no-tests=error --parallel "$(nproc)" -L unit --timeout 600)

if [ "${PVT_SKIP_TRIXIE:-}" = 1 ]; then
  pvt_log "Debian 13 root skipped (PVT_SKIP_TRIXIE=1)"
else
  # Root prepared, ccache warm (a fresh clone: every object a ccache hit): about 1.5 min; from an
  # empty ccache about 13 min on 2 cores.
  pvt_stage "Debian 13 root: g++ 14 build, unit tests, worker integration tests" 5
  pvt_trixie_test
  pvt_stage "interoperability: each release's worker against the other's sshd" 4
  pvt_interop_test build
fi

pvt_stage "packages: build, lintian, apt install into clean Debian roots" 5
scripts/build-debs.sh build
[ -z "$native_suite" ] || pvt_package_install_test "$native_suite" build/debs
if [ "${PVT_SKIP_TRIXIE:-}" != 1 ]; then
  pvt_trixie_debs
  pvt_package_install_test trixie "$PVT_TRIXIE_DEBS"
fi

pvt_stage "benchmark smoke runs" 6
pvt_log "benchmark smoke run"
./build/bench/check_bench --benchmark_min_time=0.01 --benchmark_filter='/1000$' >/dev/null
# Exits 1 when the cycle's API calls grow with the cluster or a start takes more than one cycle.
./build/bench/controller_bench --benchmark_min_time=0.01 --benchmark_filter='/(100|1000)$|StartLatency' >/dev/null
# The tunnel benchmark must run end to end; a scenario that misses a figure on a loaded CI machine
# is reported in the JSON, not a test failure (the figures are bench/README.md's business).
# pvt_tunnel_bench_verdict EXIT_CODE LOG JSON
pvt_tunnel_bench_verdict() {
  if [ "$1" -eq 2 ] || [ "$1" -gt 3 ]; then
    cat "$2" >&2
    pvt_log "tunnel benchmark could not run (exit $1)"
    exit 1
  fi
  [ "$1" -eq 0 ] || pvt_log "tunnel benchmark: a scenario failed (exit $1), see $3"
}
pvt_log "tunnel benchmark smoke run (worker vs autossh + OpenSSH, --quick)"
rc=0
bench/tunnel/run.sh --quick --impls worker,classic --output build/tunnel-bench-quick.json >/dev/null 2>build/tunnel-bench-quick.log || rc=$?
pvt_tunnel_bench_verdict "$rc" build/tunnel-bench-quick.log build/tunnel-bench-quick.json
if [ "${PVT_SKIP_TRIXIE:-}" != 1 ]; then
  pvt_log "tunnel benchmark smoke run in the Debian 13 root (OpenSSH 10.0, nginx 1.26)"
  rc=0
  pvt_trixie_bench_smoke || rc=$?
  pvt_tunnel_bench_verdict "$rc" "$PVT_TRIXIE_ROOT/build/tunnel-bench-quick.log" \
    "$PVT_TRIXIE_ROOT/build/tunnel-bench-quick.json"
fi
pvt_stage ""
pvt_log "all tests passed"
