#!/usr/bin/env bash
# Bytes downloaded again after a reset in the middle of an update, with and
# without the agent's checkpoints (delta resume), for a delta and for a full
# image: N simulated devices each lose power once at a random flash byte
# (ota-sim --power-cut-random SEED) and must still end updated.
#
# usage: bench/resume-bench.sh BUILD_DIR [RUNS]
set -euo pipefail
BUILD=${1:?usage: resume-bench.sh BUILD_DIR [RUNS]}
RUNS=${2:-20}
BIN=$(cd "$BUILD/bin" && pwd)
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/ota-resume-bench-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OTA_ADMIN_TOKEN=resume-bench-admin-token-0123456789
export OTA_SERVER=http://127.0.0.1:$PORT
"$BIN/ota-server" --data "$WORK/data" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

CORPUS=${OTA_CORPUS:-$ROOT/../shared/corpus}
if [[ -f $CORPUS/wled-esp32/0.14.0-b5.bin ]]; then
  UNKNOWN=$CORPUS/wled-esp32/0.14.0-b3.bin   # not uploaded: the server sends the full image
  OLD=$CORPUS/wled-esp32/0.14.0-b4.bin
  NEW=$CORPUS/wled-esp32/0.14.0-b5.bin
  PRODUCT=wled-esp32
  echo "firmware: WLED 0.14.0-b4 -> b5 (delta), 0.14.0-b3 -> b5 (full image)"
else
  "$BIN/ota-fwgen" "$WORK" --project bench --size 600000 --seed 1 >/dev/null
  mv "$WORK/firmware_1.0.0.bin" "$WORK/unknown.bin"
  "$BIN/ota-fwgen" "$WORK" --project bench --size 600000 --seed 2 >/dev/null
  UNKNOWN=$WORK/unknown.bin OLD=$WORK/firmware_1.0.0.bin NEW=$WORK/firmware_1.0.1.bin PRODUCT=bench
  echo "firmware: synthetic (no corpus)"
fi
"$BIN/otactl" firmware upload 1.0.0 "$OLD" --product "$PRODUCT" >/dev/null
"$BIN/otactl" firmware upload 1.0.1 "$NEW" --product "$PRODUCT" >/dev/null

field() { sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p" <<<"$2"; }
sfield() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p" <<<"$2"; }

printf '\n%-12s %-14s %5s %8s %10s %14s %12s %10s\n' payload resume runs updated stream re-downloaded "mean/run" "max/run"
n=0
for payload in delta full; do
  image=$OLD
  [[ $payload == full ]] && image=$UNKNOWN
  for mode in checkpoints none; do
    flags=()
    [[ $mode == none ]] && flags=(--no-checkpoint)
    updated=0 total=0 max=0 stream=0
    for seed in $(seq 1 "$RUNS"); do
      n=$((n + 1))
      id=dev-$n
      "$BIN/otactl" device add "$id" --out "$WORK/b/$id" --product "$PRODUCT" >/dev/null
      "$BIN/otactl" update assign "$id" 1.0.1 >/dev/null
      out=$("$BIN/ota-sim" --bundle "$WORK/b/$id" --state "$WORK/s/$id" --image "$image" --version 1.0.0 \
            --once --quiet --power-cut-random "$seed" "${flags[@]}" | tail -n 1) || true
      [[ $(sfield outcome "$out") == updated ]] && updated=$((updated + 1))
      got=$(field bytes_downloaded "$out")
      stream=$(field stream_size "$out")
      extra=$((got - stream))
      total=$((total + extra))
      ((extra > max)) && max=$extra
      rm -rf "$WORK/s/$id"
    done
    printf '%-12s %-14s %5d %8d %10d %14d %12d %10d\n' "$payload" "$mode" "$RUNS" "$updated" "$stream" \
      "$total" $((total / RUNS)) "$max"
  done
done
echo
echo "(each run: one power cut at a random flash byte in [0, 2 x image size]; re-downloaded ="
echo " bytes_downloaded - stream size; checkpoints every 64 KiB of payload, ota-sim's default)"
