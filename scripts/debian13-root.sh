#!/usr/bin/env bash
# A Debian 13 ("trixie") root for the test suite: the build with g++ 14 (-Werror), the unit tests
# and the tunnel worker's integration tests against Debian 13's own OpenSSH sshd, on a Debian 12
# host.
#
#   scripts/debian13-root.sh prepare   # create the root (or reuse it); prints its path
#   scripts/debian13-root.sh test      # prepare, then build and test in it
#   scripts/debian13-root.sh debs      # the Debian 13 .deb packages, from the root's build tree
#   scripts/debian13-root.sh interop   # the worker of each release against the other's sshd
#   scripts/debian13-root.sh shell     # an interactive shell in it (source at /src, build at /build)
#
# scripts/test.sh sources this file and calls pvt_trixie_root (install step), pvt_trixie_test,
# pvt_interop_test and pvt_trixie_debs.
#
# The root is made with mmdebstrap from Debian's archive under PVT_ROOT_CACHE (default
# /var/cache/pvectl-tunnel/roots), outside the work tree, as trixie-<hash>: the hash covers the
# package list, the suite, the mirror and PVT_TRIXIE_ROOT_VERSION, so a changed list makes a new
# root and the old one is removed. It is built in a temporary directory and renamed into place,
# so a root that exists is complete. The build directory lives in the root (<root>/build, reused
# by ninja between runs, removed with the root); ccache's directory beside the roots
# (ccache-trixie), kept across roots.
#
# The stage runs in new mount, PID and network namespaces (unshare): the mounts (/src read-only,
# /proc, /dev, /tmp as tmpfs, the ccache directory) disappear with the namespace whatever way the
# stage ends, every process started in it (sshd included) is killed when it ends, and the network
# has only loopback: the tests reach nothing else. systemd-nspawn is not used: it needs systemd as
# PID 1, which these machines do not have.

# Sourced from scripts/test.sh, or run.
if [ -z "${PVT_ROOT:-}" ]; then
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi

# Bump to rebuild the roots when the way they are made changes (not the package list: that is
# hashed itself).
PVT_TRIXIE_ROOT_VERSION=1
PVT_TRIXIE_SUITE=trixie
PVT_TRIXIE_MIRROR="${PVT_TRIXIE_MIRROR:-http://deb.debian.org/debian}"

# Debian 13 equivalents of PVT_PACKAGES (without clang-format: the formatting is checked on the
# host; without libbenchmark-dev: no Google Benchmark programs in the root), systemd-dev for
# systemd.pc (in Debian 12 part of systemd), the real peers of the worker's tests, what
# scripts/build-debs.sh needs for the Debian 13 packages (dpkg-dev, help2man, lintian), and what
# the tunnel benchmark (bench/tunnel/run.sh) needs besides.
PVT_TRIXIE_PACKAGES=(
  build-essential cmake ninja-build pkg-config ca-certificates openssl ccache
  libcurl4-openssl-dev nlohmann-json3-dev libssh2-1-dev libcpp-httplib-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev libtomlplusplus-dev
  libsystemd-dev systemd-dev libexpected-dev libhowardhinnant-date-dev libssl-dev tzdata
  openssh-server openssh-client nginx iproute2
  dpkg-dev help2man lintian
  autossh wrk nftables curl python3
)

# mmdebstrap's hook that gives a root localhost on loopback in /etc/hosts (mmdebstrap copies the
# host's resolv.conf and hostname, not hosts).
PVT_ROOT_HOSTS_HOOK='printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"'

pvt_trixie_cache() { printf '%s\n' "${PVT_ROOT_CACHE:-/var/cache/pvectl-tunnel/roots}"; }

# pvt_cached_root NAME CREATE [ARGS...] -- KEY...: the root PVT_ROOT_CACHE/NAME-<hash of KEY...>,
# made by `CREATE ARGS... TARGET` unless it exists; other NAME-* roots (other keys, and temporary
# ones left by a killed run) are removed. CREATE makes TARGET (a path that does not exist yet);
# it is renamed into place when CREATE succeeds, so a root that exists is complete. One
# preparation at a time (two work trees' test runs on one machine). Sets PVT_CACHED_ROOT.
pvt_cached_root() {
  local name="$1" create=() keys=() cache root
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do create+=("$1"); shift; done
  shift
  keys=("$@")
  cache="$(pvt_trixie_cache)"
  root="$cache/$name-$(printf '%s\n' "${keys[@]}" | sort | sha256sum | cut -c1-16)"
  PVT_CACHED_ROOT="$root"
  mkdir -p "$cache"
  (
    flock 9
    if [ -d "$root" ]; then
      pvt_log "root $name: reusing $root"
    else
      pvt_ensure_packages mmdebstrap
      local tmp start=$SECONDS
      tmp="$(mktemp -d "$cache/.tmp-$name.XXXXXX")"
      trap 'rm -rf --one-file-system "$tmp"' EXIT
      rmdir "$tmp"  # mmdebstrap wants to create it (or find it empty)
      pvt_log "root $name: creating $root"
      # Explicit exits: a caller's `||` or `&&` turns set -e off in here.
      "${create[@]}" "$tmp" || exit 1
      mv -T "$tmp" "$root" || exit 1
      trap - EXIT
      pvt_log "root $name: created in $((SECONDS - start)) s, $(du -sh --one-file-system "$root" | cut -f1)"
    fi
    local old
    for old in "$cache/$name"-* "$cache/.tmp-$name".*; do
      [ -d "$old" ] && [ "$old" != "$root" ] || continue
      if findmnt -rn -o TARGET | grep -q "^$old/"; then
        pvt_log "root $name: $old has mounts, left in place"
        continue
      fi
      pvt_log "root $name: removing $old"
      rm -rf --one-file-system "$old"
    done
  ) 9>"$cache/.lock"
}

# Creates the build root unless it exists. Sets PVT_TRIXIE_ROOT.
pvt_trixie_root() {
  pvt_cached_root "$PVT_TRIXIE_SUITE" pvt_trixie_root_create -- \
    "version=$PVT_TRIXIE_ROOT_VERSION" "suite=$PVT_TRIXIE_SUITE" "mirror=$PVT_TRIXIE_MIRROR" \
    "${PVT_TRIXIE_PACKAGES[@]}"
  PVT_TRIXIE_ROOT="$PVT_CACHED_ROOT"
}

pvt_trixie_root_create() {
  local packages
  packages="$(IFS=,; echo "${PVT_TRIXIE_PACKAGES[*]}")"
  # --variant=apt: Essential + apt, then the list; no Recommends. mmdebstrap keeps the
  # packages' services from starting while it installs (the root shares the host's network).
  mmdebstrap --quiet --mode=root --variant=apt --include="$packages" \
    --customize-hook="$PVT_ROOT_HOSTS_HOOK" \
    --customize-hook='mkdir -p "$1/src" "$1/build" "$1/ccache"' \
    "$PVT_TRIXIE_SUITE" "$1" "$PVT_TRIXIE_MIRROR" </dev/null >&2
}

# pvt_trixie_run COMMAND: runs a bash command in the root (as root, cwd /build), in its own
# mount, PID and network namespaces. Standard input is passed on (for `shell`).
# PVT_TRIXIE_WITH_HOST=1: the host's root file system (without its mounts) is at /run/pvt-host
# in there too, with the same /tmp, and its own /proc, /dev and /run, so that the host's programs
# can run with `chroot /run/pvt-host` beside the root's (the interoperability runs).
pvt_trixie_run() {
  local root="${PVT_TRIXIE_ROOT:?pvt_trixie_root first}" cache
  cache="$(pvt_trixie_cache)"
  mkdir -p "$cache/ccache-$PVT_TRIXIE_SUITE"
  # --fork + --pid: the shell below is PID 1 of the namespace, so everything started in it dies
  # with it; --kill-child: and it dies with unshare. The mount namespace is private: nothing
  # mounted here shows on the host or outlives the stage.
  unshare --mount --pid --net --fork --kill-child --propagation private -- \
    bash -euc '
      root="$1" src="$2" ccache="$3" cmd="$4" with_host="$5"
      ip link set lo up
      # The root a mount point of its own, as / is: a test that makes its / private in a mount
      # namespace of its own (the CA directory test of CurlTransport) needs that.
      mount --bind "$root" "$root"
      mount --bind "$src" "$root/src"
      mount -o remount,bind,ro "$root/src"
      mount --bind "$ccache" "$root/ccache"
      pvt_mount_system_dirs "$root"
      if [ "$with_host" = 1 ]; then
        host="$root/run/pvt-host"
        mkdir "$host"
        mount --bind / "$host"
        pvt_mount_system_dirs "$host"
        mount --bind "$root/tmp" "$host/tmp"
      fi
      exec chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 TERM="${TERM:-dumb}" CCACHE_DIR=/ccache CCACHE_MAXSIZE=5G PVT_PACKAGES_READY=1 \
        /bin/bash -euo pipefail -c "cd /build && $cmd"
    ' pvt-trixie "$root" "$PVT_ROOT" "$cache/ccache-$PVT_TRIXIE_SUITE" "$1" "${PVT_TRIXIE_WITH_HOST:-0}"
}

# Builds and tests in the root: g++ 14 with -Werror, the unit tests, the tunnel worker's
# integration tests against the root's sshd.
pvt_trixie_test() {
  pvt_trixie_root
  local jobs
  jobs="$(nproc)"
  # The unit test binaries, from the directories as tests/CMakeLists.txt makes them.
  local targets=(pvectl-tunnel-worker pvesim integration_tunnel unit_aes_ctr_no_engine
    unit_aes_ctr_no_deprecated_3_0) d
  for d in "$PVT_ROOT"/tests/unit/*/; do
    compgen -G "$d*.cpp" >/dev/null && targets+=("unit_$(basename "$d")")
  done
  pvt_log "Debian 13 root: $(pvt_trixie_run 'printf "%s, %s, %s, %s" "$(g++ --version | head -1)" "$(cmake --version | head -1)" "$(sshd -V 2>&1 | head -1)" "$(nginx -v 2>&1)"')"
  pvt_log "Debian 13 root: building ${targets[*]}"
  pvt_trixie_run "
    if [ ! -f build.ninja ]; then
      cmake -S /src -B . -G Ninja -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo '-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG' \
        -DPVT_WERROR=ON -DPVT_BUILD_BENCH=OFF >/dev/null
    fi
    ccache -z >/dev/null
    cmake --build . --parallel $jobs --target ${targets[*]}
    ccache -s | grep -Ei '^ *(hits|misses)|cache hit' || true
  "
  pvt_log "Debian 13 root: unit tests"
  pvt_trixie_run "ctest --output-on-failure --no-tests=error --parallel $jobs -L unit --timeout 600"
  pvt_log "Debian 13 root: tunnel worker integration tests (OpenSSH sshd of Debian 13)"
  local suites
  suites="$(pvt_trixie_run 'tests/integration_tunnel --gtest_list_tests' | pvt_ctest_regex_of_suites)"
  pvt_trixie_run "ctest --output-on-failure --no-tests=error --parallel $jobs -L integration -R '$suites' --timeout 600"
}

# The ctest regular expression that selects the tests of a gtest binary, given its
# --gtest_list_tests on standard input (gtest_discover_tests names the tests Suite.Test).
pvt_ctest_regex_of_suites() { printf '^(%s)\\.' "$(grep -v '^ ' | tr -d . | paste -sd '|')"; }

# The tunnel benchmark's smoke run (bench/tunnel/run.sh --quick) in the root: the Debian 13
# worker and autossh + ssh against OpenSSH 10.0's sshd, with nginx 1.26 as the VPS's and the
# guests' nginx. Results in <root>/build/tunnel-bench-quick.{json,log}; returns the harness's
# exit code.
pvt_trixie_bench_smoke() {
  pvt_trixie_root
  pvt_trixie_run "PVT_WORKER=/build/pvectl-tunnel-worker /src/bench/tunnel/run.sh --quick \
    --impls worker,classic --output tunnel-bench-quick.json >/dev/null 2>tunnel-bench-quick.log"
}

# The Debian 13 packages, built with scripts/build-debs.sh from the root's build tree (after
# pvt_trixie_test) into <root>/build/debs. Sets PVT_TRIXIE_DEBS.
pvt_trixie_debs() {
  pvt_trixie_root
  pvt_log "Debian 13 root: packages (scripts/build-debs.sh)"
  pvt_trixie_run "/src/scripts/build-debs.sh /build"
  PVT_TRIXIE_DEBS="$PVT_TRIXIE_ROOT/build/debs"
}

# The interoperability matrix's crossed pairs: the tunnel worker's integration tests of the
# Debian 12 build (HOST_BUILD, default build/) against Debian 13's sshd (OpenSSH 10.0), and those
# of the Debian 13 build (the root's, after pvt_trixie_test) against Debian 12's (OpenSSH 9.2).
# The straight pairs are the native and the root's own integration runs. Each run starts the other
# release's sshd through a wrapper (PVT_TEST_SSHD, tests/support/ssh_server.h) that runs it with
# chroot in that release's root; both see one /tmp and one loopback.
pvt_interop_test() {
  local build="${1:-$PVT_ROOT/build}" jobs suites
  pvt_trixie_root
  jobs="$(nproc)"
  suites="$("$build/tests/integration_tunnel" --gtest_list_tests | pvt_ctest_regex_of_suites)"
  pvt_log "interoperability: the Debian 12 worker against the sshd of Debian 13"
  unshare --mount --pid --net --fork --kill-child --propagation private -- \
    bash -euo pipefail -c '
      root="$1" build="$2" suites="$3" jobs="$4"
      ip link set lo up
      mount -t proc proc /proc  # the tests read /proc/PID of what they start: this PID namespace
      pvt_mount_system_dirs "$root"
      mount --bind /tmp "$root/tmp"
      printf "#!/bin/sh\nexec chroot %s /usr/sbin/sshd \"\$@\"\n" "$root" >"$root/run/pvt-sshd"
      chmod 755 "$root/run/pvt-sshd"
      mkdir "$root/run/sshd"
      export PVT_TEST_SSHD="$root/run/pvt-sshd"
      printf "==> test sshd: %s\n" "$("$PVT_TEST_SSHD" -V 2>&1 | head -1)" >&2
      cd "$build" && ctest --output-on-failure --no-tests=error --parallel "$jobs" -L integration -R "$suites" --timeout 600
    ' pvt-interop "$PVT_TRIXIE_ROOT" "$build" "$suites" "$jobs"
  pvt_log "interoperability: the Debian 13 worker against the sshd of Debian 12"
  PVT_TRIXIE_WITH_HOST=1 pvt_trixie_run "
    printf '#!/bin/sh\nexec chroot /run/pvt-host /usr/sbin/sshd \"\$@\"\n' >/run/pvt-sshd
    chmod 755 /run/pvt-sshd
    mkdir /run/pvt-host/run/sshd
    export PVT_TEST_SSHD=/run/pvt-sshd
    printf '==> test sshd: %s\n' \"\$(/run/pvt-sshd -V 2>&1 | head -1)\" >&2
    ctest --output-on-failure --no-tests=error --parallel $jobs -L integration -R '$suites' --timeout 600
  "
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-test}" in
    # One command a line: in `a && b` set -e does not apply inside a.
    prepare)
      pvt_trixie_root
      echo "$PVT_TRIXIE_ROOT"
      ;;
    test) pvt_trixie_test ;;
    debs)
      pvt_trixie_debs
      echo "$PVT_TRIXIE_DEBS"
      ;;
    interop) pvt_interop_test "${2:-}" ;;
    shell)
      pvt_trixie_root
      pvt_trixie_run 'exec bash -i'
      ;;
    *) echo "usage: $0 [prepare|test|debs|interop [HOST_BUILD]|shell]" >&2; exit 2 ;;
  esac
fi
