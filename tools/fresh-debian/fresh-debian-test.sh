#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The README's promise, tried where no earlier install can help: a fresh
# Debian 12 root file system (debootstrap's minbase, plus make and git), a
# fresh clone of this repository's HEAD with ../shared beside it read-only,
# and `make <targets>` run in it as root, as CI does. The package archive is
# the only network it needs. Not part of `make test` (it needs root, mounts,
# and half an hour); `make check-deps` is the check that runs everywhere.
#
# usage: tools/fresh-debian/fresh-debian-test.sh ROOTFS [TARGET...]   (default TARGET: test)
#   ROOTFS   a directory for the root file system: made with debootstrap
#            when empty, reused as it is otherwise (`rm -rf` it for a new one)
#   OTA_FRESH_MIRROR   the Debian mirror (default http://deb.debian.org/debian)
#   OTA_FRESH_JOBS     make's JOBS inside (default: nproc)
#
# The clone is of HEAD: commit (or stash) what should be tried. Each run
# clones afresh into ROOTFS/work/main; the build's ccache in ROOTFS/root is
# kept unless OTA_FRESH_COLD=1 (then the run is from a cold cache).
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "fresh-debian-test: run as root (debootstrap, chroot, mounts)" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: $0 ROOTFS [TARGET...]" >&2; exit 2; }
ROOTFS=$(mkdir -p "$1" && cd "$1" && pwd)
shift
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(test)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$(cd "$REPO/.." && pwd)/shared
MIRROR=${OTA_FRESH_MIRROR:-http://deb.debian.org/debian}
JOBS=${OTA_FRESH_JOBS:-$(nproc)}

command -v debootstrap >/dev/null ||
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap

if [ ! -f "$ROOTFS/etc/debian_version" ]; then
  echo "== debootstrap --variant=minbase bookworm $ROOTFS"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR"
fi

mounts=()
cleanup() {
  local i
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DST [ro]
  mkdir -p "$2"
  mount --rbind "$1" "$2"
  mounts+=("$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$2"; fi
}
mkdir -p "$ROOTFS/proc" "$ROOTFS/sys"
mount -t proc proc "$ROOTFS/proc" && mounts+=("$ROOTFS/proc")
bind /sys "$ROOTFS/sys"
bind /dev "$ROOTFS/dev"
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# The suites a fresh install's sources name (debootstrap writes only the release).
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF

in_root() { chroot "$ROOTFS" env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"; }

echo "== apt-get install make git (what a newcomer has)"
in_root apt-get update -qq
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends make git ca-certificates

echo "== a fresh clone of $(git -C "$REPO" rev-parse --short HEAD), ../shared read-only beside it"
rm -rf "$ROOTFS/work/main"
mkdir -p "$ROOTFS/work"
git clone -q --no-local "$REPO" "$ROOTFS/work/main"
if [ -d "$SHARED" ]; then bind "$SHARED" "$ROOTFS/work/shared" ro; fi
[ "${OTA_FRESH_COLD:-0}" = 1 ] && rm -rf "$ROOTFS/root/.cache/ccache" "$ROOTFS/root/.ccache"

for t in "${TARGETS[@]}"; do
  echo "== make $t (JOBS=$JOBS)"
  start=$(date +%s)
  if [ "$t" = run ]; then
    # `make run` serves until stopped: started, asked for /healthz, stopped.
    in_root bash -c "cd /work/main && (make run JOBS=$JOBS >/work/run.log 2>&1 &) ;
      for i in \$(seq 1200); do
        if grep -q 'ota-server listening on' /work/run.log 2>/dev/null; then break; fi; sleep 1; done
      cat /work/run.log | tail -20
      python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:8000/healthz\").read().decode())'
      pkill -INT -f 'ota-server --data ./var' ; sleep 1"
  else
    in_root bash -c "cd /work/main && make $t JOBS=$JOBS"
  fi
  echo "== make $t: $(( $(date +%s) - start )) s"
done
