#!/usr/bin/env bash
# The demo: builds pvectl-tunnel and the Proxmox VE simulator, starts the simulator with the
# reference topology (examples/topology.toml: tunnel1 = VM 110 on pve1, tunnel2 = LXC 210 on
# pve2, with one deliberate finding), runs `pvectl-tunnel check` against it as text and JSON and
# `backup verify --restore-test`, then stops what it started. Exits 0 when the demo ran, whatever the report found.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$PVT_ROOT"

pvt_ensure_packages "${PVT_PACKAGES[@]}"
pvt_build build -DCMAKE_BUILD_TYPE=RelWithDebInfo -- pvectl-tunnel pvesim

work="$(mktemp -d -t pvectl-tunnel-demo.XXXXXX)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ] && kill -0 "$sim_pid" 2>/dev/null; then
    kill -TERM "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

pvt_log "starting pvesim with examples/topology.toml"
mkfifo "$work/sim.out"
# The reference topology, with the token also allowed to change boot flags (VM.Config.Options):
# the demo's controller step fixes the topology's one finding.
sed -e '/^"\/" = \[/s/"VM.Backup"\]/"VM.Backup", "VM.Config.Options"]/' examples/topology.toml >"$work/topology.toml"
./build/pvesim --topology "$work/topology.toml" --listen 127.0.0.1:0 >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
exec 3<"$work/sim.out"
url="" fingerprint=""
while [ -z "$url" ] || [ -z "$fingerprint" ]; do
  if ! IFS= read -r -t 30 line <&3; then
    echo "pvesim did not start:" >&2
    cat "$work/sim.err" >&2
    exit 1
  fi
  case "$line" in
    "listening: "*) url="${line#listening: }" ;;
    "fingerprint: "*) fingerprint="${line#fingerprint: }" ;;
  esac
done
# Keep draining the simulator's stdout so it never blocks on a full pipe.
cat <&3 >/dev/null &
exec 3<&-
pvt_log "pvesim serves $url (certificate $fingerprint)"

# The token secret of the demo topology, in a 0600 file as the config requires.
secret="$(sed -n 's/^secret *= *"\(.*\)"/\1/p' examples/topology.toml | head -n 1)"
install -m 600 /dev/null "$work/pve-token"
printf '%s\n' "$secret" >"$work/pve-token"

# examples/config.toml with the simulator's address, certificate and the token file above.
sed -e "s|^endpoints *=.*|endpoints = [\"$url\"]|" \
    -e "s|^token_secret_file *=.*|token_secret_file = \"$work/pve-token\"|" \
    -e "s|^ca_file *=.*|fingerprint = \"$fingerprint\"|" \
    examples/config.toml >"$work/config.toml"

set +e
pvt_log "pvectl-tunnel check --config $work/config.toml"
./build/pvectl-tunnel check --config "$work/config.toml"
rc_text=$?
pvt_log "pvectl-tunnel check --format json (exit code $rc_text above)"
./build/pvectl-tunnel check --config "$work/config.toml" --format json
rc_json=$?
pvt_log "pvectl-tunnel backup verify --restore-test (restores each newest backup into VMID 9999 and removes it)"
./build/pvectl-tunnel backup verify --config "$work/config.toml" --restore-test
rc_backup=$?

# The controller, with its lock, flags and audit log in the demo's directory.
install -m 600 /dev/null "$work/controller-token"
printf 'demo-%s\n' "$RANDOM$RANDOM$RANDOM" >"$work/controller-token"
mkdir -p "$work/lock"
sed -e "s|^lock_dir *=.*|lock_dir = \"$work/lock\"\nstate_dir = \"$work/state\"|" \
    -e "s|^audit_log *=.*|audit_log = \"$work/audit.jsonl\"|" \
    -e "s|^token_file *=.*|token_file = \"$work/controller-token\"|" \
    "$work/config.toml" >"$work/controller.toml"
pvt_log "pvectl-tunnel controller --once --dry-run (one cycle: what it would do; changes nothing)"
./build/pvectl-tunnel controller --config "$work/controller.toml" --once --dry-run
rc_dry=$?
sed -i -e 's|^enforce *=.*|enforce = ["onboot"]|' "$work/controller.toml"
pvt_log "pvectl-tunnel controller --once with enforce = [\"onboot\"] (fixes the finding)"
./build/pvectl-tunnel controller --config "$work/controller.toml" --once
rc_ctl=$?
pvt_log "its audit log"
cat "$work/audit.jsonl"
pvt_log "pvectl-tunnel check again: guest.onboot is OK now"
./build/pvectl-tunnel check --config "$work/config.toml" | head -n 1
set -e
echo
pvt_log "report exit codes: check text $rc_text, json $rc_json, backup verify $rc_backup (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)"
if [ "$rc_dry" -ne 0 ] || [ "$rc_ctl" -ne 0 ]; then
  echo "the controller could not run (exit $rc_dry, $rc_ctl): see the output above" >&2
  exit 1
fi
if [ "$rc_text" -eq 3 ] || [ "$rc_json" -eq 3 ] || [ "$rc_backup" -eq 3 ]; then
  echo "the demo could not produce a report (UNKNOWN): see the output above" >&2
  exit 1
fi
pvt_log "demo finished"
