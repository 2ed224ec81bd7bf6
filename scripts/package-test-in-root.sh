#!/bin/bash
# Runs inside a clean Debian root, started by scripts/package-test.sh, which put the packages
# under test and their dependencies into a flat local repository at /var/local. Installs them with
# apt as a user would, checks them, purges them; exits non-zero at the first failed check.
set -euo pipefail

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $*" >&2; }

# apt sees the local repository only (the root's own sources point at a mirror the test cannot
# reach); the root's /etc/apt is left as it is.
printf 'deb [trusted=yes] file:/var/local ./\n' >/tmp/pvt-local.list
mkdir -p /tmp/pvt-no-parts
printf 'Dir::Etc::SourceList "/tmp/pvt-local.list";\nDir::Etc::SourceParts "/tmp/pvt-no-parts";\n' \
  >/tmp/pvt-apt.conf
export APT_CONFIG=/tmp/pvt-apt.conf

step "apt-get update (the local repository only)"
apt-get update -q >/dev/null
packages_before="$(dpkg-query -W -f='${Package}\n' | sort)"

# pvt_expect_version PROGRAM PACKAGE: PROGRAM --version names the package's upstream version.
expect_version() {
  local out want
  out="$("$1" --version)" || fail "$1 --version exited $?"
  want="$(dpkg-query -W -f='${Version}' "$2")"
  want="${want%%-*}"
  [ "$out" = "$(basename "$1") $want" ] || fail "$1 --version says '$out', package $2 is $want"
  echo "$out"
}

# The tunnel guest's case first: the worker alone, with no more than it depends on.
step "apt-get install pvectl-tunnel-worker"
apt-get install -y -q pvectl-tunnel-worker >/dev/null
expect_version /usr/bin/pvectl-tunnel-worker pvectl-tunnel-worker
[ ! -e /usr/bin/pvectl-tunnel ] || fail "the worker's package installed /usr/bin/pvectl-tunnel"
getent passwd pvectl-tunnel >/dev/null || fail "no system user pvectl-tunnel after installing the worker"
[ "$(getent passwd pvectl-tunnel | cut -d: -f7)" = /usr/sbin/nologin ] ||
  fail "the pvectl-tunnel user has a login shell: $(getent passwd pvectl-tunnel)"

step "apt-get install pvectl-tunnel pvectl-tunnel-sim"
apt-get install -y -q pvectl-tunnel pvectl-tunnel-sim >/dev/null
expect_version /usr/bin/pvectl-tunnel pvectl-tunnel
expect_version /usr/bin/pvesim pvectl-tunnel-sim

# The shipped example with the files it names: secrets and keys as the owner's alone, as the
# docs say; directories for the *_dir keys. Every directory made here is removed afterwards.
example=/usr/share/doc/pvectl-tunnel/examples/config.toml
[ -f "$example" ] || fail "no $example"
step "config validate $example"
made_dirs=() made_files=()
while IFS='=' read -r key value; do
  key="${key//[[:space:]]/}"
  value="$(sed -E 's/^[[:space:]]*"([^"]*)".*/\1/' <<<"$value")"
  case "$value" in /*) ;; *) fail "$example: $key = '$value' is not an absolute path" ;; esac
  case "$key" in
    *_dir) while IFS= read -r d; do made_dirs+=("$d"); done < <(mkdir -pv "$value" | sed -E "s/^mkdir: created directory '(.*)'$/\1/") ;;
    *)
      while IFS= read -r d; do made_dirs+=("$d"); done < <(mkdir -pv "$(dirname "$value")" | sed -E "s/^mkdir: created directory '(.*)'$/\1/")
      [ -e "$value" ] || made_files+=("$value")
      printf 'made-for-the-package-test\n' >"$value"
      chmod 600 "$value"
      ;;
  esac
done < <(grep -E '^[[:space:]]*[a-z_]+_(file|dir)[[:space:]]*=[[:space:]]*"' "$example")
[ ${#made_files[@]} -gt 0 ] || fail "$example names no files: the parsing above is out of date"
if ! out="$(pvectl-tunnel config validate --config "$example" 2>&1)"; then
  echo "$out" >&2
  fail "config validate rejected the shipped example"
fi
echo "$out"
rm -f "${made_files[@]}"
for ((i = ${#made_dirs[@]} - 1; i >= 0; i--)); do rmdir "${made_dirs[i]}"; done

step "systemd-analyze verify (the installed units)"
mapfile -t units < <(dpkg -L pvectl-tunnel pvectl-tunnel-worker | grep -E '/systemd/system/[^/]+\.(service|timer)$')
[ ${#units[@]} -ge 6 ] || fail "expected at least 6 units, the packages install: ${units[*]}"
verify=()
for u in "${units[@]}"; do
  # A template is verified as an instance of it, the way systemd would load it.
  case "$u" in *@.service) verify+=("$(basename "${u%@.service}")@primary.service") ;; *) verify+=("$u") ;; esac
done
# --man=no: the root has no man(1); the pages the units name are looked for here instead.
for page in $(sed -n 's/^Documentation=//p' "${units[@]}" | tr ' ' '\n' | sed -n 's/^man:\([^(]*\)(\([0-9]\))$/\1.\2/p'); do
  [ -f "/usr/share/man/man${page##*.}/$page.gz" ] || fail "a unit names man page $page, which is not installed"
done
if ! out="$(systemd-analyze verify --man=no "${verify[@]}" 2>&1)" || [ -n "$out" ]; then
  echo "$out" >&2
  fail "systemd-analyze verify ${verify[*]}"
fi
printf '%s\n' "${verify[@]}"

step "apt-get purge --autoremove"
apt-get purge -y -q --autoremove pvectl-tunnel pvectl-tunnel-worker pvectl-tunnel-sim >/dev/null
if left="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'pvectl-tunnel*' 2>/dev/null | grep -v '^un ')"; then
  fail "still known to dpkg after the purge: $left"
fi
packages_after="$(dpkg-query -W -f='${Package}\n' | sort)"
removed="$(comm -23 <(echo "$packages_before") <(echo "$packages_after") | paste -sd ' ')"
[ -z "$removed" ] || fail "the purge removed packages that were installed before: $removed"
# apt's autoremove keeps a package that an installed one recommends or suggests (on Debian 13,
# libc6 and libsystemd-shared name libidn2-0 and libp11-kit0, which libcurl pulled in). Such a
# package is still marked as installed automatically and has an installed package that wants it;
# anything else left was left by the packages.
while IFS= read -r p; do
  [ -n "$p" ] || continue
  [ "$(apt-mark showauto "$p")" = "$p" ] || fail "the purge left $p, marked as installed by hand"
  wanted_by="$(apt-cache rdepends --installed "$p" | tail -n +3 | tr -d ' |' | sort -u | paste -sd ' ')"
  [ -n "$wanted_by" ] || fail "the purge left $p, which no installed package wants"
  echo "kept by apt's autoremove (wanted by $wanted_by): $p"
  dpkg -L "$p" >>/var/local/pvt-kept-files  # not counted as left (scripts/package-test.sh)
done < <(comm -13 <(echo "$packages_before") <(echo "$packages_after"))
echo "purged; nothing of the install is left but what apt keeps for the packages of before"
