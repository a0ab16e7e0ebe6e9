#!/usr/bin/env bash
# Firmware-aware delta (issue #7, docs/reloc.md): the map designs side by
# side on every consecutive corpus pair, plain engine vs T(old), beside
# HDiffPatch+LZMA2 from BASELINES.tsv: the shipped map0 alone, map0 + vote
# overlay (the default), refined once + overlay, and the map derived from the
# patch's own records with only the overlay shipped. Side data is charged
# LZMA-compressed in every row so that they compare (`make bench` measures
# the patches `ota-delta diff` actually writes).
#
# usage: bench/reloc-bench.sh [BUILD_DIR] [JOBS]     (corpus: $OTA_CORPUS or ../shared/corpus)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
JOBS=${2:-2}
CORPUS=${OTA_CORPUS:-$ROOT/../shared/corpus}
[ -f "$CORPUS/MANIFEST.tsv" ] || { echo "reloc-bench: no corpus at $CORPUS (set OTA_CORPUS)"; exit 0; }
nice cmake --build "$BUILD" --target ota-reloc-bench >/dev/null
run() {
  echo "=== $1"
  shift
  nice "$BUILD/bin/ota-reloc-bench" "$CORPUS" --jobs "$JOBS" "$@"
  echo
}
run "shipped map0, no overlay" --refine 0 --votes 0
run "shipped map0 + vote overlay (the default)" --refine 0 --votes 10
run "shipped map refined once + vote overlay" --refine 1 --votes 10
run "map derived from the patch's records + shipped overlay" --ctrl-derived --votes 10
