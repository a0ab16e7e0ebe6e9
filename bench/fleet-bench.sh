#!/usr/bin/env bash
# DESIGN.md §5 "slow devices": many simulated devices polling, and many slow
# downloads at once, against one ota-server on loopback. Reports errors, the
# poll rate, and the server's memory before, during and after.
#
# usage: bench/fleet-bench.sh BUILD_DIR [POLLING_DEVICES] [SLOW_DOWNLOADS]
#   defaults: 10000 devices polling (3 cycles), 1000 concurrent downloads at 20 KB/s
set -euo pipefail
BUILD=${1:?usage: fleet-bench.sh BUILD_DIR [POLLING_DEVICES] [SLOW_DOWNLOADS]}
POLLERS=${2:-10000}
SLOW=${3:-1000}
BIN=$(cd "$BUILD/bin" && pwd)
WORK=$(mktemp -d /tmp/ota-fleet-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OTA_ADMIN_TOKEN=fleet-bench-admin-token-0123456789
export OTA_SERVER=http://127.0.0.1:$PORT
ulimit -n 65536 2>/dev/null || true
"$BIN/ota-server" --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
rss() { ps -o rss= -p "$SERVER" | tr -d ' '; }
field() { sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p" <<<"$2"; }

# Small synthetic firmware for the pollers (they hash their image at every
# power-on), a larger one for the slow downloads.
mkdir -p "$WORK/small" "$WORK/large"
"$BIN/ota-fwgen" "$WORK/small" --project fleet --size 32768 >/dev/null
"$BIN/ota-fwgen" "$WORK/large" --project slow --size 400000 --seed 3 >/dev/null
"$BIN/otactl" firmware upload 1.0.0 "$WORK/small/firmware_1.0.0.bin" --product fleet >/dev/null
"$BIN/otactl" firmware upload 2.0.1 "$WORK/large/firmware_1.0.1.bin" --product slow >/dev/null

echo "server RSS at start: $(rss) KiB"
echo "== $POLLERS devices polling"
sim() { "$BIN/ota-sim" --server "$OTA_SERVER" --quiet "$@"; }
t0=$(date +%s.%N)
sim --fleet "$POLLERS" --provision poll --product fleet --bundle "$WORK/pb" --state "$WORK/ps" \
  --image "$WORK/small/firmware_1.0.0.bin" --version 1.0.0 --once --threads 64 >"$WORK/warm.json"
echo "registered and first check-in of $POLLERS devices: $(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)") s"
out=$(sim --fleet "$POLLERS" --bundle "$WORK/pb" --state "$WORK/ps" --poll 0 --cycles 3 --threads 64 | tail -n 1) || true
echo "$out"
polls=$(field polls "$out")
secs=$(field seconds "$out")
printf 'polls: %s in %.1f s = %.0f device power-on+check-in cycles/s; server RSS %s KiB\n' \
  "$polls" "$secs" "$(echo "$polls / $secs" | bc -l)" "$(rss)"

echo "== $SLOW concurrent slow downloads (20 KB/s each, a full ~400 KB image)"
sim --fleet "$SLOW" --provision slow --product slow --bundle "$WORK/sb" --state "$WORK/ss" \
  --image "$WORK/large/firmware_1.0.0.bin" --version 1.0.0 --once --threads 64 >/dev/null
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"product":"slow","version":"2.0.1"}' "$OTA_SERVER/api/v1/updates" >/dev/null
peak=0
( while kill -0 $SERVER 2>/dev/null; do r=$(rss); echo "$r"; sleep 1; done ) >"$WORK/rss.log" &
SAMPLER=$!
out=$(sim --fleet "$SLOW" --bundle "$WORK/sb" --state "$WORK/ss" --once --threads "$SLOW" --rate 20000 | tail -n 1) || true
kill $SAMPLER 2>/dev/null || true
peak=$(sort -n "$WORK/rss.log" | tail -n 1)
echo "$out"
echo "server RSS peak during the downloads: $peak KiB; after: $(rss) KiB"
