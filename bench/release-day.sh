#!/usr/bin/env bash
# Release day (issue 21): a fleet spread over many base versions gets the
# newest release at once while a device with nothing to do keeps checking
# in. The 14 WLED ESP32 releases of the corpus are uploaded; DEVICES
# simulated devices (ota-sim --fleet, firmware-aware budget) are spread over
# the 13 older ones; one more device runs the newest and checks in every
# 50 ms. All are assigned the newest at once. Reports the idle check-in's
# latency (p50, p99, max) while the builds run, the time until every device
# runs the new release, the outcomes, and the build queue (GET /api/v1/patches).
#
# usage: bench/release-day.sh BUILD_DIR [DEVICES] [SERVER_THREADS]
#   DEVICES default 1000 (at least 13), SERVER_THREADS default 2
#   OTA_CORPUS (default ../shared/corpus) holds wled-esp32/*.bin; the server
#   runs on the last core, the fleet on the others (SERVER_CPUS, FLEET_CPUS)
set -euo pipefail
BUILD=${1:?usage: release-day.sh BUILD_DIR [DEVICES] [SERVER_THREADS]}
N=${2:-1000}
THREADS=${3:-2}
BIN=$(cd "$BUILD/bin" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
CORPUS=${OTA_CORPUS:-$HERE/../../shared/corpus}
[ -d "$CORPUS/wled-esp32" ] || { echo "release-day: no corpus at $CORPUS (set OTA_CORPUS); nothing to measure"; exit 0; }
[ "$N" -ge 13 ] || { echo "release-day: DEVICES must be at least 13"; exit 2; }
WORK=$(mktemp -d /tmp/ota-release-day-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OTA_ADMIN_TOKEN=release-day-admin-token-0123456789
export OTA_SERVER=http://127.0.0.1:$PORT
ulimit -n 65536 2>/dev/null || true
# The server on its own core(s), the simulated fleet and the poller on the
# others: the devices' own CPU (patching, hashing, flash) must not be what
# the idle check-in waits for. SERVER_CPUS / FLEET_CPUS override (taskset lists).
CORES=$(nproc)
SERVER_CPUS=${SERVER_CPUS:-$((CORES - 1))}
FLEET_CPUS=${FLEET_CPUS:-$([ "$CORES" -gt 1 ] && echo "0-$((CORES - 2))" || echo 0)}
echo "server on CPU $SERVER_CPUS, fleet on CPU $FLEET_CPUS"
taskset -c "$SERVER_CPUS" "$BIN/ota-server" --data "$WORK/data" --listen "127.0.0.1:$PORT" --threads "$THREADS" \
  >"$WORK/server.log" 2>&1 &
SERVER=$!
POLLER=
trap '[ -n "$POLLER" ] && kill $POLLER 2>/dev/null; kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
sim() { taskset -c "$FLEET_CPUS" "$BIN/ota-sim" --server "$OTA_SERVER" --quiet "$@"; }
otactl() { "$BIN/otactl" "$@"; }
grep -m1 "build threads" "$WORK/server.log" || true

# The releases, oldest first (the corpus's manifest order).
mapfile -t VERSIONS < <(awk -F'\t' '$1=="wled-esp32" { print $2 }' "$CORPUS/MANIFEST.tsv")
LATEST=${VERSIONS[-1]}
for v in "${VERSIONS[@]}"; do otactl firmware upload "$v" "$CORPUS/wled-esp32/$v.bin" --product wled-esp32 >/dev/null; done
echo "uploaded ${#VERSIONS[@]} releases; the newest is $LATEST"

# DEVICES spread over the 13 older releases; each group registered and
# powered on once (nothing assigned yet).
OLDER=$(( ${#VERSIONS[@]} - 1 ))
for ((i = 0; i < OLDER; i++)); do
  v=${VERSIONS[$i]}
  n=$(( N / OLDER + (i < N % OLDER ? 1 : 0) ))
  sim --fleet "$n" --provision "b$i" --product wled-esp32 --bundle "$WORK/b$i" --state "$WORK/s$i" \
    --image "$CORPUS/wled-esp32/$v.bin" --version "$v" --once --threads 16 --ram 49152 >/dev/null
done
sim --fleet 1 --provision idle --product wled-esp32 --bundle "$WORK/bi" --state "$WORK/si" \
  --image "$CORPUS/wled-esp32/$LATEST.bin" --version "$LATEST" --once --ram 49152 >/dev/null
echo "registered $N devices on $OLDER older releases and 1 on $LATEST"

# The idle device's check-ins, every 50 ms, each latency written in ms; on
# the server's core, so that the busy fleet core does not delay the asking.
IDLE_DIR=$(ls -d "$WORK/bi"/*/ | head -1)
taskset -c "$SERVER_CPUS" python3 - "$PORT" "$IDLE_DIR" "$CORPUS/wled-esp32/$LATEST.bin" "$LATEST" >"$WORK/idle.ms" <<'PY' &
import hashlib, http.client, json, os, sys, time
port, bundle, image, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
dev = json.load(open(os.path.join(bundle, "device.json")))
token = open(os.path.join(bundle, "device.token")).read().strip()
sha = hashlib.sha256(open(image, "rb").read()).hexdigest()
body = json.dumps({"version": version, "image_sha256": sha, "nonce": "00" * 16, "ram_budget": 49152})
path = "/api/v1/devices/%s/check-in" % dev["device_id"]
hdrs = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
while True:
    t = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.request("POST", path, body, hdrs)
        r = c.getresponse(); r.read(); c.close()
        status = r.status
    except Exception:
        status = 0
    print("%.2f %d" % ((time.monotonic() - t) * 1000, status), flush=True)
    time.sleep(0.05)
PY
POLLER=$!
sleep 1  # a baseline before the release

t0=$(now)
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d "{\"product\":\"wled-esp32\",\"version\":\"$LATEST\"}" "$OTA_SERVER/api/v1/updates" >/dev/null
pids=()
for ((i = 0; i < OLDER; i++)); do
  sim --fleet "$(ls "$WORK/b$i" | wc -l)" --bundle "$WORK/b$i" --state "$WORK/s$i" --once \
    --threads 8 --ram 49152 >"$WORK/run$i.json" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
t1=$(now)
kill $POLLER 2>/dev/null || true
POLLER=
echo "== every device done after $(secs "$t0" "$t1") s (fleet exit status $rc)"
python3 - "$WORK" "$OLDER" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
out, errors, waits = {}, [], 0
for i in range(n):
    j = json.loads(open(f"{work}/run{i}.json").read().strip().splitlines()[-1])
    for k, v in j["outcomes"].items(): out[k] = out.get(k, 0) + v
    errors += j["errors"]
print("outcomes:", json.dumps(out, sort_keys=True), "errors:", len(errors))
for e in errors[:5]: print("  ", e)
PY
python3 - "$WORK/idle.ms" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
ms = sorted(float(r[0]) for r in rows)
bad = sum(1 for r in rows if r[1] != "200")
pick = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))]
print("idle check-ins during the release: %d, p50 %.1f ms, p99 %.1f ms, max %.1f ms, over 1 s: %d, not 200: %d"
      % (len(ms), pick(0.5), pick(0.99), ms[-1], sum(1 for m in ms if m > 1000), bad))
PY
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" "$OTA_SERVER/api/v1/patches?product=wled-esp32" | python3 -c '
import json, sys
b = json.load(sys.stdin).get("builds", [])
ready = [x for x in b if x["state"] == "ready"]
print("builds: %d (%s); build seconds total %.1f, max %.1f" % (len(b),
      ", ".join("%s %d" % (s, sum(1 for x in b if x["state"] == s)) for s in ("ready", "failed", "queued", "building")),
      sum(x["build_seconds"] for x in ready), max([x["build_seconds"] for x in ready] or [0])))
for x in b:
    if x["state"] != "ready": print("  ", x["label"], x["state"], x["error"])'
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" "$OTA_SERVER/metrics" | grep '^ota_check_ins_total' || true
