#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A private PostgreSQL cluster for the test suite: the CTest fixture
# `postgres` (tests/CMakeLists.txt) runs `start` before the first test that
# needs it and `stop` after the last one, also when tests fail.
#
#   pg-cluster.sh start DIR URL_FILE PG_BINDIR
#   pg-cluster.sh stop  DIR URL_FILE PG_BINDIR
#
# start: initdb in DIR/data (a fresh one each time), as an unprivileged user
# (PostgreSQL refuses to run as root, and CI runs as root: then as `nobody`),
# listening on a Unix socket only (no TCP port, so nothing else on the
# machine can reach it or collide with it), with trust authentication for
# the role `ota`. Writes the admin URL (Store::open form) to URL_FILE. When
# DIR is not reachable by that user, or too long for a socket path, the
# cluster lives in a fresh directory under /tmp and DIR/location names it.
# A watchdog stops the cluster if the process that started the script
# (CTest) dies without running `stop`.
#
# stop: stops the cluster (fast shutdown), removes it and URL_FILE.
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 start|stop DIR URL_FILE PG_BINDIR" >&2; exit 2; }
action=$1 dir=$2 url_file=$3 bindir=$4
for tool in initdb pg_ctl postgres; do
  [ -x "$bindir/$tool" ] || { echo "pg-cluster: $bindir/$tool missing (install postgresql)" >&2; exit 1; }
done

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

cluster_root() {
  if [ -f "$dir/location" ]; then cat "$dir/location"; else echo "$dir/cluster"; fi
}

stop_cluster() {
  local root
  root=$(cluster_root)
  if [ -f "$root/data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$root/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_owner "$bindir/pg_ctl" -D "$root/data" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
  fi
  if [ -f "$dir/watchdog.pid" ]; then
    kill "$(cat "$dir/watchdog.pid")" 2>/dev/null || true
  fi
  rm -rf "$root" "$dir/cluster" "$dir/location" "$dir/watchdog.pid" "$url_file"
}

if [ "$action" = stop ]; then
  stop_cluster
  echo "pg-cluster: stopped"
  exit 0
fi
[ "$action" = start ] || { echo "usage: $0 start|stop DIR URL_FILE PG_BINDIR" >&2; exit 2; }

stop_cluster  # a cluster left by an interrupted run
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
root="$dir/cluster"
# The socket path ($root/.s.PGSQL.5432) must fit in sockaddr_un (107 bytes),
# and every directory above $root must let the owner through.
mkdir -p "$root"
[ "$(id -u)" = 0 ] && chown nobody:nogroup "$root"
if [ ${#root} -gt 80 ] || ! as_owner test -w "$root"; then
  rm -rf "$root"
  root=$(mktemp -d /tmp/ota-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown nobody:nogroup "$root"
  echo "$root" >"$dir/location"
fi

as_owner "$bindir/initdb" -D "$root/data" -U ota --auth=trust --no-sync -E UTF8 --locale=C \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
# Durability is not what these tests measure: no fsync, for speed.
cat >>"$root/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$root'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
if ! as_owner "$bindir/pg_ctl" -D "$root/data" -l "$root/server.log" -w -t 60 start >/dev/null; then
  cat "$root/server.log" >&2 || true
  exit 1
fi

# The watchdog: CTest started this script; if CTest goes away without the
# cleanup fixture (killed, interrupted), the cluster goes with it. Its
# output goes nowhere, so that CTest does not wait for it.
ctest_pid=$PPID
setsid bash -c "while kill -0 $ctest_pid 2>/dev/null; do sleep 2; done
  $(declare -f as_owner cluster_root stop_cluster)
  dir='$dir' url_file='$url_file' bindir='$bindir'; rm -f \"\$dir/watchdog.pid\"; stop_cluster" \
  </dev/null >/dev/null 2>&1 &
echo $! >"$dir/watchdog.pid"

echo "postgresql://host='$root' port=5432 user='ota' dbname='postgres'" >"$url_file"
version=$("$bindir/postgres" --version)
echo "pg-cluster: $version running on the Unix socket in $root (data $root/data; URL in $url_file)"
