#!/usr/bin/env bash
# scripts/build-debs.sh [BUILD_DIR]: the .deb packages of the build tree BUILD_DIR (default
# build/, configured as scripts/test.sh does when it does not exist yet), built with CPack
# (cmake/PvtPackaging.cmake) into BUILD_DIR/debs/:
#   pvectl-tunnel_<version>_<arch>.deb         CLI, controller, check, backup, their units, docs
#   pvectl-tunnel-worker_<version>_<arch>.deb  the slim worker and pvectl-tunnel@.service
#   pvectl-tunnel-sim_<version>_<arch>.deb     pvesim
# with <version> = <project version>-<revision>~<codename>, e.g. 0.1.0-1~bookworm. Then checks
# the packages (below) and runs lintian on them. Exits non-zero on a failed check or a lintian
# finding not explained below.
#
# Build the packages on the Debian release they are for (12 bookworm, 13 trixie): the units'
# directory (systemd.pc) and the Depends (dpkg-shlibdeps) come from the build host.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$PVT_ROOT"

build="${1:-build}"
# dpkg-dev: dpkg-shlibdeps, which CPack runs for Depends:; help2man: the man pages; binutils
# (build-essential): readelf for the strip check; lintian only here (not in PVT_PACKAGES).
# In the Debian 13 root (scripts/debian13-root.sh) they are part of the root's own package list,
# and there is no network to install anything.
[ "${PVT_PACKAGES_READY:-}" = 1 ] || pvt_ensure_packages "${PVT_PACKAGES[@]}" dpkg-dev lintian

if [ -f "$build/CMakeCache.txt" ]; then
  if grep -q '^PVT_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
    echo "$build is a sanitizer build (PVT_SANITIZE=ON): not for packages" >&2
    exit 1
  fi
  # Re-run the configuration: it finds help2man if it was installed after the tree was
  # configured, and takes in cmake/PvtPackaging.cmake changes.
  cmake "$build" >/dev/null
fi
# The programs and their man pages: with Ninja, cpack itself builds nothing.
pvt_build "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DPVT_WERROR=ON -- pvectl-tunnel pvectl-tunnel-worker pvesim pvt_man_pages

debs="$build/debs"
rm -rf "$debs"
pvt_log "cpack -G DEB in $build"
(cd "$build" && cpack -G DEB >/dev/null)
rm -rf "$debs/_CPack_Packages"  # the staging trees

cache_value() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt"; }
unit_dir="$(cache_value PVT_SYSTEMD_UNIT_DIR)"
sysusers_dir="$(cache_value PVT_SYSUSERS_DIR)"
case "$unit_dir" in /*) ;; *) unit_dir="/usr/$unit_dir" ;; esac
case "$sysusers_dir" in /*) ;; *) sysusers_dir="/usr/$sysusers_dir" ;; esac
unit_dir="${unit_dir#/}"
sysusers_dir="${sysusers_dir#/}"

declare -A deb
for pkg in pvectl-tunnel pvectl-tunnel-worker pvectl-tunnel-sim; do
  files=("$debs/${pkg}"_*.deb)
  if [ ${#files[@]} -ne 1 ] || [ ! -f "${files[0]}" ]; then
    echo "no single $debs/${pkg}_*.deb" >&2
    exit 1
  fi
  deb[$pkg]="${files[0]}"
done

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
# The files (not directories) of a package, as paths without the leading ./
files_of() { dpkg-deb -c "$1" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort; }
field() { dpkg-deb -f "$1" "$2"; }

work="$(mktemp -d -t pvectl-tunnel-debs.XXXXXX)"
trap 'rm -rf "$work"' EXIT

pvt_log "checking the packages"
declare -A must_have=(
  [pvectl-tunnel]="usr/bin/pvectl-tunnel
$unit_dir/pvectl-tunnel-controller.service
$unit_dir/pvectl-tunnel-backup-verify.service
$unit_dir/pvectl-tunnel-backup-verify.timer
$unit_dir/pvectl-tunnel-check-textfile.service
$unit_dir/pvectl-tunnel-check-textfile.timer
usr/share/doc/pvectl-tunnel/README.md
usr/share/doc/pvectl-tunnel/examples/config.toml
usr/share/doc/pvectl-tunnel/copyright
usr/share/doc/pvectl-tunnel/changelog.Debian.gz
usr/share/man/man1/pvectl-tunnel.1.gz"
  # The worker's package is exactly this: what a tunnel guest needs.
  [pvectl-tunnel-worker]="$sysusers_dir/pvectl-tunnel.conf
$unit_dir/pvectl-tunnel@.service
usr/bin/pvectl-tunnel-worker
usr/share/doc/pvectl-tunnel-worker/changelog.Debian.gz
usr/share/doc/pvectl-tunnel-worker/copyright
usr/share/man/man1/pvectl-tunnel-worker.1.gz"
  [pvectl-tunnel-sim]="usr/bin/pvesim
usr/share/doc/pvectl-tunnel-sim/pvesim.md
usr/share/doc/pvectl-tunnel-sim/copyright
usr/share/doc/pvectl-tunnel-sim/changelog.Debian.gz
usr/share/man/man1/pvesim.1.gz"
)
declare -A binary_of=([pvectl-tunnel]=pvectl-tunnel [pvectl-tunnel-worker]=pvectl-tunnel-worker
  [pvectl-tunnel-sim]=pvesim)
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"

for pkg in "${!deb[@]}"; do
  f="${deb[$pkg]}"
  files_of "$f" >"$work/$pkg.files"
  while IFS= read -r want; do
    grep -qxF "$want" "$work/$pkg.files" || fail "$pkg: $want is missing"
  done <<<"${must_have[$pkg]}"
  if [ "$pkg" = pvectl-tunnel-worker ] && ! diff <(sort <<<"${must_have[$pkg]}") "$work/$pkg.files" >&2; then
    fail "$pkg: files other than the expected ones (diff above)"
  fi
  grep -E '^(usr/local|etc)/' "$work/$pkg.files" >&2 && fail "$pkg: files under /usr/local or /etc"
  [ "$(field "$f" Package)" = "$pkg" ] || fail "$pkg: Package: $(field "$f" Package)"
  case "$(field "$f" Version)" in
    *"~$codename") ;;
    *) fail "$pkg: Version $(field "$f" Version) does not end in ~$codename" ;;
  esac
  # No conffiles: nothing is installed into /etc.
  dpkg-deb --ctrl-tarfile "$f" | tar -t | grep -q conffiles && fail "$pkg: has conffiles"

  # Stripped: no symbol table, no debug info (the build's -g1), no .comment (as dh_strip).
  bin="$work/$pkg.bin"
  dpkg-deb --fsys-tarfile "$f" | tar -xO "./usr/bin/${binary_of[$pkg]}" >"$bin"
  sections="$(readelf -S -W "$bin" | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\./) print $i }')"
  if grep -E '^\.(symtab|debug_|comment$)' <<<"$sections" >&2; then
    fail "$pkg: ${binary_of[$pkg]} is not stripped (sections above)"
  fi

  # Maintainer scripts: daemon-reload only; never enable, start or restart a unit.
  dpkg-deb -e "$f" "$work/$pkg.control"
  for script in "$work/$pkg.control"/{preinst,postinst,prerm,postrm}; do
    [ -f "$script" ] || continue
    grep -vE '^[[:space:]]*#' "$script" |
      grep -E 'systemctl.*(enable|start|restart|reload-or)|deb-systemd-(helper|invoke)' >&2 &&
      fail "$pkg: $(basename "$script") enables or starts units"
  done
done

# No file is in two packages.
dup="$(cat "$work"/*.files | sort | uniq -d)"
[ -z "$dup" ] || fail "in two packages: $dup"

# Depends: computed by dpkg-shlibdeps. The worker (the slim binary) does not pull in libcurl,
# spdlog or fmt; the CLI needs libcurl and libssh2. (Debian 13 names some of them ...t64.)
depends_of() { field "${deb[$1]}" Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//'; }
for lib in 'libssh2-1(t64)?' 'libssl3(t64)?' libc6; do
  depends_of pvectl-tunnel-worker | grep -Eqx "$lib" || fail "pvectl-tunnel-worker: Depends lacks $lib"
done
for lib in 'libcurl.*' 'libspdlog.*' 'libfmt.*'; do
  depends_of pvectl-tunnel-worker | grep -Eqx "$lib" && fail "pvectl-tunnel-worker: Depends lists $lib"
done
# procps: /bin/kill of the units' ExecReload= (not Essential).
for pkg in pvectl-tunnel pvectl-tunnel-worker; do
  depends_of "$pkg" | grep -qx procps || fail "$pkg: Depends lacks procps (ExecReload=/bin/kill)"
done
for lib in 'libcurl4(t64)?' 'libssh2-1(t64)?'; do
  depends_of pvectl-tunnel | grep -Eqx "$lib" || fail "pvectl-tunnel: Depends lacks $lib"
done
for lib in 'libcurl.*' 'libssh2.*'; do
  depends_of pvectl-tunnel-sim | grep -Eqx "$lib" && fail "pvectl-tunnel-sim: Depends lists $lib"
done

# The worker's unit runs the packaged worker, as the user its sysusers.d file creates.
dpkg-deb --fsys-tarfile "${deb[pvectl-tunnel-worker]}" |
  tar -xO "./$unit_dir/pvectl-tunnel@.service" >"$work/worker.service"
grep -qx 'ExecStart=/usr/bin/pvectl-tunnel-worker tunnel --config /etc/pvectl-tunnel/config.toml --name %i' \
  "$work/worker.service" || fail "pvectl-tunnel@.service: ExecStart= is not /usr/bin/pvectl-tunnel-worker ..."
grep -qx 'User=pvectl-tunnel' "$work/worker.service" || fail "pvectl-tunnel@.service: no User=pvectl-tunnel"
grep -q 'systemd-sysusers pvectl-tunnel.conf' "$work/pvectl-tunnel-worker.control/postinst" ||
  fail "pvectl-tunnel-worker: postinst does not run systemd-sysusers"

# dpkg's own checks of the three packages together (dependencies against this host, file
# conflicts with installed packages), without installing anything. A real install into a
# Debian 13 root is left to that root's work.
if ! dpkg --dry-run -i "${deb[@]}" >"$work/dpkg.out" 2>&1; then
  cat "$work/dpkg.out" >&2
  fail "dpkg --dry-run -i"
fi

# lintian, all findings down to info and pedantic. Explained, not fixed:
#   hardening-no-bindnow, hardening-no-fortify-functions (info): the build tree is compiled
#     with the project's flags, not with dpkg-buildflags' (-D_FORTIFY_SOURCE=2,
#     -Wl,-z,relro,-z,now). Debian's gcc already builds PIE with relro and the stack protector
#     is a question of the flags too. For fully hardened packages, configure a separate tree with
#     CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
#     LDFLAGS="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get LDFLAGS)" and pass
#     it here (a full rebuild, no ccache hits).
#   package-supports-alternative-init-but-no-init.d-script (info): the units are systemd only
#     on purpose; Proxmox VE hosts and the tunnel guests run systemd.
#   spelling-error-in-binary boun bound (info): a false positive, "not bound" in
#     tunnel/session_state.cpp, which the compiler stores as an 8-byte immediate "not boun"
#     and a trailing "d".
# Not reported on Debian 12 although the units are in /lib/systemd/system (systemd.pc's
# directory there); on Debian 13 they go to /usr/lib/systemd/system.
explained='hardening-no-bindnow|hardening-no-fortify-functions|package-supports-alternative-init-but-no-init\.d-script|spelling-error-in-binary boun bound'
pvt_log "lintian"
lintian --display-info --pedantic --fail-on none "${deb[@]}" 2>&1 |
  grep -v '^running with root privileges' >"$work/lintian.out" || true
cat "$work/lintian.out"
unexplained="$(grep -E '^[EWIPX]: ' "$work/lintian.out" | grep -vE "^[EWIPX]: [^ ]+: ($explained)( |$)" || true)"
if [ -n "$unexplained" ]; then
  fail "lintian findings not explained in scripts/build-debs.sh:
$unexplained"
fi

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed" >&2
  exit 1
fi
pvt_log "packages in $debs:"
for pkg in pvectl-tunnel pvectl-tunnel-worker pvectl-tunnel-sim; do
  f="${deb[$pkg]}"
  printf '  %-48s %7s bytes  Installed-Size %s kB\n    Depends: %s\n' "$(basename "$f")" \
    "$(stat -c %s "$f")" "$(field "$f" Installed-Size)" "$(field "$f" Depends)"
done
