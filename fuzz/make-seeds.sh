#!/usr/bin/env bash
# Makes seed inputs for patch_decoder_fuzz: real patches (both codecs) against
# the fuzz target's built-in old image, each prefixed with its control byte.
# usage: fuzz/make-seeds.sh OTA_DELTA OUT_DIR
set -euo pipefail
tool=$1 out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
python3 - "$work" <<'PY'
import random, sys
w = sys.argv[1]
old = bytes((i * 31 + (i >> 7)) & 0xFF for i in range(4096))  # as in patch_decoder_fuzz.cpp
open(f"{w}/old", "wb").write(old)
rng = random.Random(1)
for k in range(4):
    new = bytearray(old)
    for _ in range(3 + 5 * k):
        at = rng.randrange(len(new))
        op = rng.randrange(3)
        if op == 0: new[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
        elif op == 1: new[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        else: del new[at:at + rng.randrange(1, 40)]
    open(f"{w}/new{k}", "wb").write(bytes(new))
PY
i=0
for k in 0 1 2 3; do
  for codec in "--codec none" "--dict 4096" "--dict 4096 --lc 0 --pb 2"; do
    "$tool" diff $codec "$work/old" "$work/new$k" "$work/p"
    printf "\\x$(printf %02x $((0x80 | (i * 7 % 64))))" > "$out/seed-$i"
    cat "$work/p" >> "$out/seed-$i"
    i=$((i + 1))
  done
done
echo "wrote $i seeds to $out"
