#!/usr/bin/env bash
# Makes a self-contained ESP-IDF component from this repository, for the
# ESP Component Registry or a Git dependency: OUT_DIR/ota_agent/ with
# idf_component.yml, CMakeLists.txt and LICENSE at its root and the core in core/.
#
# usage: make-idf-component.sh OUT_DIR
#
# Why: in the repository the component (device/ports/esp32/ota_agent) reads
# the core from four folders up, which a local-path use (EXTRA_COMPONENT_DIRS,
# `path:` dependencies) allows, but an archive of the component folder would
# not contain. The same CMakeLists.txt finds core/ here (see its header).
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
COMP="$(cd "$1" && pwd)/ota_agent"
rm -rf "$COMP"
mkdir -p "$COMP/core/format" "$COMP/core/device/ports/esp32" "$COMP/core/device/ports/mbedtls"

cp "$ROOT/device/ports/esp32/ota_agent/CMakeLists.txt" "$ROOT/device/ports/esp32/ota_agent/idf_component.yml" "$COMP/"
cp "$ROOT/LICENSE" "$COMP/"
cp -R "$ROOT/format/include" "$ROOT/format/src" "$COMP/core/format/"
cp -R "$ROOT/device/include" "$ROOT/device/src" "$COMP/core/device/"
cp "$ROOT"/device/ports/mbedtls/crypto_mbedtls.h "$ROOT"/device/ports/mbedtls/crypto_mbedtls.cpp \
   "$COMP/core/device/ports/mbedtls/"
cp -R "$ROOT/device/ports/esp32/include" "$ROOT/device/ports/esp32/src" "$COMP/core/device/ports/esp32/"
cp "$ROOT/docs/esp32.md" "$COMP/README.md" 2>/dev/null || true

echo "ESP-IDF component: $COMP"
