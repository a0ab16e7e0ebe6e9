#!/usr/bin/env bash
# The short fuzz run of the test suite: configures (once) and builds a clang
# libFuzzer build of SOURCE_DIR in WORK_DIR, then runs every fuzz target for
# SECONDS each with fuzz/run-fuzz.sh. Without clang it prints a message and
# exits 0 (skipped).
#
# Usage: fuzz/fuzz-smoke.sh SOURCE_DIR WORK_DIR SECONDS
set -euo pipefail

if [[ $# -ne 3 || ! $3 =~ ^[0-9]+$ ]]; then
  echo "usage: $0 SOURCE_DIR WORK_DIR SECONDS" >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
work_dir=$2
seconds_each=$3

if ! command -v clang >/dev/null 2>&1 || ! command -v clang++ >/dev/null 2>&1; then
  echo "fuzz-smoke: clang/clang++ not found: skipped"
  exit 0
fi

mkdir -p "$work_dir"
if [[ ! -f $work_dir/CMakeCache.txt ]]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S "$source_dir" -B "$work_dir" "${generator[@]}" \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DOTA_BUILD_FUZZ=ON -DOTA_BUILD_TESTS=OFF -DOTA_BUILD_BENCH=OFF
fi
cmake --build "$work_dir" --target ota_fuzz_targets
exec "$source_dir/fuzz/run-fuzz.sh" "$work_dir" "$seconds_each"
