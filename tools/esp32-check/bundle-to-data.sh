#!/usr/bin/env bash
# Turns a provisioning bundle (otactl device add ... --out BUNDLE_DIR;
# docs/protocol.md §1) into the Arduino example's LittleFS data/ folder.
#
# usage: bundle-to-data.sh BUNDLE_DIR DATA_DIR --wifi-ssid SSID --wifi-password PASSWORD
#        (or WIFI_SSID / WIFI_PASSWORD in the environment)
#
# DATA_DIR gets device.json, device.key, device.token, server_pub.pem,
# ca.pem (when the bundle has one) and wifi.json; then
#   cd examples/esp32-client && pio run -t uploadfs
# writes them to the board. The files hold the device's secrets (device.key,
# device.token): DATA_DIR is made 0700 and git-ignored in the example.
set -euo pipefail

die() { echo "bundle-to-data: $*" >&2; exit 1; }
[ $# -ge 2 ] || { echo "usage: $0 BUNDLE_DIR DATA_DIR [--wifi-ssid SSID] [--wifi-password PASSWORD]" >&2; exit 2; }
BUNDLE=$1
DATA=$2
shift 2
SSID=${WIFI_SSID:-}
PASS=${WIFI_PASSWORD:-}
while [ $# -gt 0 ]; do
  case "$1" in
    --wifi-ssid) [ $# -ge 2 ] || die "--wifi-ssid needs a value"; SSID=$2; shift 2 ;;
    --wifi-password) [ $# -ge 2 ] || die "--wifi-password needs a value"; PASS=$2; shift 2 ;;
    *) die "unknown option: $1" ;;
  esac
done

[ -d "$BUNDLE" ] || die "$BUNDLE: not a folder"
for f in device.json device.key server_pub.pem; do
  [ -f "$BUNDLE/$f" ] || die "$BUNDLE/$f missing: not a provisioning bundle"
done
[ "$(wc -c < "$BUNDLE/device.key")" -eq 32 ] || die "$BUNDLE/device.key is not 32 bytes"
grep -q -- '-----BEGIN PUBLIC KEY-----' "$BUNDLE/server_pub.pem" || die "$BUNDLE/server_pub.pem is not a PEM public key"
[ -n "$SSID" ] || die "no Wi-Fi SSID: --wifi-ssid SSID (or WIFI_SSID=...)"
[ ${#SSID} -le 32 ] || die "the Wi-Fi SSID is longer than 32 bytes"
[ ${#PASS} -le 64 ] || die "the Wi-Fi password is longer than 64 bytes"
command -v python3 >/dev/null || die "python3 is needed (JSON)"

url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("server_url",""))' "$BUNDLE/device.json") ||
  die "$BUNDLE/device.json is not JSON"
case "$url" in
  https://*) [ -f "$BUNDLE/ca.pem" ] || die "server_url is $url but the bundle has no ca.pem (otactl device add ... --ca CA.pem)" ;;
  http://*) echo "bundle-to-data: warning: server_url $url is plain HTTP (no TLS)" >&2 ;;
  *) die "server_url '$url' in device.json is neither https:// nor http://" ;;
esac

mkdir -p "$DATA"
chmod 700 "$DATA"
cp "$BUNDLE/device.json" "$BUNDLE/device.key" "$BUNDLE/server_pub.pem" "$DATA/"
[ -f "$BUNDLE/device.token" ] && cp "$BUNDLE/device.token" "$DATA/"
[ -f "$BUNDLE/ca.pem" ] && cp "$BUNDLE/ca.pem" "$DATA/"
python3 -c 'import json,sys; print(json.dumps({"ssid": sys.argv[1], "password": sys.argv[2]}))' "$SSID" "$PASS" \
  > "$DATA/wifi.json"
chmod 600 "$DATA"/*
echo "bundle-to-data: $(ls "$DATA" | tr '\n' ' ')-> $DATA (server $url)"
