#!/usr/bin/env bash
# ota-sim --fleet against a real server on loopback: registers 20 devices
# (--provision), lets them check in (nothing to do), assigns a release to
# their product and runs the fleet again: all 20 update, none errs.
# With OTA_TEST_DB=postgresql (the sim_fleet/postgresql test) the server's
# database is a fresh one on the suite's PostgreSQL cluster: the first line
# of $OTA_TEST_POSTGRES_URL_FILE is its admin URL, $OTA_TEST_PSQL its psql.
# usage: sim_fleet_test.sh BIN_DIR WORK_DIR
set -euo pipefail
BIN=$1
WORK=$2
rm -rf "$WORK"
mkdir -p "$WORK"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export OTA_ADMIN_TOKEN=fleet-test-admin-token-0123456789
export OTA_SERVER=http://127.0.0.1:$PORT
DB=()
if [[ ${OTA_TEST_DB:-} == postgresql ]]; then
  admin=$(head -n 1 "$OTA_TEST_POSTGRES_URL_FILE")
  conninfo=${admin#postgresql://}  # the keyword form after the scheme is libpq's own
  db="ota_sim_fleet_$$"
  "$OTA_TEST_PSQL" -X -q -v ON_ERROR_STOP=1 "$conninfo" -c "CREATE DATABASE $db"
  DB=(--db "$admin dbname='$db'")
  drop_db() { "$OTA_TEST_PSQL" -X -q "$conninfo" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true; }
else
  drop_db() { :; }
fi
"$BIN/ota-server" --data "$WORK/data" --listen "127.0.0.1:$PORT" "${DB[@]}" >"$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true; drop_db' EXIT
for _ in $(seq 100); do curl -fsS "$OTA_SERVER/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
if [[ ${#DB[@]} -gt 0 ]]; then
  grep -q "database PostgreSQL" "$WORK/server.log" || { cat "$WORK/server.log"; echo "not on PostgreSQL"; exit 1; }
fi

"$BIN/ota-fwgen" "$WORK" --project fleet --size 65536 >/dev/null
"$BIN/otactl" firmware upload 1.0.0 "$WORK/firmware_1.0.0.bin" --product fleet >/dev/null
"$BIN/otactl" firmware upload 1.0.1 "$WORK/firmware_1.0.1.bin" --product fleet >/dev/null

fleet() {
  "$BIN/ota-sim" --fleet 20 --server "$OTA_SERVER" --bundle "$WORK/bundles" --state "$WORK/devices" \
    --image "$WORK/firmware_1.0.0.bin" --version 1.0.0 --quiet --threads 8 "$@"
}
first=$(fleet --provision fleet --product fleet --once | tail -n 1)
echo "before the assignment: $first"
grep -q '"outcomes":{"up_to_date":20}' <<<"$first"
curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" -H 'Content-Type: application/json' \
  -d '{"product":"fleet","version":"1.0.1"}' "$OTA_SERVER/api/v1/updates" >/dev/null
second=$(fleet --poll 0 --cycles 2 | tail -n 1)
echo "after: $second"
grep -q '"outcomes":{"up_to_date":20,"updated":20}' <<<"$second"
grep -q '"errors":\[\]' <<<"$second"
# The server saw every device confirm 1.0.1.
n=$(curl -fsS -H "Authorization: Bearer $OTA_ADMIN_TOKEN" "$OTA_SERVER/api/v1/devices" | grep -o '"running_version":"1.0.1"' | wc -l)
[[ $n -eq 20 ]] || { echo "only $n devices report 1.0.1"; exit 1; }
echo "fleet of 20: OK"
