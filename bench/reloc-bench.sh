#!/usr/bin/env bash
# Firmware-aware delta, shipped-map design (issue #7, docs/reloc.md): patch
# sizes on every consecutive corpus pair, plain engine vs T(old) with the map
# estimated from the matcher's matches (map0, and refined once), beside
# HDiffPatch+LZMA2 from BASELINES.tsv.
#
# usage: bench/reloc-bench.sh [BUILD_DIR] [JOBS]     (corpus: $OTA_CORPUS or ../shared/corpus)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
JOBS=${2:-2}
CORPUS=${OTA_CORPUS:-$ROOT/../shared/corpus}
[ -f "$CORPUS/MANIFEST.tsv" ] || { echo "reloc-bench: no corpus at $CORPUS (set OTA_CORPUS)"; exit 0; }
nice cmake --build "$BUILD" --target ota-reloc-bench >/dev/null
for refine in 0 1; do
  echo "=== map refined $refine time(s)"
  nice "$BUILD/bin/ota-reloc-bench" "$CORPUS" --refine "$refine" --jobs "$JOBS"
  echo
done
