#!/bin/sh
# Tunnel benchmark: pvectl-tunnel's worker vs autossh + OpenSSH, on loopback (see bench/README.md).
# Installs what is missing (Debian/Ubuntu, as root), then runs the driver with the worker built in
# build/. Every argument goes to the driver, e.g.:
#   bench/tunnel/run.sh --quick                      # CI smoke, about 2 minutes
#   bench/tunnel/run.sh --output tunnel-bench.json   # full run, about 9 minutes
#   bench/tunnel/run.sh --impls classic --scenarios bulk,wrk
# Results: one JSON document on stdout; progress on stderr.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

need=""
for pkg in openssh-server openssh-client autossh nginx-light wrk nftables curl python3; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    case "$pkg" in
      # any nginx flavour will do
      nginx-light) command -v nginx >/dev/null 2>&1 && continue ;;
    esac
    need="$need $pkg"
  fi
done
if [ -n "$need" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages:$need (run as root, or install them)" >&2
    exit 2
  fi
  echo "installing:$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $need >&2
fi

# The Debian package enables and starts system services; the benchmark runs its own sshd and
# nginx on free loopback ports and does not need or touch them.
mkdir -p /run/sshd

py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$here/tunnel_bench.py" --worker "${PVT_WORKER:-$root/build/pvectl-tunnel}" "$@"
