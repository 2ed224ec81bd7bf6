# Shared by scripts/demo.sh and scripts/test.sh: install what is missing, configure, build.
# Sourced, not run.

PVT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian 12 packages the build, the tests and the demo need.
PVT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libcurl4-openssl-dev nlohmann-json3-dev libssh2-1-dev libcpp-httplib-dev libspdlog-dev
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev libtomlplusplus-dev
  libexpected-dev libhowardhinnant-date-dev libssl-dev clang-format tzdata ccache
  help2man  # the man pages (cmake/PvtManPages.cmake), which the .deb packages ship
)
# systemd.pc (where the units go: `pkg-config --variable=systemdsystemunitdir systemd`) is in
# package systemd on Debian 12, in systemd-dev from Debian 13 on.
if [ "$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")" != bookworm ]; then
  PVT_PACKAGES+=(systemd-dev)
fi

# Only the test suite needs these: the tunnel worker's tests start a real sshd of their own (on
# a free loopback port). Debian's package also enables the system sshd; disable it where that is
# not wanted (`systemctl disable --now ssh`).
PVT_TEST_PACKAGES=(
  openssh-server openssh-client
  chromium  # the status page test renders the controller's page in headless Chromium
  dpkg-dev lintian  # scripts/build-debs.sh: dpkg-shlibdeps for Depends:, the packages' checks
)

# Seconds since the script started, so a CI log shows where the time goes.
pvt_log() { printf '==> [%4ds] %s\n' "$SECONDS" "$*" >&2; }

# Installs only what is missing, so a second run does not touch apt at all.
pvt_ensure_packages() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  pvt_log "installing: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq </dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

# pvt_mount_system_dirs ROOT: /proc, /dev, and empty tmpfs /tmp and /run in the Debian root ROOT,
# for programs run in it with chroot. Call it in a mount namespace of its own (unshare --mount):
# the mounts go with the namespace. Exported, for the bash that unshare starts.
pvt_mount_system_dirs() {
  mount -t proc proc "$1/proc"
  mount --rbind /dev "$1/dev"
  mount -t tmpfs -o mode=1777,size=4g tmpfs "$1/tmp"
  mount -t tmpfs -o mode=755 tmpfs "$1/run"
}
export -f pvt_mount_system_dirs

# pvt_build DIR [cmake -D options...] -- [targets...]
pvt_build() {
  local dir="$1"
  shift
  local opts=() targets=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do opts+=("$1"); shift; done
  [ "${1:-}" = "--" ] && shift
  targets=("$@")
  # ccache keeps compiled objects between runs and between trees of the same sources: paths are
  # rewritten relative to the tree, so a second clone or work tree reuses the first one's work.
  export CCACHE_BASEDIR="$PVT_ROOT" CCACHE_NOHASHDIR=1
  if [ ! -f "$dir/build.ninja" ]; then
    pvt_log "configuring $dir"
    local launcher=()
    command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
    cmake -S "$PVT_ROOT" -B "$dir" -G Ninja "${launcher[@]}" "${opts[@]}" >/dev/null
  fi
  pvt_log "building $dir ${targets[*]:-all}"
  if [ ${#targets[@]} -gt 0 ]; then
    cmake --build "$dir" --parallel "$(nproc)" --target "${targets[@]}"
  else
    cmake --build "$dir" --parallel "$(nproc)"
  fi
}
