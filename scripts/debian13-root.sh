#!/usr/bin/env bash
# A Debian 13 ("trixie") root for the test suite: the build with g++ 14 (-Werror), the unit tests
# and the tunnel worker's integration tests against Debian 13's own OpenSSH sshd, on a Debian 12
# host.
#
#   scripts/debian13-root.sh prepare   # create the root (or reuse it); prints its path
#   scripts/debian13-root.sh test      # prepare, then build and test in it
#   scripts/debian13-root.sh shell     # an interactive shell in it (source at /src, build at /build)
#
# scripts/test.sh sources this file and calls pvt_trixie_root (install step) and pvt_trixie_test.
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
# host; without libbenchmark-dev: no benchmarks in the root), systemd-dev for systemd.pc (in
# Debian 12 part of systemd), and the real peers of the worker's tests.
PVT_TRIXIE_PACKAGES=(
  build-essential cmake ninja-build pkg-config ca-certificates openssl ccache
  libcurl4-openssl-dev nlohmann-json3-dev libssh2-1-dev libcpp-httplib-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libcli11-dev libtomlplusplus-dev
  libsystemd-dev systemd-dev libexpected-dev libhowardhinnant-date-dev libssl-dev tzdata
  openssh-server openssh-client nginx iproute2
)

pvt_trixie_cache() { printf '%s\n' "${PVT_ROOT_CACHE:-/var/cache/pvectl-tunnel/roots}"; }

# The root's path for the current package list (whether it exists or not).
pvt_trixie_root_path() {
  local hash
  hash="$(printf '%s\n' "version=$PVT_TRIXIE_ROOT_VERSION" "suite=$PVT_TRIXIE_SUITE" \
    "mirror=$PVT_TRIXIE_MIRROR" "${PVT_TRIXIE_PACKAGES[@]}" | sort | sha256sum | cut -c1-16)"
  printf '%s/%s-%s\n' "$(pvt_trixie_cache)" "$PVT_TRIXIE_SUITE" "$hash"
}

# Creates the root unless it exists; removes roots of other hashes. Sets PVT_TRIXIE_ROOT.
pvt_trixie_root() {
  local cache root
  cache="$(pvt_trixie_cache)"
  root="$(pvt_trixie_root_path)"
  PVT_TRIXIE_ROOT="$root"
  mkdir -p "$cache"
  (
    # One preparation at a time (two work trees' test runs on one machine).
    flock 9
    if [ -x "$root/usr/bin/g++" ]; then
      pvt_log "Debian 13 root: reusing $root"
    else
      pvt_ensure_packages mmdebstrap
      local tmp start=$SECONDS
      tmp="$(mktemp -d "$cache/.tmp-$PVT_TRIXIE_SUITE.XXXXXX")"
      trap 'rm -rf --one-file-system "$tmp"' EXIT
      rmdir "$tmp"  # mmdebstrap wants to create it (or find it empty)
      pvt_log "Debian 13 root: creating $root (mmdebstrap, ${#PVT_TRIXIE_PACKAGES[@]} packages)"
      local packages
      packages="$(IFS=,; echo "${PVT_TRIXIE_PACKAGES[*]}")"
      # --variant=apt: Essential + apt, then the list; no Recommends. mmdebstrap keeps the
      # packages' services from starting while it installs (the root shares the host's network).
      # /etc/hosts: localhost on loopback (mmdebstrap copies the host's resolv.conf and hostname,
      # not hosts).
      mmdebstrap --quiet --mode=root --variant=apt --include="$packages" \
        --customize-hook='printf "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" >"$1/etc/hosts"' \
        --customize-hook='mkdir -p "$1/src" "$1/build" "$1/ccache"' \
        "$PVT_TRIXIE_SUITE" "$tmp" "$PVT_TRIXIE_MIRROR" </dev/null >&2
      mv -T "$tmp" "$root"
      trap - EXIT
      pvt_log "Debian 13 root: created in $((SECONDS - start)) s, $(du -sh --one-file-system "$root" | cut -f1)"
    fi
    # Roots of other package lists (and temporary ones left by a killed run) go.
    local old
    for old in "$cache/$PVT_TRIXIE_SUITE"-* "$cache/.tmp-$PVT_TRIXIE_SUITE".*; do
      [ -d "$old" ] && [ "$old" != "$root" ] || continue
      if findmnt -rn -o TARGET | grep -q "^$old/"; then
        pvt_log "Debian 13 root: $old has mounts, left in place"
        continue
      fi
      pvt_log "Debian 13 root: removing $old"
      rm -rf --one-file-system "$old"
    done
  ) 9>"$cache/.lock"
}

# pvt_trixie_run COMMAND: runs a bash command in the root (as root, cwd /build), in its own
# mount, PID and network namespaces. Standard input is passed on (for `shell`).
pvt_trixie_run() {
  local root="${PVT_TRIXIE_ROOT:?pvt_trixie_root first}" cache
  cache="$(pvt_trixie_cache)"
  mkdir -p "$cache/ccache-$PVT_TRIXIE_SUITE"
  # --fork + --pid: the shell below is PID 1 of the namespace, so everything started in it dies
  # with it; --kill-child: and it dies with unshare. The mount namespace is private: nothing
  # mounted here shows on the host or outlives the stage.
  unshare --mount --pid --net --fork --kill-child --propagation private -- \
    bash -euc '
      root="$1" src="$2" ccache="$3" cmd="$4"
      ip link set lo up
      # The root a mount point of its own, as / is: a test that makes its / private in a mount
      # namespace of its own (the CA directory test of CurlTransport) needs that.
      mount --bind "$root" "$root"
      mount --bind "$src" "$root/src"
      mount -o remount,bind,ro "$root/src"
      mount --bind "$ccache" "$root/ccache"
      mount -t proc proc "$root/proc"
      mount --rbind /dev "$root/dev"
      mount -t tmpfs -o mode=1777,size=4g tmpfs "$root/tmp"
      mount -t tmpfs -o mode=755 tmpfs "$root/run"
      exec chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
        LANG=C.UTF-8 TERM="${TERM:-dumb}" CCACHE_DIR=/ccache CCACHE_MAXSIZE=5G \
        /bin/bash -euo pipefail -c "cd /build && $cmd"
    ' pvt-trixie "$root" "$PVT_ROOT" "$cache/ccache-$PVT_TRIXIE_SUITE" "$1"
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
  pvt_trixie_run "ctest --output-on-failure --parallel $jobs -L unit --timeout 600"
  # The tests of integration_tunnel, by their suites (gtest_discover_tests names them Suite.Test).
  pvt_log "Debian 13 root: tunnel worker integration tests (OpenSSH sshd of Debian 13)"
  pvt_trixie_run "
    suites=\$(tests/integration_tunnel --gtest_list_tests | grep -v '^ ' | tr -d . | paste -sd '|')
    ctest --output-on-failure --parallel $jobs -L integration -R \"^(\$suites)\\\\.\" --timeout 600
  "
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-test}" in
    prepare) pvt_trixie_root && echo "$PVT_TRIXIE_ROOT" ;;
    test) pvt_trixie_test ;;
    shell) pvt_trixie_root && pvt_trixie_run 'exec bash -i' ;;
    *) echo "usage: $0 [prepare|test|shell]" >&2; exit 2 ;;
  esac
fi
