#!/usr/bin/env bash
# Makes the Arduino library (Arduino's 1.5 "recursive" layout) from this
# repository: OUT_DIR/OtaDeltaAgent/{library.properties, src/, examples/}.
#
# usage: make-arduino-library.sh OUT_DIR
#
# Why a generated copy: Arduino compiles only a library's src/ folder and
# puts only src/ on the include path (Arduino library specification,
# "Source code"), and library.properties must sit in the library's root. The
# agent's sources live in format/, device/src and device/ports/ beside the
# host build, so no symlink-free layout of this repository is an Arduino
# library. The copy keeps every file unchanged; only folders move:
#   src/OtaDeltaAgent.h, src/crypto_mbedtls.h, src/ota/...      public headers
#   src/core/format, src/core/device                            the core
#   src/ports/mbedtls, src/ports/esp32                           the ports
#   examples/OtaClient/{OtaClient.ino, ota_client.cpp, partitions.csv}
#   LICENSE                                                    Apache-2.0
# Install: copy OUT_DIR/OtaDeltaAgent to the sketchbook's libraries/ folder,
# or zip it for "Sketch > Include Library > Add .ZIP Library".
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
LIB="$(cd "$1" && pwd)/OtaDeltaAgent"
rm -rf "$LIB"
mkdir -p "$LIB/src/ota/esp32" "$LIB/src/core/format" "$LIB/src/core/device/lzma" \
         "$LIB/src/ports/mbedtls" "$LIB/src/ports/esp32" "$LIB/examples/OtaClient" "$LIB/extras"

cp "$ROOT/device/ports/esp32/arduino/library.properties" "$LIB/"
cp "$ROOT/LICENSE" "$LIB/"
cp "$ROOT/device/ports/esp32/arduino/OtaDeltaAgent.h" "$LIB/src/"
cp "$ROOT/device/ports/mbedtls/crypto_mbedtls.h" "$LIB/src/"
cp "$ROOT"/format/include/ota/*.h "$ROOT"/device/include/ota/*.h "$LIB/src/ota/"
cp "$ROOT"/device/ports/esp32/include/ota/esp32/*.h "$LIB/src/ota/esp32/"
cp "$ROOT"/format/src/*.cpp "$LIB/src/core/format/"
# The whole core tree (device/src has subfolders: lzma/, reloc/, ...);
# Arduino compiles src/ recursively.
cp -R "$ROOT"/device/src/. "$LIB/src/core/device/"
cp "$ROOT/device/ports/mbedtls/crypto_mbedtls.cpp" "$LIB/src/ports/mbedtls/"
cp "$ROOT"/device/ports/esp32/src/*.cpp "$ROOT"/device/ports/esp32/src/*.h "$LIB/src/ports/esp32/"

# The example: the sketch's code in a .cpp tab (not run through the .ino
# preprocessor), a one-line .ino, and the partition table Arduino-ESP32
# picks up from the sketch folder.
cp "$ROOT/examples/esp32-client/src/main.cpp" "$LIB/examples/OtaClient/ota_client.cpp"
cp "$ROOT/examples/esp32-client/partitions.csv" "$LIB/examples/OtaClient/"
cat > "$LIB/examples/OtaClient/OtaClient.ino" <<'INO'
// The OTA client example: setup() and loop() are in ota_client.cpp (the
// same file as examples/esp32-client/src/main.cpp of the repository).
// Upload the provisioning files to LittleFS first (docs/esp32.md).
INO
cp "$ROOT/docs/esp32.md" "$LIB/extras/esp32.md" 2>/dev/null || true

echo "Arduino library: $LIB"
