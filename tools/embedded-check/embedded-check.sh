#!/usr/bin/env bash
# Embedded cross-check (DESIGN.md §6): compiles the format library and the
# device core for rv32imc/ilp32, Xtensa (lx106) and Cortex-M4 with -Os,
# no exceptions, no RTTI, freestanding; links them with a small harness that
# calls the public API and a minimal runtime, with -nostdlib; fails on any
# undefined symbol or any heap/C++-runtime symbol; prints code sizes.
#
# usage: embedded-check.sh SOURCE_DIR OUT_DIR
#
# Every .cpp under SOURCE_DIR/format/src and SOURCE_DIR/device/src
# (recursively) is compiled: the check follows the tree, no list to update.
set -uo pipefail
exec 2>&1  # one stream, in order, for make and ctest logs

die() {
  echo "embedded-check: FAIL: $*" >&2
  exit 1
}

[ $# -eq 2 ] || { echo "usage: $0 SOURCE_DIR OUT_DIR" >&2; exit 2; }
[ -d "$1/format/src" ] || die "$1/format/src not found (SOURCE_DIR must be the repository root)"
[ -d "$1/device/src" ] || die "$1/device/src not found (SOURCE_DIR must be the repository root)"
SRC=$(cd "$1" && pwd)
mkdir -p "$2" || die "cannot create $2"
OUT=$(cd "$2" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SHIM="$HERE/shim"

mapfile -t SOURCES < <(cd "$SRC" && find format/src device/src -name '*.cpp' -type f | LC_ALL=C sort)
[ ${#SOURCES[@]} -gt 0 ] || die "no .cpp files under $SRC/format/src or $SRC/device/src"

# name | tool prefix | architecture flags | Debian package | extra runtime (C, in shim/)
# Debian's lx106 libgcc lacks the 32-bit division helpers: see shim/xtensa-libgcc.c.
TARGETS=(
  "rv32imc|riscv64-unknown-elf-|-march=rv32imc -mabi=ilp32|gcc-riscv64-unknown-elf|"
  "xtensa-lx106|xtensa-lx106-elf-|-mlongcalls|gcc-xtensa-lx106|xtensa-libgcc.c"
  "cortex-m4|arm-none-eabi-|-mcpu=cortex-m4 -mthumb|gcc-arm-none-eabi|"
)

CXXFLAGS=(-std=c++17 -Os -fno-exceptions -fno-rtti -ffreestanding -ffunction-sections
  -fdata-sections -Wall -Wextra
  -I "$SRC/format/include" -I "$SRC/device/include" -isystem "$SHIM")
# The runtime must not be turned back into calls to itself.
CFLAGS_RT=(-std=c99 -Os -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns
  -ffunction-sections -fdata-sections -Wall -Wextra -isystem "$SHIM")
LDFLAGS=(-nostdlib -nostartfiles -Wl,--gc-sections)

# Heap, operator new/delete, exception and unwinder support. C names are
# matched whole (so a function called e.g. free_slot is not flagged);
# mangled operator names by prefix.
FORBIDDEN='^(malloc|calloc|realloc|free|_Zn[wa].*|_Zd[la].*|__cxa_.*|__gxx_personality.*|_Unwind_.*|__aeabi_unwind_cpp_pr.*)$'

echo "embedded-check: ${#SOURCES[@]} source files:"
printf '  %s\n' "${SOURCES[@]}"

failed=()
summary=()
fail_target() {
  echo "embedded-check: FAIL [$1]: $2" >&2
  failed+=("$1")
}

# Sums the berkeley `size` output of objects: "text data bss".
sum_sizes() {
  local size_tool=$1
  shift
  "$size_tool" "$@" | awk 'NR > 1 { t += $1; d += $2; b += $3 } END { printf "%d %d %d", t, d, b }'
}

for spec in "${TARGETS[@]}"; do
  IFS='|' read -r name prefix archflags package extra_rt <<<"$spec"
  read -r -a arch <<<"$archflags"
  cxx="${prefix}g++"
  cc="${prefix}gcc"
  echo
  echo "=== $name ($cxx $archflags)"
  missing=""
  for tool in "$cxx" "$cc" "${prefix}nm" "${prefix}size"; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  if [ -n "$missing" ]; then
    fail_target "$name" "missing cross tools:$missing (Debian package $package; run 'make deps')"
    continue
  fi

  dir="$OUT/$name"
  rm -rf "$dir"
  mkdir -p "$dir/obj"
  objs=()
  ok=1
  for src in "${SOURCES[@]}"; do
    obj="$dir/obj/${src%.cpp}.o"
    mkdir -p "$(dirname "$obj")"
    if ! "$cxx" "${arch[@]}" "${CXXFLAGS[@]}" -c "$SRC/$src" -o "$obj" 2>"$obj.log"; then
      cat "$obj.log" >&2
      fail_target "$name" "compile error in $src"
      ok=0
      continue
    fi
    [ -s "$obj.log" ] && cat "$obj.log" >&2
    objs+=("$obj")
  done
  [ $ok -eq 1 ] || continue

  if ! "$cxx" "${arch[@]}" "${CXXFLAGS[@]}" -c "$HERE/harness.cpp" -o "$dir/harness.o" 2>"$dir/harness.log"; then
    cat "$dir/harness.log" >&2
    fail_target "$name" "the harness does not compile against the public headers"
    continue
  fi
  [ -s "$dir/harness.log" ] && cat "$dir/harness.log" >&2
  rt_objs=()
  for rt in runtime.c $extra_rt; do
    if ! "$cc" "${arch[@]}" "${CFLAGS_RT[@]}" -c "$SHIM/$rt" -o "$dir/${rt%.c}.o"; then
      fail_target "$name" "the runtime shim $rt does not compile"
      ok=0
      break
    fi
    rt_objs+=("$dir/${rt%.c}.o")
  done
  [ $ok -eq 1 ] || continue

  # Forbidden symbols, defined or referenced, in the core objects.
  bad=$("${prefix}nm" -A "${objs[@]}" | awk -v re="$FORBIDDEN" '$NF ~ re')
  if [ -n "$bad" ]; then
    echo "$bad" | sed 's/^/  /' >&2
    fail_target "$name" "the core objects use heap / C++ runtime / exception symbols (above)"
    continue
  fi

  image="$dir/harness.elf"
  if ! "$cxx" "${arch[@]}" "${LDFLAGS[@]}" -Wl,-Map="$dir/harness.map" -o "$image" \
      "$dir/harness.o" "${objs[@]}" "${rt_objs[@]}" -lgcc 2>"$dir/link.log"; then
    sed 's/^/  /' "$dir/link.log" >&2
    undef=$(grep -o "undefined reference to \`[^']*'" "$dir/link.log" | sort -u | sed 's/^/    /')
    if [ -n "$undef" ]; then
      fail_target "$name" "link failed: undefined symbols (a function of the public API not yet implemented, or a dependency on libc/libstdc++/heap the device does not have):
$undef"
    else
      fail_target "$name" "link failed (see above)"
    fi
    continue
  fi
  undef=$("${prefix}nm" -u "$image")
  if [ -n "$undef" ]; then
    echo "$undef" | sed 's/^/  /' >&2
    fail_target "$name" "the linked image has undefined (weak) symbols (above)"
    continue
  fi
  bad=$("${prefix}nm" "$image" | awk -v re="$FORBIDDEN" '$NF ~ re')
  if [ -n "$bad" ]; then
    echo "$bad" | sed 's/^/  /' >&2
    fail_target "$name" "the linked image contains heap / C++ runtime / exception symbols (above)"
    continue
  fi

  # The whole agent, linked on its own (harness_agent.cpp), and its RAM.
  agent_image="$dir/agent.elf"
  if ! "$cxx" "${arch[@]}" "${CXXFLAGS[@]}" -c "$HERE/harness_agent.cpp" -o "$dir/harness_agent.o" 2>"$dir/harness_agent.log" ||
     ! "$cxx" "${arch[@]}" "${LDFLAGS[@]}" -Wl,-e,ota_agent_harness -o "$agent_image" \
       "$dir/harness_agent.o" "${objs[@]}" "${rt_objs[@]}" -lgcc 2>>"$dir/harness_agent.log"; then
    sed 's/^/  /' "$dir/harness_agent.log" >&2
    fail_target "$name" "the agent harness does not compile or link (above)"
    continue
  fi
  if [ -n "$("${prefix}nm" -u "$agent_image")" ] ||
     [ -n "$("${prefix}nm" "$agent_image" | awk -v re="$FORBIDDEN" '$NF ~ re')" ]; then
    fail_target "$name" "the agent image has undefined or heap / C++ runtime symbols"
    continue
  fi
  read -r at ad ab <<<"$(sum_sizes "${prefix}size" "$agent_image")"
  read -r aht ahd ahb <<<"$(sum_sizes "${prefix}size" "$dir/harness_agent.o")"
  agent_text=$((at - aht))
  agent_ram=$("${prefix}nm" -S -t d "$agent_image" | awk '$4 == "ota_sizeof_agent" { print $2 + 0 }')

  read -r ct cd cb <<<"$(sum_sizes "${prefix}size" "${objs[@]}")"
  read -r ht hd hb <<<"$(sum_sizes "${prefix}size" "$dir/harness.o" "${rt_objs[@]}")"
  read -r it id ib <<<"$(sum_sizes "${prefix}size" "$image")"
  echo "linked OK: $image (no undefined symbols, no heap/C++ runtime symbols)"
  echo "largest functions in the image (bytes):"
  "${prefix}nm" --size-sort -S -C -t d "$image" | awk '$3 ~ /^[tTwW]$/' | tail -5 | tac |
    awk '{ size = $2 + 0; $1 = $2 = $3 = ""; sub(/^ +/, ""); printf "  %6d  %s\n", size, $0 }'
  summary+=("$name $ct $cd $cb $ht $hd $hb $it $id $ib $agent_text $agent_ram")
done

echo
echo "Code size (bytes; -Os; 'core objects' = every object of format/src + device/src before"
echo "--gc-sections; 'image' = core + harness + runtime linked with --gc-sections; image bss"
echo "includes the harness's static 32 KiB workspace and PatchDecoder; 'agent' = the whole device"
echo "agent linked with stub ports (harness_agent.cpp), text without the harness; agent_struct ="
echo "sizeof(ota::Agent), RAM besides its 23,148-byte workspace and 4,157-byte record buffer):"
{
  printf 'target\tcore_text\tcore_data\tcore_bss\tharness+rt_text\timage_text\timage_data\timage_bss\tagent_text\tagent_struct\n'
  for row in "${summary[@]}"; do
    read -r n ct cd cb ht hd hb it id ib agt agr <<<"$row"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$ct" "$cd" "$cb" "$ht" "$it" "$id" "$ib" "$agt" "$agr"
  done
} | tee "$OUT/sizes.tsv" | awk -F'\t' '{ printf "%-14s", $1; for (i = 2; i <= NF; ++i) printf " %12s", $i; printf "\n" }'

if [ ${#failed[@]} -gt 0 ]; then
  echo
  echo "embedded-check: FAILED for: ${failed[*]}" >&2
  exit 1
fi
echo
echo "embedded-check: OK (${#summary[@]} targets)"
