#!/usr/bin/env bash
# Device check-in throughput of ota-server beside nginx serving a static file
# of the same size, same machine, same wrk command (DESIGN.md §5), all on
# loopback. Each server is pinned to one core, wrk to the other; CPU per
# request comes from the server's /proc/PID/stat (utime + stime).
#
# usage: bench/server-bench.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=$(cd "$1" && pwd)
secs=${2:-10}
for tool in wrk nginx taskset curl; do
  command -v $tool >/dev/null || { echo "server-bench: $tool is missing (make bench-deps)"; exit 1; }
done
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

# Runs wrk (on WRK_CPUS, default core 0) against URL for server PID; prints
# "req/s us_cpu_per_request cores_used" (the server's CPU seconds over the
# run's seconds).
measure() {
  local pid=$1 url=$2 script=${3:-}
  local t0; t0=$(cpu_ticks "$pid")
  local out; out=$(taskset -c "${WRK_CPUS:-0}" wrk -t1 -c64 -d"${secs}s" --latency ${script:+-s "$script"} "$url")
  local t1; t1=$(cpu_ticks "$pid")
  local rps total
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  local errors; errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
  [ -n "$errors" ] && echo "  wrk reported: $errors" >&2
  awk -v r="$rps" -v t="$total" -v d="$((t1 - t0))" -v hz="$hz" -v s="$secs" \
    'BEGIN { printf "%s %.1f %.2f\n", r, (d / hz) * 1e6 / t, d / hz / s }'
}

# --- ota-server with one device that has an update pending.
port=$(free_port)
token=bench-token-0123456789abcdef
# start_server THREADS CPUS: ota-server on the bench's data folder with
# THREADS request threads, pinned to the taskset list CPUS; sets server_pid.
start_server() {
  OTA_ADMIN_TOKEN=$token taskset -c "$2" "$build/bin/ota-server" --data "$work/var" --listen "127.0.0.1:$port" \
    --threads "$1" >>"$work/server.log" 2>&1 &
  server_pid=$!
  pids+=($server_pid)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
  echo "server-bench: the server did not start" >&2; cat "$work/server.log" >&2; exit 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; }
start_server 1 1
auth="Authorization: Bearer $token"
S=http://127.0.0.1:$port
python3 - "$work" <<'PY'
import sys, struct, hashlib
w = sys.argv[1]
def app(version, seed):
    # A valid ESP32 app image: DROM (app descriptor), IROM, IRAM; checksum; SHA-256.
    desc = bytearray(256); struct.pack_into('<I', desc, 0, 0xABCD5432)
    desc[16:16+len(version)] = version.encode(); desc[48:52] = b'demo'
    irom = bytes((i * 31 + seed) & 0xFF for i in range(65536))
    iram = bytes(64)
    img = bytearray(24); img[0] = 0xE9; img[1] = 3; img[2] = 2; img[3] = 0x20
    struct.pack_into('<I', img, 4, 0x40080010); img[8] = 0xEE; struct.pack_into('<H', img, 17, 0xFFFF); img[23] = 1
    def seg(addr, data):
        img.extend(struct.pack('<II', addr, len(data))); img.extend(data)
    seg(0x3F400020, desc)
    seg(0x400D0000 + len(img) + 8, irom)
    seg(0x40080000, iram)
    s = 0xEF
    for d in (desc, irom, iram):
        for b in d: s ^= b
    while len(img) % 16 != 15: img.append(0)
    img.append(s)
    img.extend(hashlib.sha256(img).digest())
    return bytes(img)
open(f"{w}/v1.bin", "wb").write(app("1.0.0", 1))
open(f"{w}/v2.bin", "wb").write(app("1.0.1", 2))
PY
curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"device_id":"esp32_01"}' $S/api/v1/devices \
  >"$work/dev1.json"
curl -sf -H "$auth" -H 'Content-Type: application/json' -d '{"device_id":"idle_01"}' $S/api/v1/devices \
  >"$work/dev2.json"
curl -sf -H "$auth" -F version=1.0.0 -F "file=@$work/v1.bin" $S/upload_firmware/ >/dev/null
curl -sf -H "$auth" -F version=1.0.1 -F "file=@$work/v2.bin" $S/upload_firmware/ >/dev/null
curl -sf -H "$auth" -F old_version=1.0.0 -F new_version=1.0.1 $S/make_patch/ >/dev/null
curl -sf -H "$auth" -F device_id=esp32_01 -F old_version=1.0.0 -F new_version=1.0.1 $S/instruct_update/ >/dev/null
check_url="$S/check_update/?device_id=esp32_01&version=1.0.0"
body=$(curl -sf "$check_url")
echo "check_update answer (${#body} bytes): $body"

# wrk scripts for the versioned check-in (POST, device token): one device
# with nothing to do, one that gets a freshly signed manifest every time.
v1_sha=$(sha256sum "$work/v1.bin" | cut -d' ' -f1)
for who in dev1 dev2; do
  python3 - "$work/$who.json" "$v1_sha" >"$work/$who.lua" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
body = json.dumps({"version": "1.0.0", "image_sha256": sys.argv[2], "nonce": "00112233445566778899aabbccddeeff"})
print('wrk.method = "POST"')
print('wrk.body = ' + json.dumps(body))
print('wrk.headers["Content-Type"] = "application/json"')
print('wrk.headers["Authorization"] = "Bearer ' + d["device_token"] + '"')
PY
done
dev1_id=esp32_01; dev2_id=idle_01
echo "v1 check-in (update pending): $(curl -sf -X POST -H "Authorization: Bearer $(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["device_token"])' "$work/dev1.json")" \
  -H 'Content-Type: application/json' -d "{\"version\":\"1.0.0\",\"image_sha256\":\"$v1_sha\",\"nonce\":\"00112233445566778899aabbccddeeff\"}" \
  $S/api/v1/devices/$dev1_id/check-in | head -c 120)..."


# --- nginx serving the same bytes as a static file.
nport=$(free_port)
mkdir -p "$work/www" "$work/nginx"
printf '%s' "$body" >"$work/www/check.json"
chmod 755 "$work" "$work/www"; chmod 644 "$work/www/check.json"  # nginx workers run as www-data
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx; proxy_temp_path $work/nginx; fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx; scgi_temp_path $work/nginx;
  server { listen 127.0.0.1:$nport; root $work/www; }
}
EOF
taskset -c 1 nginx -c "$work/nginx.conf" -p "$work/nginx"
sleep 0.3
nginx_worker=$(pgrep -P "$(cat "$work/nginx.pid")" | head -1)

echo "measuring ${secs}s each (wrk -t1 -c64, server pinned to core 1, wrk to core 0)"
read -r ours_rps ours_cpu _ < <(measure "$server_pid" "$check_url")
if [ -n "${BENCH_HEALTHZ:-}" ]; then read -r h_rps h_cpu _ < <(measure "$server_pid" "$S/healthz"); echo "healthz: $h_rps req/s, $h_cpu us/request"; fi
read -r nginx_rps nginx_cpu _ < <(measure "$nginx_worker" "http://127.0.0.1:$nport/check.json")
read -r idle_rps idle_cpu _ < <(measure "$server_pid" "$S/api/v1/devices/$dev2_id/check-in" "$work/dev2.lua")
read -r upd_rps upd_cpu _ < <(measure "$server_pid" "$S/api/v1/devices/$dev1_id/check-in" "$work/dev1.lua")
printf '\n%-34s %12s %16s\n' "" "requests/s" "CPU us/request"
printf '%-34s %12s %16s\n' "ota-server GET /check_update/" "$ours_rps" "$ours_cpu"
printf '%-34s %12s %16s\n' "nginx static file (same bytes)" "$nginx_rps" "$nginx_cpu"
printf '%-34s %12s %16s\n' "v1 check-in, nothing to do" "$idle_rps" "$idle_cpu"
printf '%-34s %12s %16s\n' "v1 check-in, signed manifest" "$upd_rps" "$upd_cpu"
awk -v a="$ours_rps" -v b="$nginx_rps" -v c="$ours_cpu" \
  'BEGIN { printf "ratio to nginx: %.2f (target >= 0.50); vs the original design (184 us/request): %.1fx less CPU (target >= 10x)\n", a / b, 184 / c }'

# --- Scaling with cores (issue 21): the server restarted on the same data
# with T request threads pinned to min(T, cores) cores, for each T of
# BENCH_THREADS (default "1 2 4"). At T=1 wrk has a core of its own; once the
# server is given every core, wrk shares them (its own CPU is what the
# server cannot have), so "cores used" says how much of the machine the
# server really took, and CPU per request whether a core's work per request
# grew (contention) as threads were added.
cores=$(nproc)
declare -A base_rps
printf '\n%-34s %8s %6s %12s %10s %10s %9s\n' "scaling with threads (pinned)" threads cores requests/s "cores used" "us/request" speedup
for T in ${BENCH_THREADS:-1 2 4}; do
  n=$(( T < cores ? T : cores ))
  stop_server
  if [ "$n" -lt "$cores" ]; then cpus="$((cores - n))-$((cores - 1))"; wrk_cpus=0; else cpus="0-$((cores - 1))"; wrk_cpus=$cpus; fi
  start_server "$T" "$cpus"
  for what in idle upd; do
    if [ $what = idle ]; then id=$dev2_id; lua=dev2; label="v1 check-in, nothing to do"; else id=$dev1_id; lua=dev1; label="v1 check-in, signed manifest"; fi
    read -r rps cpu used < <(WRK_CPUS=$wrk_cpus measure "$server_pid" "$S/api/v1/devices/$id/check-in" "$work/$lua.lua")
    [ -n "${base_rps[$what]:-}" ] || base_rps[$what]=$rps  # the first T is the baseline
    speedup=$(awk -v a="$rps" -v b="${base_rps[$what]}" 'BEGIN { printf "%.2fx", a / b }')
    printf '%-34s %8s %6s %12s %10s %10s %9s\n' "$label" "$T" "$n" "$rps" "$used" "$cpu" "$speedup"
  done
done
echo "(cores on this machine: $cores; wrk on core 0 while the server has fewer than all, else beside it)"
