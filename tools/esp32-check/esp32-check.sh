#!/usr/bin/env bash
# ESP32 glue check (issue 6). No ESP32 toolchain (xtensa-esp32-elf, ESP-IDF,
# Arduino-ESP32) can be installed here, so this compiles everything that
# touches ESP-IDF or Arduino against stand-in headers (stubs/) that declare
# exactly the functions, types and macros the code uses, with the real
# headers' signatures. A misspelt call, a wrong argument type or count, a
# printf format that does not match, or a call to something no stand-in
# declares fails the check.
#
# usage: esp32-check.sh SOURCE_DIR OUT_DIR
#
#  1. packaging: generate the Arduino library, the self-contained IDF
#     component and LittleFS data from a sample bundle; validate
#     library.json, library.properties (template and
#     generated), idf_component.yml, both partition tables, sdkconfig.defaults
#     and platformio.ini (packaging.py);
#  2. host g++, -std=gnu++17 and -std=gnu++2b (ESP-IDF 5 / Arduino-ESP32 3
#     default), -Werror: every file of device/ports/esp32/src, both
#     examples in their configurations, each public header on its own;
#  3. link: the core + the mbedTLS port (host mbedTLS 2.28) + the glue + each
#     example + no-op stand-in implementations (stubs/impl) into host
#     executables - no undefined symbol may remain;
#  4. the packages as their tools see them: the ESP-IDF component's own
#     CMakeLists.txt (in the repository and packed) through a stand-in
#     idf_component_register (idf-shim/); the sources and include paths
#     library.json gives PlatformIO; the generated Arduino library with only
#     its src/ on the include path, the example as a sketch - each linked;
#  5. cross-compile the ESP-IDF glue and the ESP-IDF example for rv32imc
#     (ESP32-C3 class) and Xtensa lx106, freestanding, where uint32_t is
#     `unsigned long` as on ESP-IDF 5 toolchains (so format and overload
#     checks see the device's types), and print their code size.
# What this cannot prove: that the stand-ins match a given ESP-IDF release
# bit for bit, or anything about run-time behaviour on a chip (docs/esp32.md,
# "What was compiled where").
set -uo pipefail
exec 2>&1

[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR OUT_DIR" >&2; exit 2; }
SRC=$(cd "$1" && pwd) || exit 2
mkdir -p "$2" || exit 2
OUT=$(cd "$2" && pwd)
HERE="$SRC/tools/esp32-check"
STUBS="$HERE/stubs"
CXX_HOST=${CXX:-g++}
if command -v ccache >/dev/null 2>&1; then CXX_HOST="ccache $CXX_HOST"; fi

failed=()
fail() {
  echo "esp32-check: FAIL [$1]: $2"
  failed+=("$1")
}

# compile OBJ COMPILER ARGS... ; prints the compiler's messages
compile() {
  local obj=$1 cc=$2
  shift 2
  mkdir -p "$(dirname "$obj")"
  if ! $cc "$@" -c -o "$obj" >"$obj.log" 2>&1; then
    sed 's/^/    /' "$obj.log"
    return 1
  fi
  [ -s "$obj.log" ] && sed 's/^/    /' "$obj.log"
  return 0
}

# link EXE OBJS... ; fails on any undefined symbol
link_exe() {
  local exe=$1
  shift
  if ! $CXX_HOST -o "$exe" "$@" -lmbedcrypto >"$exe.log" 2>&1; then
    sed 's/^/    /' "$exe.log"
    return 1
  fi
  return 0
}

WARN=(-Wall -Wextra -Werror -Wformat=2)
BASE=(-fno-exceptions -fno-rtti -DESP_PLATFORM=1 "${WARN[@]}")
ARDUINO_DEFS=(-DARDUINO=10812 -DARDUINO_ARCH_ESP32)
INC=(-I "$STUBS" -I "$SRC/device/ports/esp32/include" -I "$SRC/device/include" -I "$SRC/format/include"
     -I "$SRC/device/ports/mbedtls")
IDF_MAIN="$SRC/examples/esp-idf-client/main"
ARD_MAIN="$SRC/examples/esp32-client/src/main.cpp"

mapfile -t GLUE_IDF < <(cd "$SRC" && ls device/ports/esp32/src/*.cpp | grep -v '/arduino_' | LC_ALL=C sort)
mapfile -t GLUE_ARDUINO < <(cd "$SRC" && ls device/ports/esp32/src/arduino_*.cpp | LC_ALL=C sort)
mapfile -t CORE < <(cd "$SRC" && find format/src device/src -name '*.cpp' -type f | LC_ALL=C sort)
echo "esp32-check: glue: ${GLUE_IDF[*]} ${GLUE_ARDUINO[*]}"

# --- 0. the check itself ----------------------------------------------------------
# Mistakes the stand-ins must catch; if one of these compiles, the check has
# gone soft (a stub too loose, a flag lost) and says so.
echo
echo "=== 0. known mistakes must fail to compile"
M="$OUT/must-fail"
mkdir -p "$M"
must_fail() {  # NAME COMPILER FLAGS... -- CODE
  local name=$1 cc=$2
  shift 2
  local flags=()
  while [ "$1" != -- ]; do flags+=("$1"); shift; done
  shift
  printf '%s\n' "$1" >"$M/$name.cpp"
  if $cc "${flags[@]}" -c -o "$M/$name.o" "$M/$name.cpp" >"$M/$name.log" 2>&1; then
    fail self-test "'$name' compiled; the stand-ins no longer catch it"
  else
    echo "caught: $name ($(grep -m1 -o 'error: .*' "$M/$name.log" | cut -c1-90))"
  fi
}
must_fail swapped-arguments "$CXX_HOST" -std=gnu++17 "${BASE[@]}" "${INC[@]}" -- \
  '#include "esp_partition.h"
int f(const esp_partition_t* p, unsigned char* b) { return esp_partition_read(p, b, 0, 4); }'
must_fail misspelt-call "$CXX_HOST" -std=gnu++17 "${BASE[@]}" "${INC[@]}" -- \
  '#include "esp_ota_ops.h"
int f() { return esp_ota_mark_app_valid(); }'
must_fail wrong-arduino-overload "$CXX_HOST" -std=gnu++17 "${BASE[@]}" "${ARDUINO_DEFS[@]}" "${INC[@]}" -- \
  '#include <WiFi.h>
void f() { WiFi.begin(1, 2); }'
# The cross compiler is a requirement (tests/CMakeLists.txt): never skipped.
command -v riscv64-unknown-elf-g++ >/dev/null 2>&1 ||
  fail self-test "riscv64-unknown-elf-g++ missing (Debian gcc-riscv64-unknown-elf; make deps)"
must_fail u32-format-on-the-device riscv64-unknown-elf-g++ -march=rv32imc -mabi=ilp32 -ffreestanding -std=gnu++17 \
  "${BASE[@]}" "${INC[@]}" -- \
  '#include "esp_log.h"
void f(uint32_t n) { ESP_LOGI("t", "%u", n); }'

# --- 1. packaging ------------------------------------------------------------
echo
echo "=== 1. packaging"
"$HERE/make-arduino-library.sh" "$OUT/arduino" >/dev/null || fail packaging "make-arduino-library.sh failed"
"$HERE/make-idf-component.sh" "$OUT/idf-component" >/dev/null || fail packaging "make-idf-component.sh failed"
python3 "$HERE/packaging.py" validate "$SRC" "$OUT/arduino/OtaDeltaAgent" "$OUT/idf-component/ota_agent" ||
  fail packaging "see above"
# The license check itself must catch a package without the license.
L="$OUT/license-self-test"
rm -rf "$L" && mkdir -p "$L/device/ports/esp32/ota_agent" "$L/device/ports/esp32/arduino" "$L/lib"
cp "$SRC/LICENSE" "$SRC/library.json" "$L/"
cp "$SRC/device/ports/esp32/ota_agent/idf_component.yml" "$L/device/ports/esp32/ota_agent/"
cp "$SRC/device/ports/esp32/arduino/library.properties" "$L/device/ports/esp32/arduino/"
python3 "$HERE/packaging.py" license "$L" >/dev/null || fail self-test "the license check refuses a good copy"
if python3 "$HERE/packaging.py" license "$L" "$L/lib" >/dev/null; then
  fail self-test "the license check passed a generated package without LICENSE"
else
  echo "caught: a generated package without LICENSE"
fi
sed -i 's/"license": "Apache-2.0"/"license": "MIT"/' "$L/library.json"
if python3 "$HERE/packaging.py" license "$L" >/dev/null; then
  fail self-test "the license check passed library.json with another license"
else
  echo "caught: library.json with another license"
fi
for f in LICENSE library.properties src/OtaDeltaAgent.h src/ota/agent.h src/ota/esp32/ports.h src/crypto_mbedtls.h \
         examples/OtaClient/OtaClient.ino examples/OtaClient/ota_client.cpp; do
  [ -f "$OUT/arduino/OtaDeltaAgent/$f" ] || fail packaging "generated Arduino library lacks $f"
done

# bundle-to-data.sh on a sample bundle (the Arduino example's LittleFS files).
B="$OUT/bundle-files"
rm -rf "$B" "$OUT/data"
mkdir -p "$B"
cp "$SRC/tests/vectors/device.key" "$B/device.key"
cp "$SRC/tests/vectors/signing_pub.pem" "$B/server_pub.pem"
printf '{"device_id": "esp32_01", "server_url": "https://ota.example:8443", "product": "demo"}\n' >"$B/device.json"
printf '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef' >"$B/device.token"
printf -- '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n' >"$B/ca.pem"
if "$HERE/bundle-to-data.sh" "$B" "$OUT/data" --wifi-ssid 'net "x"' --wifi-password pw >"$OUT/data.log" 2>&1; then
  for f in device.json device.key device.token server_pub.pem ca.pem wifi.json; do
    [ -f "$OUT/data/$f" ] || fail packaging "bundle-to-data.sh did not write $f"
  done
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"ssid": "net \"x\"", "password": "pw"}' \
    "$OUT/data/wifi.json" || fail packaging "bundle-to-data.sh wrote a wrong wifi.json"
else
  sed 's/^/    /' "$OUT/data.log"
  fail packaging "bundle-to-data.sh refused a valid bundle"
fi

# Sample bundles: ota_device_config.h as ota-server writes it
# (server/envelope/src/provisioning.cpp), with and without TLS and token.
mkdir -p "$OUT/bundle-tls" "$OUT/bundle-plain"
pem_literal() { sed 's/^/  "/; s/$/\\n"/' "$1"; }
{
  echo '#ifndef OTA_DEVICE_CONFIG_H'; echo '#define OTA_DEVICE_CONFIG_H'; echo; echo '#include <stdint.h>'; echo
  echo '#define OTA_DEVICE_ID "esp32_01"'; echo '#define OTA_PRODUCT "demo"'
  echo '#define OTA_SERVER_URL "https://ota.example:8443"'; echo
  echo 'static const uint8_t OTA_DEVICE_KEY[32] = {'
  echo '    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,'
  echo '    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff};'
  echo; echo '#define OTA_DEVICE_TOKEN "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"'; echo
  echo 'static const char OTA_SERVER_PUB_PEM[] ='; pem_literal "$SRC/tests/vectors/signing_pub.pem"; echo ';'; echo
  echo 'static const char OTA_CA_PEM[] ='; echo '  "-----BEGIN CERTIFICATE-----\n"'
  echo '  "-----END CERTIFICATE-----\n"'; echo ';'; echo; echo '#endif  // OTA_DEVICE_CONFIG_H'
} >"$OUT/bundle-tls/ota_device_config.h"
sed -e '/OTA_DEVICE_TOKEN/d' -e '/OTA_CA_PEM/,/^;$/d' -e 's|https://ota.example:8443|http://ota.example:8000|' \
  "$OUT/bundle-tls/ota_device_config.h" >"$OUT/bundle-plain/ota_device_config.h"
# The example may only use names ota-server writes.
written=$(grep -oP '(?<![A-Za-z0-9_])OTA_[A-Z_]+' "$SRC/server/envelope/src/provisioning.cpp" | sort -u)
for name in $(grep -oP '(?<![A-Za-z0-9_])OTA_[A-Z_]+' "$IDF_MAIN/main.cpp" | sort -u); do
  case "$name" in OTA_HAVE_CA_PEM|OTA_EXAMPLE_*) continue ;; esac
  echo "$written" | grep -qx "$name" || fail packaging "the ESP-IDF example uses $name, which provisioning.cpp does not write"
done

# --- 2. host compile -----------------------------------------------------------
echo
echo "=== 2. host g++ against the stand-in headers"
n_host=0
for std in gnu++17 gnu++2b; do
  dir="$OUT/host-$std"
  for f in "${GLUE_IDF[@]}"; do
    compile "$dir/${f%.cpp}.o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${INC[@]}" "$SRC/$f" ||
      fail "host $std" "$f"
    n_host=$((n_host + 1))
  done
  for f in "${GLUE_ARDUINO[@]}"; do
    compile "$dir/${f%.cpp}.o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${ARDUINO_DEFS[@]}" "${INC[@]}" "$SRC/$f" ||
      fail "host $std" "$f"
    n_host=$((n_host + 1))
  done
  for f in main wifi_sta; do
    compile "$dir/idf-client/$f.o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${INC[@]}" -I "$IDF_MAIN" \
      -I "$OUT/bundle-tls" -DOTA_HAVE_CA_PEM=1 "$IDF_MAIN/$f.cpp" || fail "host $std" "examples/esp-idf-client/main/$f.cpp"
    n_host=$((n_host + 1))
  done
  compile "$dir/idf-client-plain/main.o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${INC[@]}" -I "$IDF_MAIN" \
    -I "$OUT/bundle-plain" "$IDF_MAIN/main.cpp" || fail "host $std" "examples/esp-idf-client/main/main.cpp (http, no token)"
  for legacy in 0 1; do
    extra=()
    [ $legacy = 1 ] && extra=(-DOTA_FACTORY_VERSION='"1.0.0"')
    compile "$dir/esp32-client-$legacy/main.o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${ARDUINO_DEFS[@]}" "${INC[@]}" \
      -DOTA_USE_ORIGINAL_ENDPOINTS=$legacy "${extra[@]}" "$ARD_MAIN" ||
      fail "host $std" "examples/esp32-client/src/main.cpp (OTA_USE_ORIGINAL_ENDPOINTS=$legacy)"
    n_host=$((n_host + 1))
  done
  for h in "$SRC"/device/ports/esp32/include/ota/esp32/*.h; do
    echo "#include \"ota/esp32/$(basename "$h")\"" >"$dir/hdr_$(basename "$h").cpp"
    compile "$dir/hdr_$(basename "$h").o" "$CXX_HOST" "-std=$std" "${BASE[@]}" "${INC[@]}" \
      "$dir/hdr_$(basename "$h").cpp" || fail "host $std" "ota/esp32/$(basename "$h") does not compile on its own"
  done
done
echo "compiled $n_host glue/example translation units (two C++ standards)"

# --- 3. link ---------------------------------------------------------------------
echo
echo "=== 3. link with no-op stand-ins (no undefined symbol)"
L="$OUT/link"
core_objs=()
for f in "${CORE[@]}" device/ports/mbedtls/crypto_mbedtls.cpp; do
  compile "$L/core/${f%.cpp}.o" "$CXX_HOST" -std=gnu++17 -fno-exceptions -fno-rtti -Wall -Wextra \
    -I "$SRC/format/include" -I "$SRC/device/include" -I "$SRC/device/ports/mbedtls" "$SRC/$f" ||
    fail link "core: $f"
  core_objs+=("$L/core/${f%.cpp}.o")
done
impl_objs=()
for f in esp_idf_impl arduino_impl host_main; do
  compile "$L/impl/$f.o" "$CXX_HOST" -std=gnu++17 -Wall -Wextra -Werror -I "$STUBS" "$STUBS/impl/$f.cpp" ||
    fail link "stubs/impl/$f.cpp"
  impl_objs+=("$L/impl/$f.o")
done
H="$OUT/host-gnu++17"
glue_idf_objs=()
for f in "${GLUE_IDF[@]}"; do glue_idf_objs+=("$H/${f%.cpp}.o"); done
glue_ard_objs=()
for f in "${GLUE_ARDUINO[@]}"; do glue_ard_objs+=("$H/${f%.cpp}.o"); done
link_exe "$L/idf-client" "${core_objs[@]}" "${glue_idf_objs[@]}" "$H/idf-client/main.o" "$H/idf-client/wifi_sta.o" \
  "$L/impl/esp_idf_impl.o" "$L/impl/host_main.o" && echo "linked: examples/esp-idf-client" ||
  fail link "examples/esp-idf-client (undefined symbols above)"
link_exe "$L/esp32-client" "${core_objs[@]}" "${glue_idf_objs[@]}" "${glue_ard_objs[@]}" \
  "$H/esp32-client-1/main.o" "${impl_objs[@]}" && echo "linked: examples/esp32-client" ||
  fail link "examples/esp32-client (undefined symbols above)"

# --- 4. the packages as their tools see them ------------------------------------------
echo
echo "=== 4. packages: ESP-IDF component CMakeLists, library.json, Arduino library"
GEN=()
mkdir -p "$OUT/idf-shim"
command -v ninja >/dev/null 2>&1 && GEN=(-G Ninja)
for comp in "$SRC/device/ports/esp32/ota_agent" "$OUT/idf-component/ota_agent"; do
  b="$OUT/idf-shim/$(echo "$comp" | md5sum | cut -c1-8)"
  if cmake -S "$HERE/idf-shim" -B "$b" "${GEN[@]}" -DOTA_COMPONENT_DIR="$comp" -DOTA_STUBS="$STUBS" \
       -DCMAKE_CXX_COMPILER_LAUNCHER="$(command -v ccache || true)" >"$b.log" 2>&1 &&
     cmake --build "$b" >>"$b.log" 2>&1; then
    echo "ESP-IDF component $(grep -o 'idf_component_register: .*' "$b.log" | head -1) - built: ${comp#"$OUT/"}"
  else
    tail -30 "$b.log" | sed 's/^/    /'
    fail idf-component "${comp}: its CMakeLists.txt does not build (above)"
  fi
done

P="$OUT/platformio"
mapfile -t PIO_SRCS < <(python3 "$HERE/packaging.py" pio-sources "$SRC")
mapfile -t PIO_INCS < <(python3 "$HERE/packaging.py" pio-includes "$SRC")
pio_inc=(-I "$STUBS")
for d in "${PIO_INCS[@]}"; do pio_inc+=(-I "$d"); done
pio_objs=()
for f in "${PIO_SRCS[@]}" "$ARD_MAIN"; do
  rel=${f#"$SRC"/}
  compile "$P/${rel%.cpp}.o" "$CXX_HOST" -std=gnu++2b "${BASE[@]}" "${ARDUINO_DEFS[@]}" "${pio_inc[@]}" \
    "$f" || fail platformio "$rel with library.json's sources and include paths"
  pio_objs+=("$P/${rel%.cpp}.o")
done
link_exe "$P/esp32-client" "${pio_objs[@]}" "${impl_objs[@]}" &&
  echo "PlatformIO view (library.json): ${#PIO_SRCS[@]} library sources + the example, linked" ||
  fail platformio "link of the library.json view"

A="$OUT/arduino-build"
LIB="$OUT/arduino/OtaDeltaAgent"
mapfile -t ARD_SRCS < <(cd "$LIB" && find src -name '*.cpp' | LC_ALL=C sort)
ard_objs=()
for f in "${ARD_SRCS[@]}" examples/OtaClient/ota_client.cpp; do
  # Arduino puts only the library's src/ on the include path.
  compile "$A/${f%.cpp}.o" "$CXX_HOST" -std=gnu++2b "${BASE[@]}" "${ARDUINO_DEFS[@]}" -I "$STUBS" -I "$LIB/src" \
    "$LIB/$f" || fail arduino-library "$f"
  ard_objs+=("$A/${f%.cpp}.o")
done
# The .ino as the Arduino builder sees it: Arduino.h included first.
compile "$A/OtaClient.ino.o" "$CXX_HOST" -std=gnu++2b "${BASE[@]}" "${ARDUINO_DEFS[@]}" -I "$STUBS" -I "$LIB/src" \
  -x c++ -include Arduino.h "$LIB/examples/OtaClient/OtaClient.ino" || fail arduino-library "OtaClient.ino"
link_exe "$A/OtaClient" "${ard_objs[@]}" "$A/OtaClient.ino.o" "${impl_objs[@]}" &&
  echo "Arduino library: ${#ARD_SRCS[@]} sources (only src/ on the include path) + OtaClient, linked" ||
  fail arduino-library "link of the generated library and its example"

# --- 5. cross-compile ----------------------------------------------------------------
echo
echo "=== 5. cross-compile the ESP-IDF glue (freestanding, 32-bit, uint32_t = unsigned long)"
CROSS=(
  "rv32imc|riscv64-unknown-elf-|-march=rv32imc -mabi=ilp32"
  "xtensa-lx106|xtensa-lx106-elf-|-mlongcalls"
)
# staging.cpp needs a C library's stdio/stat (newlib on the device): host only.
cross_srcs=()
for f in "${GLUE_IDF[@]}"; do [ "$f" = device/ports/esp32/src/staging.cpp ] || cross_srcs+=("$f"); done
cross_srcs+=(examples/esp-idf-client/main/main.cpp examples/esp-idf-client/main/wifi_sta.cpp)
for spec in "${CROSS[@]}"; do
  IFS='|' read -r name prefix archflags <<<"$spec"
  read -r -a arch <<<"$archflags"
  if ! command -v "${prefix}g++" >/dev/null 2>&1; then
    fail "cross $name" "${prefix}g++ missing (make deps)"
    continue
  fi
  objs=()
  for f in "${cross_srcs[@]}"; do
    obj="$OUT/cross-$name/${f%.cpp}.o"
    compile "$obj" "${prefix}g++" "${arch[@]}" -std=gnu++17 -Os -ffreestanding "${BASE[@]}" \
      -isystem "$HERE/stubs-libc" "${INC[@]}" -I "$IDF_MAIN" -I "$OUT/bundle-tls" -DOTA_HAVE_CA_PEM=1 "$SRC/$f" ||
      fail "cross $name" "$f"
    objs+=("$obj")
  done
  glue_text=$("${prefix}size" "${objs[@]:0:${#cross_srcs[@]}-2}" 2>/dev/null | awk 'NR > 1 { t += $1 } END { print t + 0 }')
  echo "$name: ${#cross_srcs[@]} files compiled; ESP-IDF glue text ${glue_text} bytes (-Os)"
done

echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "esp32-check: FAILED: ${failed[*]}"
  exit 1
fi
echo "esp32-check: OK (stand-ins: $(ls "$STUBS"/*.h "$STUBS"/freertos/*.h | wc -l) headers in tools/esp32-check/stubs)"
