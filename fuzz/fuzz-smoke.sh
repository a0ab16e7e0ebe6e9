#!/usr/bin/env bash
# The short fuzz run of the test suite: configures (once) and builds a clang
# libFuzzer build of SOURCE_DIR in WORK_DIR, then runs every fuzz target for
# SECONDS each with fuzz/run-fuzz.sh.
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

# clang is a requirement (tests/CMakeLists.txt checks it at configure time).
command -v clang >/dev/null 2>&1 && command -v clang++ >/dev/null 2>&1 ||
  { echo "fuzz-smoke: clang/clang++ not found (Debian clang; make deps)" >&2; exit 1; }

# binutils' ar and ranlib, which every machine with build-essential has:
# left to itself CMake takes llvm-ar when LLVM happens to be installed, and
# the build would differ between a warm machine and a fresh one.
ar=$(command -v ar) ranlib=$(command -v ranlib)
mkdir -p "$work_dir"
if [[ ! -f $work_dir/CMakeCache.txt ]] || ! grep -qx "CMAKE_AR:FILEPATH=$ar" "$work_dir/CMakeCache.txt"; then
  cmake -S "$source_dir" -B "$work_dir" -G Ninja \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_AR="$ar" -DCMAKE_RANLIB="$ranlib" \
    -DOTA_BUILD_FUZZ=ON -DOTA_BUILD_TESTS=OFF -DOTA_BUILD_BENCH=OFF
fi
cmake --build "$work_dir" --target ota_fuzz_targets
exec "$source_dir/fuzz/run-fuzz.sh" "$work_dir" "$seconds_each"
