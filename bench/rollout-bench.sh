#!/usr/bin/env bash
# A rollout to 10,000 simulated devices (issue 13): one ota-server on its
# embedded defaults (SQLite), N devices running the real agent (ota-sim
# --fleet), a rollout in waves 1%,10%,50%,100% that promotes on the devices'
# confirmations. The fleet powers on again and again until the rollout
# completes. Reports the rollout's wall time, the server's CPU seconds and
# RSS (peak and after), the database's size, a /metrics scrape's time and
# size, and `otactl rollout show` at the end.
#
# usage: bench/rollout-bench.sh BUILD_DIR [DEVICES] [DB_URL]
#   DEVICES default 10000; DB_URL default the server's SQLite file
#   (postgresql://... to measure on PostgreSQL: the database must be empty).
set -euo pipefail
BUILD=${1:?usage: rollout-bench.sh BUILD_DIR [DEVICES] [DB_URL]}
N=${2:-10000}
DB=${3:-}
BIN=$(cd "$BUILD/bin" && pwd)
WORK=$(mktemp -d /tmp/ota-rollout-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OTA_ADMIN_TOKEN=rollout-bench-admin-token-0123456789
export OTA_SERVER=http://127.0.0.1:$PORT
ulimit -n 65536 2>/dev/null || true
DB_ARGS=()
[ -n "$DB" ] && DB_ARGS=(--db "$DB")
"$BIN/ota-server" --data "$WORK/data" --listen "127.0.0.1:$PORT" --rollout-tick 500 "${DB_ARGS[@]}" \
  >"$WORK/server.log" 2>&1 &
SERVER=$!
SAMPLER=
trap '[ -n "$SAMPLER" ] && kill $SAMPLER 2>/dev/null; kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
# Only what a fresh Debian 12 with `make deps` has: no ps, no bc.
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER/status"; }
# utime + stime of the server, in seconds.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' "/proc/$SERVER/stat"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
sim() { "$BIN/ota-sim" --server "$OTA_SERVER" --quiet "$@"; }
otactl() { "$BIN/otactl" "$@"; }
field() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

mkdir -p "$WORK/fw"
"$BIN/ota-fwgen" "$WORK/fw" --project fleet --size 32768 >/dev/null
otactl firmware upload 1.0.0 "$WORK/fw/firmware_1.0.0.bin" --product fleet >/dev/null
otactl firmware upload 1.0.1 "$WORK/fw/firmware_1.0.1.bin" --product fleet >/dev/null

echo "== $N devices: registered, first power-on and check-in"
t0=$(now)
sim --fleet "$N" --provision dev --product fleet --bundle "$WORK/b" --state "$WORK/s" \
  --image "$WORK/fw/firmware_1.0.0.bin" --version 1.0.0 --once --threads 64 >"$WORK/warm.json"
echo "  $(secs "$t0" "$(now)") s; server RSS $(rss) KiB, CPU $(cpu) s"

( while kill -0 $SERVER 2>/dev/null; do rss; sleep 0.5; done ) >"$WORK/rss.log" &
SAMPLER=$!
cpu0=$(cpu)
t0=$(now)
out=$(otactl --json rollout create --product fleet --version 1.0.1 --filter product=fleet \
  --waves 1%,10%,50%,100% --success 99% --max-failures 1% --confirm-within 30m --seed 7)
ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$out")
echo "== rollout $ID: waves 1%,10%,50%,100%, success 99%, max failures 1%"
state=running
cycles=0
updated=0
while [ "$state" != completed ] && [ $cycles -lt 12 ]; do
  cycles=$((cycles + 1))
  c0=$(now)
  s=$(sim --fleet "$N" --bundle "$WORK/b" --state "$WORK/s" --once --threads 64 | tail -n 1) || true
  u=$(field updated "$s"); updated=$((updated + ${u:-0}))
  sleep 1  # the timer (every 500 ms) promotes a wave that is done
  state=$(otactl --json rollout show "$ID" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  echo "  power-on $cycles: ${u:-0} updated in $(secs "$c0" "$(now)") s; rollout $state"
done
t1=$(now)
cpu1=$(cpu)
kill $SAMPLER 2>/dev/null || true
SAMPLER=
peak=$(sort -n "$WORK/rss.log" | tail -n 1)
otactl rollout show "$ID"
[ "$state" = completed ] || { echo "rollout-bench: the rollout did not complete ($state)" >&2; exit 1; }
if [ -z "$DB" ]; then
  db_size="$(du -cb "$WORK/data"/ota.db* | tail -n 1 | cut -f1) bytes (SQLite, with its WAL)"
else
  db_size=$(python3 - "$DB" <<'PY' 2>&1 || true
import subprocess, sys
url = sys.argv[1].split("://", 1)[1]
q = "SELECT pg_database_size(current_database())"
print(subprocess.run(["psql", url, "-tAc", q], capture_output=True, text=True, check=True).stdout.strip() + " bytes (PostgreSQL)")
PY
)
fi
m0=$(now)
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" "$OTA_SERVER/metrics" >"$WORK/metrics.txt"
m1=$(now)
echo "== figures ($N devices, $cycles power-on cycles, $updated updated)"
echo "  rollout wall time, created to completed: $(secs "$t0" "$t1") s"
echo "  server CPU during the rollout: $(secs "$cpu0" "$cpu1") s"
echo "  server RSS: peak $peak KiB, after $(rss) KiB"
echo "  database: $db_size"
echo "  /metrics scrape: $(awk -v a="$m0" -v b="$m1" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms, $(wc -c <"$WORK/metrics.txt") bytes"
grep -E '^ota_rollouts\{state="completed"\}|^ota_devices_running\{product="fleet"' "$WORK/metrics.txt" | sed 's/^/  /'
