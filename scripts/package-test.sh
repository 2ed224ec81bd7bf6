#!/usr/bin/env bash
# The .deb packages installed the way a user installs them: with apt, into a clean Debian root
# (Essential, priority required, apt and systemd: the least a Proxmox VE host or a Debian LXC
# template has), from a local
# file: repository that holds the three packages and, downloaded when the root was made, the
# packages they depend on. Then: --version of each program, `config validate` of the shipped
# example (the files it names created for the test), `systemd-analyze verify` of the installed
# units, the worker's system user, and a purge that leaves the root as it was.
#
#   scripts/package-test.sh prepare SUITE            # make the clean root (or reuse it)
#   scripts/package-test.sh test SUITE DEBS_DIR      # prepare, then install DEBS_DIR/*.deb
#
# SUITE is bookworm (Debian 12) or trixie (Debian 13); DEBS_DIR holds the packages built for it
# (scripts/build-debs.sh). scripts/test.sh sources this file: pvt_clean_root in its install step
# (the only step that downloads), pvt_package_install_test afterwards (loopback only).
#
# The clean roots are cached beside the Debian 13 build root (PVT_ROOT_CACHE, default
# /var/cache/pvectl-tunnel/roots) as clean-SUITE-<hash>, the hash over the suite, the mirror, the
# dependency list below and PVT_CLEAN_ROOT_VERSION. A test never writes to the cached root: it
# runs on an overlay whose writable layer is a tmpfs of its own mount namespace, which also makes
# "as it was" checkable: after the purge, the writable layer holds only what apt and dpkg keep.

if [ -z "${PVT_ROOT:-}" ]; then
  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fi
if ! declare -F pvt_cached_root >/dev/null; then
  source "$(dirname "${BASH_SOURCE[0]}")/debian13-root.sh"
fi

# Bump to remake the clean roots when the way they are made changes.
PVT_CLEAN_ROOT_VERSION=2

# What the packages depend on (their Depends:, computed by dpkg-shlibdeps when they are built),
# per release: downloaded with their own dependencies into the root's local repository when the
# root is made, because the test itself has no network. A package that comes to depend on
# something not listed here fails the test with apt's "Depends: X but it is not installable".
PVT_CLEAN_ROOT_DEPENDS_bookworm=(libcpp-httplib0.11 libcurl4 libdate-tz3 libfmt9 libspdlog1.10-fmt9
  libssh2-1 libssl3 libtomlplusplus3 procps)
PVT_CLEAN_ROOT_DEPENDS_trixie=(libcpp-httplib0.18 libcurl4t64 libdate-tz3 libfmt10 libspdlog1.15
  libssh2-1t64 libssl3t64 libtomlplusplus3t64 procps)

# The directory inside a clean root that holds the downloaded dependencies.
PVT_CLEAN_ROOT_DEPS=/var/local/pvt-deps

pvt_clean_root_depends() {
  case "$1" in
    bookworm) printf '%s\n' "${PVT_CLEAN_ROOT_DEPENDS_bookworm[@]}" ;;
    trixie) printf '%s\n' "${PVT_CLEAN_ROOT_DEPENDS_trixie[@]}" ;;
    *)
      echo "package-test: unknown suite '$1' (bookworm or trixie)" >&2
      return 2
      ;;
  esac
}

# pvt_clean_root SUITE: makes (or reuses) the clean root of SUITE; sets PVT_CLEAN_ROOT.
pvt_clean_root() {
  local suite="$1" depends
  depends="$(pvt_clean_root_depends "$suite" | paste -sd ' ')" || return
  pvt_cached_root "clean-$suite" pvt_clean_root_create "$suite" "$depends" \
    -- "version=$PVT_CLEAN_ROOT_VERSION" "suite=$suite" "mirror=$PVT_TRIXIE_MIRROR" $depends
  PVT_CLEAN_ROOT="$PVT_CACHED_ROOT"
}

# pvt_clean_root_create SUITE "DEPENDS..." TARGET: mmdebstrap of the clean root into TARGET.
pvt_clean_root_create() {
  local suite="$1" depends="$2" target="$3"
  # --variant=required: Essential, priority required and apt, the base of debootstrap's minbase
  # and of Debian's LXC templates; systemd besides (every Debian system these packages are for
  # has it; its systemd-sysusers and systemd-analyze are part of the test). The dependencies
  # are downloaded with apt's default (Recommends too, as a user's `apt install` would take
  # them) and moved out of apt's cache, which mmdebstrap empties at the end.
  mmdebstrap --quiet --mode=root --variant=required --include=systemd \
    --customize-hook="$PVT_ROOT_HOSTS_HOOK" \
    --customize-hook="chroot \"\$1\" apt-get install --download-only -y -q $depends >/dev/null" \
    --customize-hook="mkdir -p \"\$1$PVT_CLEAN_ROOT_DEPS\" && mv \"\$1\"/var/cache/apt/archives/*.deb \"\$1$PVT_CLEAN_ROOT_DEPS/\"" \
    "$suite" "$target" "$PVT_TRIXIE_MIRROR" </dev/null >&2
}

# pvt_package_install_test SUITE DEBS_DIR: the test (see the top of this file) in the clean root
# of SUITE; exits non-zero on the first failed check, saying which.
pvt_package_install_test() {
  local suite="$1" debs="$2"
  pvt_clean_root "$suite"
  local files=("$debs"/pvectl-tunnel_*.deb "$debs"/pvectl-tunnel-worker_*.deb "$debs"/pvectl-tunnel-sim_*.deb) f
  for f in "${files[@]}"; do
    [ -f "$f" ] || {
      echo "package-test: no $f (scripts/build-debs.sh first)" >&2
      return 1
    }
  done
  command -v dpkg-scanpackages >/dev/null || pvt_ensure_packages dpkg-dev
  pvt_log "packages ($suite): apt install into a clean root, check, purge"
  # New mount, PID and network namespaces: the overlay, its tmpfs and every process started
  # in the root go when the test ends, and apt can reach nothing but the local repository.
  # The mount point of the namespace's tmpfs, removed (empty) afterwards however the test ended.
  local scratch rc=0
  scratch="$(mktemp -d -t pvt-package-test.XXXXXX)"
  unshare --mount --pid --net --fork --kill-child --propagation private -- \
    bash -euo pipefail -c '
      clean="$1" script="$2" scratch="$3"; shift 3
      mount -t tmpfs -o mode=755 tmpfs "$scratch"
      mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
      mount -t overlay overlay -o "lowerdir=$clean,upperdir=$scratch/upper,workdir=$scratch/work" \
        "$scratch/root"
      root="$scratch/root"
      # The local repository, a flat one at /var/local: the packages under test in pvt-repo/
      # beside the downloaded dependencies in pvt-deps/.
      mkdir "$root/var/local/pvt-repo"
      cp "$@" "$root/var/local/pvt-repo/"
      (cd "$root/var/local" && dpkg-scanpackages --multiversion . 2>/dev/null >Packages)
      pvt_mount_system_dirs "$root"
      cp "$script" "$root/tmp/package-test-in-root.sh"
      chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive bash -euo pipefail /tmp/package-test-in-root.sh
      # What the test and the purge left in the root, from the writable layer: files, symbolic
      # links, whiteouts (files of the clean root deleted) and directories the clean root does
      # not have (the others are only copied up). Not counted: what apt and dpkg keep by design
      # (their state, caches and logs), the local repository, the worker'"'"'s user in the
      # account files (Debian keeps system users), the caches systemd and ldconfig rewrite, and
      # the files of packages apt kept on purpose.
      umount -R "$root/proc" "$root/dev" "$root/tmp" "$root/run"
      kept="$root/var/local/pvt-kept-files"  # the files of packages apt kept (see the script)
      touch "$kept"
      left="$(cd "$scratch/upper" && find . -mindepth 1 -printf "%y %p\n" | while read -r type path; do
          [ "$type" != d ] || [ ! -d "$clean/$path" ] || continue
          echo "$path"
        done | { grep -vE "^\./(var/lib/(dpkg|apt|systemd)|var/cache/(apt|debconf|ldconfig)|var/log|var/local/(Packages|pvt-repo|pvt-kept-files)|etc/ld\.so\.cache$|etc/(passwd|group|shadow|gshadow)-?$|etc/\.pwd\.lock$)" || [ $? -eq 1 ]; } |
        { grep -vxFf <(sed "s|^|.|" "$kept") || [ $? -eq 1 ]; })"
      if [ -n "$left" ]; then
        echo "FAIL: the root is not as it was after the purge:" >&2
        while IFS= read -r path; do
          # A whiteout (character device 0:0) stands for a file of the clean root deleted.
          if [ -c "$scratch/upper/$path" ]; then echo "  deleted: ${path#.}"; else echo "  left: ${path#.}"; fi
        done <<<"$left" >&2
        exit 1
      fi
    ' pvt-package-test "$PVT_CLEAN_ROOT" "$PVT_ROOT/scripts/package-test-in-root.sh" "$scratch" \
    "${files[@]}" || rc=$?
  rmdir "$scratch"
  [ "$rc" -eq 0 ] || return "$rc"
  pvt_log "packages ($suite): installed, checked and purged cleanly"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  usage() {
    echo "usage: $0 prepare SUITE | test SUITE DEBS_DIR   (SUITE: bookworm or trixie)" >&2
    exit 2
  }
  # One command a line: in `a && b` set -e does not apply inside a.
  case "${1:-}" in
    prepare)
      [ $# -eq 2 ] || usage
      pvt_clean_root "$2"
      echo "$PVT_CLEAN_ROOT"
      ;;
    test)
      [ $# -eq 3 ] || usage
      pvt_package_install_test "$2" "$3"
      ;;
    *) usage ;;
  esac
fi
