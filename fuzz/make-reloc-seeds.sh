#!/usr/bin/env bash
# Makes seed inputs for reloc_patch_fuzz: firmware-aware patches of small
# synthetic ESP32 apps (ota-fwgen), and the same images relabelled as
# ESP32-C3 (chip id 5), each as the target's input: a control byte, OLD's
# length (2 bytes little endian), OLD, the patch.
# usage: fuzz/make-reloc-seeds.sh BIN_DIR OUT_DIR
set -euo pipefail
bin=$1 out=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
i=0
for seed in 1 2 3; do
  for chip in 0 5; do
    d="$work/$seed-$chip"
    mkdir -p "$d"
    "$bin/ota-fwgen" "$d" --size $((4096 + 2048 * seed)) --seed "$seed" >/dev/null
    for v in 1.0.0 1.0.1; do
      # The chip id is bytes 12-13 of the image header.
      printf "\\x$(printf %02x "$chip")\\x00" | dd of="$d/firmware_$v.bin" bs=1 seek=12 conv=notrunc status=none
    done
    "$bin/ota-delta" diff --firmware-aware "$d/firmware_1.0.0.bin" "$d/firmware_1.0.1.bin" "$d/p.otad"
    len=$(stat -c %s "$d/firmware_1.0.0.bin")
    { printf "\\x$(printf %02x $((0x80 | (i * 11 % 64))))"
      printf "\\x$(printf %02x $((len & 0xFF)))\\x$(printf %02x $((len >> 8)))"
      cat "$d/firmware_1.0.0.bin" "$d/p.otad"; } >"$out/seed-$i"
    i=$((i + 1))
  done
done
echo "wrote $i seeds to $out"
