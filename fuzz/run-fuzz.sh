#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR/bin (files named *_fuzz) for
# SECONDS each. Corpus, artifacts and logs go under BUILD_DIR:
#   fuzz-corpus/<target>/     corpus (grows across runs)
#   fuzz-seeds/<target>/      seeds made here (lzma_fuzz: streams made by xz)
#   fuzz-artifacts/<target>/  crash-*, leak-*, timeout-* inputs
#   fuzz-logs/<target>.log    libFuzzer output
# Directories fuzz/corpus/<target>/, fuzz/seeds/<target>/ and
# fuzz/seeds/<target without _fuzz>/ beside this script, if present, are read
# as extra seeds (never written). Exits non-zero if any target finds a crash, leak or timeout.
#
# Usage: fuzz/run-fuzz.sh BUILD_DIR SECONDS
set -euo pipefail

if [[ $# -ne 2 || ! -d $1 || ! $2 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
seconds_each=$2
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Raw bytes from decimal values.
put_bytes() {
  local v
  for v in "$@"; do
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' "$v")"
  done
}

# One lzma_fuzz seed: the 8-byte header (see fuzz/lzma_fuzz.cpp) and a raw
# LZMA1 stream of data_file made by xz (xz writes an end marker, which our
# decoder refuses at the very end; libFuzzer soon finds marker-free ends).
lzma_seed() {
  local out=$1 lc=$2 lp=$3 pb=$4 dict=$5 data_file=$6
  local size d
  size=$(wc -c <"$data_file")
  size=$((size & 0xFFFF))
  d=$((dict - 4096))
  {
    put_bytes "$lc" $((lp + 5 * pb)) $((d & 255)) $(((d >> 8) & 255)) \
      $((size & 255)) $(((size >> 8) & 255)) 0 0
    head -c "$size" "$data_file" |
      xz --format=raw --lzma1=preset=9,lc="$lc",lp="$lp",pb="$pb",dict="$dict" -c
  } >"$out"
}

seed_lzma_fuzz() {
  local dir=$1 tmp
  command -v xz >/dev/null 2>&1 || return 0
  tmp=$(mktemp -d)
  # Text, zeros, and binary (the target itself: code, tables, strings).
  for _ in 1 2 3; do cat "$script_dir/run-fuzz.sh"; done >"$tmp/text"
  head -c 20000 /dev/zero >"$tmp/zeros"
  head -c 8000 "$build_dir/bin/lzma_fuzz" >"$tmp/binary"
  head -c 1 "$tmp/text" >"$tmp/one"
  lzma_seed "$dir/text" 3 0 2 65536 "$tmp/text"
  lzma_seed "$dir/text-lp2" 0 2 2 4096 "$tmp/text"
  lzma_seed "$dir/zeros" 1 0 0 4096 "$tmp/zeros"
  lzma_seed "$dir/binary" 0 2 2 16384 "$tmp/binary"
  lzma_seed "$dir/binary-lc4" 4 0 0 4096 "$tmp/binary"
  lzma_seed "$dir/one" 3 0 2 4096 "$tmp/one"
  rm -rf "$tmp"
}

shopt -s nullglob
targets=("$build_dir"/bin/*_fuzz)
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "run-fuzz: no *_fuzz executables in $build_dir/bin" >&2
  exit 1
fi

status=0
for target in "${targets[@]}"; do
  [[ -x $target ]] || continue
  name=$(basename "$target")
  corpus=$build_dir/fuzz-corpus/$name
  seeds=$build_dir/fuzz-seeds/$name
  artifacts=$build_dir/fuzz-artifacts/$name
  log=$build_dir/fuzz-logs/$name.log
  mkdir -p "$corpus" "$seeds" "$artifacts" "$(dirname "$log")"
  case $name in
    lzma_fuzz) seed_lzma_fuzz "$seeds" ;;
  esac
  dirs=("$corpus" "$seeds")
  for extra in "$script_dir/corpus/$name" "$script_dir/seeds/$name" "$script_dir/seeds/${name%_fuzz}"; do
    if [[ -d $extra ]]; then dirs+=("$extra"); fi
  done

  echo "run-fuzz: $name for ${seconds_each}s"
  if "$target" -max_total_time="$seconds_each" -timeout=25 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${dirs[@]}" >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    echo "run-fuzz: $name ok (${execs:-?} executions, log $log)"
  else
    echo "run-fuzz: $name FAILED (log $log, inputs in $artifacts)" >&2
    tail -n 60 "$log" >&2
    status=1
  fi
done
exit $status
