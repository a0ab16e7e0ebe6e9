#!/usr/bin/env bash
# `make demo`: a newcomer's first five minutes. Starts ota-server on its
# embedded defaults (SQLite, local files, keys made on first start) in a
# fresh directory, provisions a simulated device, uploads two firmware
# versions (real ones from ../shared/corpus when present, else synthetic),
# assigns the newer one, and lets the device update itself while it shows
# each state and its progress. Ends with the bytes the delta saved.
#
# usage: tools/demo/demo.sh BUILD_DIR [PORT]
set -euo pipefail

BUILD=${1:?usage: demo.sh BUILD_DIR [PORT]}
PORT=${2:-8070}
if [[ $PORT == 0 ]]; then  # any free loopback port (the test suite's way)
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi
BIN=$(cd "$BUILD/bin" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEMO=${OTA_DEMO_DIR:-$ROOT/var/demo}
rm -rf "$DEMO"
mkdir -p "$DEMO"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The firmware: two consecutive real releases, or two synthetic ones.
CORPUS=${OTA_CORPUS:-$ROOT/../shared/corpus}
if [[ -f $CORPUS/wled-esp32/0.14.0-b3.bin && -f $CORPUS/wled-esp32/0.14.0-b4.bin ]]; then
  OLD=$CORPUS/wled-esp32/0.14.0-b3.bin
  NEW=$CORPUS/wled-esp32/0.14.0-b4.bin
  PRODUCT=wled-esp32   # the admin's name for the product; the images call themselves esp32-arduino-lib-builder
  WHAT="WLED 0.14.0-b3 -> 0.14.0-b4 (real ESP32 firmware from the corpus)"
else
  "$BIN/ota-fwgen" "$DEMO" --project ota-demo >/dev/null
  OLD=$DEMO/firmware_1.0.0.bin
  NEW=$DEMO/firmware_1.0.1.bin
  PRODUCT=ota-demo
  WHAT="two synthetic ESP32 releases (no corpus found)"
fi

# 1. The server, on its embedded defaults, in a fresh data directory.
export OTA_ADMIN_TOKEN
OTA_ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export OTA_SERVER=http://127.0.0.1:$PORT
say "1. Starting ota-server on $OTA_SERVER (data in $DEMO/data)"
"$BIN/ota-server" --data "$DEMO/data" --listen "127.0.0.1:$PORT" >"$DEMO/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break
  kill -0 $SERVER 2>/dev/null || { cat "$DEMO/server.log"; echo "demo: the server did not start" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$OTA_SERVER/healthz" >/dev/null || { echo "demo: the server does not answer on port $PORT" >&2; exit 1; }
echo "   signing key, master key and database made on first start; admin token in \$OTA_ADMIN_TOKEN"

# 2. A device: register it and write its provisioning bundle.
say "2. Provisioning device demo-1 (bundle in $DEMO/bundle)"
"$BIN/otactl" device add demo-1 --out "$DEMO/bundle" --product "$PRODUCT" >/dev/null
ls "$DEMO/bundle" | sed 's/^/   /'

# 3. Two firmware versions.
say "3. Uploading $WHAT"
"$BIN/otactl" firmware upload 1.0.0 "$OLD" --product "$PRODUCT" >/dev/null
"$BIN/otactl" firmware upload 1.0.1 "$NEW" --product "$PRODUCT" >/dev/null
"$BIN/otactl" firmware list --product "$PRODUCT" | sed 's/^/   /'

# 4. Assign the newer one.
say "4. Assigning 1.0.1 to demo-1"
"$BIN/otactl" update assign demo-1 1.0.1 >/dev/null
echo "   queued"

# 5. The device: starts on 1.0.0, checks in, downloads, verifies, switches, confirms.
# It gives the patch decoder 48 KiB, as the ESP32 examples do: the server
# then sends the firmware-aware delta (docs/reloc.md).
say "5. The simulated device (the very agent an ESP32 runs) checks in, on a 250 KB/s link"
"$BIN/ota-sim" --bundle "$DEMO/bundle" --state "$DEMO/device" --image "$OLD" --version 1.0.0 --once \
  --rate 250000 --ram 49152 --progress --summary "$DEMO/summary.json"
SUMMARY=$(cat "$DEMO/summary.json")

field() { sed -n "s/.*\"$1\":\\(\"[^\"]*\"\\|[0-9]*\\).*/\\1/p" <<<"$SUMMARY" | tr -d '"'; }
OUTCOME=$(field outcome)
VERSION=$(field version)
STREAM=$(field bytes_downloaded)
FULL=$(stat -c %s "$NEW")

say "6. Result"
echo "   outcome: $OUTCOME, the device now runs $VERSION"
echo "   server's view of demo-1:"
"$BIN/otactl" device show demo-1 | sed 's/^/     /'
if [[ $OUTCOME == updated && -n $STREAM && $STREAM -gt 0 ]]; then
  SAVED=$((FULL - STREAM))
  echo "   downloaded $STREAM bytes (signed, encrypted delta) instead of the $FULL-byte image:"
  awk -v s="$STREAM" -v f="$FULL" -v d="$SAVED" \
    'BEGIN { printf "   %d bytes saved, %.1f%% of the image sent\n", d, 100.0 * s / f }'
else
  echo "demo: the device did not update (see $DEMO/summary.json and $DEMO/server.log)" >&2
  exit 1
fi
echo
echo "Try it again with faults: $BIN/ota-sim --help"
