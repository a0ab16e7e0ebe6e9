#!/usr/bin/env bash
# `make bench` (DESIGN.md §5, §7): over every consecutive pair of the corpus,
# measured in this run, our patch size (the default, firmware-aware where it
# applies, and `--plain`) beside Debian's bsdiff, xdelta3 and zstd
# --patch-from, and the peers' figures from corpus/BASELINES.tsv; then the
# per-series gain of the firmware-aware mode over the plain one, device RAM,
# encoder time and memory, and the decoder's instructions per output byte in
# both modes (callgrind). Every patch of ours is applied back and compared
# with NEW: a mismatch fails the run.
#
# usage: bench/run-bench.sh BUILD_DIR
# environment:
#   OTA_CORPUS      corpus directory (default: SOURCE_DIR/../shared/corpus)
#   BENCH_JOBS      pairs measured in parallel by the other tools and callgrind
#                   (default 2; our encoder is always timed alone)
#   BENCH_CALLGRIND all (default: every pair, ~1 s each) or series (last pair of each series)
#   BENCH_GBENCH    1 (default) to also run ota-decoder-bench briefly, 0 to skip
# Writes BUILD_DIR/bench/results.tsv (the table) and keeps each pair's raw
# figures and logs under BUILD_DIR/bench/pairs/.
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
START=$SECONDS
SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=$(cd "$1" && pwd)
BIN="$BUILD_DIR/bin"
CORPUS=${OTA_CORPUS:-$SOURCE_DIR/../shared/corpus}
JOBS=${BENCH_JOBS:-2}
CALLGRIND_MODE=${BENCH_CALLGRIND:-all}
OUT="$BUILD_DIR/bench"

if [ ! -f "$CORPUS/MANIFEST.tsv" ]; then
  echo "bench: no corpus at $CORPUS (set OTA_CORPUS); nothing to measure"
  exit 0
fi
CORPUS=$(cd "$CORPUS" && pwd)

die() {
  echo "bench: FAIL: $*" >&2
  exit 1
}

for exe in ota-delta ota-apply-cost; do
  [ -x "$BIN/$exe" ] || die "$BIN/$exe not built (run 'make build')"
done
for tool in bsdiff xdelta3 zstd valgrind python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (run 'make deps')"
done

# Runs a command and writes "seconds max_rss_kib" to $1.
if [ -x /usr/bin/time ]; then
  measure() {
    local out=$1
    shift
    /usr/bin/time -f '%e %M' -o "$out" "$@"
  }
else
  measure() {
    local out=$1
    shift
    python3 - "$out" "$@" <<'EOF'
import os, subprocess, sys, time
start = time.monotonic()
p = subprocess.Popen(sys.argv[2:])
_, status, ru = os.wait4(p.pid, 0)
with open(sys.argv[1], "w") as f:
    f.write("%.2f %d\n" % (time.monotonic() - start, ru.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
EOF
  }
fi

# Consecutive rows of a series are the update pairs.
mapfile -t PAIRS < <(awk -F'\t' 'NR > 1 && $1 != "" {
    if ($1 == prev) print $1 "\t" prev_version "\t" $2
    prev = $1; prev_version = $2 }' "$CORPUS/MANIFEST.tsv")
[ ${#PAIRS[@]} -gt 0 ] || die "no pairs in $CORPUS/MANIFEST.tsv"

rm -rf "$OUT/pairs"
mkdir -p "$OUT/pairs"

# The pairs whose apply cost callgrind measures.
declare -A CALLGRIND_PAIR=()
for i in "${!PAIRS[@]}"; do
  IFS=$'\t' read -r series _ _ <<<"${PAIRS[$i]}"
  next_series=""
  [ $((i + 1)) -lt ${#PAIRS[@]} ] && IFS=$'\t' read -r next_series _ _ <<<"${PAIRS[$((i + 1))]}"
  if [ "$CALLGRIND_MODE" = all ] || [ "$series" != "$next_series" ]; then CALLGRIND_PAIR[$i]=1; fi
done

# Pair $1's directory, files and failure recorders.
pair_setup() {
  IFS=$'\t' read -r series old new <<<"${PAIRS[$1]}"
  dir=$(printf '%s/pairs/%02d' "$OUT" "$1")
  mkdir -p "$dir"
  o="$CORPUS/$series/$old.bin"
  n="$CORPUS/$series/$new.bin"
}
fail() {  # a pair that cannot be measured at all
  echo "$series $old -> $new: $*" >>"$dir/FAILED"
  return 1
}
ours_fail() {  # our patch failed: recorded, the rest still measured
  echo "$series $old -> $new: $*" >>"$dir/OURS_FAILED"
}

# Applies patch $1 back with the device decoder, compares the output with
# NEW and prints the patch's device RAM; on a failure records it (prefixed
# with $2) and prints nothing.
verify_patch() {
  local patch=$1 what=$2 ram=
  if ! "$BIN/ota-delta" apply "$o" "$patch" "$dir/out"; then
    ours_fail "$what: ota-delta apply failed"
  elif ! cmp -s "$dir/out" "$n"; then
    ours_fail "$what: ota-delta apply output differs from NEW"
  elif ! ram=$("$BIN/ota-delta" info "$patch" --json | python3 -c \
      'import json,sys; print(int(json.load(sys.stdin)["device_ram"]))'); then
    ram=
    ours_fail "$what: ota-delta info --json has no device_ram"
  fi
  rm -f "$dir/out"
  [ -n "$ram" ] && echo "$ram"
}

# Phase 1, one pair at a time so the encoder's time is its own: our patch
# (timed), applied back and compared with NEW, and its device RAM; then the
# plain-mode patch (`--plain`, not timed), applied back and compared too.
# Writes pairs/NN/ours.tsv: size (or FAIL), seconds, max RSS KiB, device RAM,
# plain size (or FAIL), plain device RAM.
run_ours() {
  local series old new dir o n
  pair_setup "$1"
  [ -f "$o" ] && [ -f "$n" ] || { fail "corpus file missing"; return 1; }
  local ours=FAIL ram=- secs=- rss=- plain=FAIL plain_ram=-
  if ! measure "$dir/encode.time" "$BIN/ota-delta" diff "$o" "$n" "$dir/p.ota"; then
    ours_fail "ota-delta diff failed"
  elif ram=$(verify_patch "$dir/p.ota" default); then
    ours=$(stat -c %s "$dir/p.ota")
  else
    ram=-
  fi
  if ! "$BIN/ota-delta" diff --plain "$o" "$n" "$dir/plain.ota"; then
    ours_fail "ota-delta diff --plain failed"
  elif plain_ram=$(verify_patch "$dir/plain.ota" --plain); then
    plain=$(stat -c %s "$dir/plain.ota")
  else
    plain_ram=-
  fi
  # GNU time puts "Command exited with non-zero status N" first on failure.
  [ -f "$dir/encode.time" ] && read -r secs rss < <(tail -n 1 "$dir/encode.time")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$ours" "$secs" "$rss" "$ram" "$plain" "$plain_ram" \
    >"$dir/ours.tsv"
}

# Phase 2, $JOBS pairs at a time: bsdiff, xdelta3, zstd, and callgrind on
# our decoder. Writes pairs/NN/result.tsv (the whole row).
run_others() {
  local series old new dir o n
  pair_setup "$1"
  [ -f "$o" ] && [ -f "$n" ] || { fail "corpus file missing"; return 1; }
  bsdiff "$o" "$n" "$dir/p.bsdiff" || { fail "bsdiff failed"; return 1; }
  xdelta3 -9 -S djw -e -f -s "$o" "$n" "$dir/p.xdelta3" || { fail "xdelta3 failed"; return 1; }
  zstd -q -f -19 --long=24 --patch-from="$o" "$n" -o "$dir/p.zst" 2>"$dir/zstd.log" \
    || { fail "zstd failed (see $dir/zstd.log)"; return 1; }

  local ours secs rss ram plain plain_ram ir=- ir_plain=-
  read -r ours secs rss ram plain plain_ram <"$dir/ours.tsv" || { fail "no result from phase 1"; return 1; }
  # Instructions the device decoder spends applying patch $1 (callgrind).
  apply_cost() {
    local patch=$1 tag=$2 v
    if ! valgrind --tool=callgrind --toggle-collect='*apply_in_memory*' \
        --callgrind-out-file="$dir/callgrind-$tag.out" "$BIN/ota-apply-cost" "$o" "$patch" "$n" \
        >"$dir/apply-cost-$tag.txt" 2>"$dir/callgrind-$tag.log"; then
      ours_fail "ota-apply-cost ($tag) under callgrind failed (see $dir/callgrind-$tag.log)"
      echo -
      return
    fi
    v=$(awk '$1 == "summary:" || $1 == "totals:" { v = $2 } END { print v }' "$dir/callgrind-$tag.out")
    if [ -z "$v" ] || [ "$v" -le 0 ]; then
      ours_fail "callgrind counted nothing in apply_in_memory ($tag)"
      echo -
      return
    fi
    echo "$v"
  }
  if [ -n "${CALLGRIND_PAIR[$1]:-}" ]; then
    [ "$ours" != FAIL ] && ir=$(apply_cost "$dir/p.ota" default)
    [ "$plain" != FAIL ] && ir_plain=$(apply_cost "$dir/plain.ota" plain)
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$series" "$old" \
    "$new" "$(stat -L -c %s "$o")" "$(stat -L -c %s "$n")" "$ours" "$(stat -c %s "$dir/p.bsdiff")" \
    "$(stat -c %s "$dir/p.xdelta3")" "$(stat -c %s "$dir/p.zst")" "$secs" "$rss" "$ram" "$ir" \
    "$plain" "$plain_ram" "$ir_plain" >"$dir/result.tsv"
}

log_of() { printf '%s/pairs/%02d.log' "$OUT" "$1"; }

echo "bench: ${#PAIRS[@]} pairs from $CORPUS"
echo "bench: phase 1: our patches, one at a time (timed; each applied back and compared with NEW)"
t0=$SECONDS
for i in "${!PAIRS[@]}"; do
  (run_ours "$i" >"$(log_of "$i")" 2>&1) || true
done
echo "bench: phase 2: bsdiff, xdelta3, zstd, and callgrind on ${#CALLGRIND_PAIR[@]} pairs" \
  "(BENCH_CALLGRIND=$CALLGRIND_MODE), $JOBS pairs at a time [phase 1 took $((SECONDS - t0)) s]"
t0=$SECONDS
for i in "${!PAIRS[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  (run_others "$i" >>"$(log_of "$i")" 2>&1) &
done
wait || true
echo "bench: phase 2 took $((SECONDS - t0)) s"

failed=0
ours_failed=0
for i in "${!PAIRS[@]}"; do
  d=$(printf '%s/pairs/%02d' "$OUT" "$i")
  if [ ! -f "$d/result.tsv" ]; then
    cat "$d/FAILED" 2>/dev/null | sed 's/^/bench: FAIL: /' >&2 || echo "bench: FAIL: pair $i: no result" >&2
    sed 's/^/  /' "$d.log" >&2 || true
    failed=1
  elif [ -f "$d/OURS_FAILED" ]; then
    sed 's/^/bench: FAIL: /' "$d/OURS_FAILED" >&2
    sed 's/^/  /' "$d.log" >&2 || true
    ours_failed=$((ours_failed + 1))
  fi
  rm -f "$d"/p.bsdiff "$d"/p.xdelta3 "$d"/p.zst "$d"/plain.ota
done
[ $failed -eq 0 ] || die "some pairs could not be measured (above)"

cat "$OUT"/pairs/*/result.tsv >"$OUT/pairs.tsv"
python3 - "$OUT/pairs.tsv" "$CORPUS/BASELINES.tsv" "$OUT/results.tsv" <<'EOF'
import sys

pairs_path, baselines_path, results_path = sys.argv[1:4]
peer_cols = ["esp_delta_ota", "detools_lzma", "hpatchlite_tuz32k", "hdiffpatch_lzma2"]
live_cols = ["bsdiff", "xdelta3_9_djw", "zstd_19_patch_from"]

baselines = {}
with open(baselines_path) as f:
    head = f.readline().rstrip("\n").split("\t")
    for line in f:
        row = dict(zip(head, line.rstrip("\n").split("\t")))
        if row.get("project") and row["project"] != "TOTAL":
            baselines[(row["project"], row["old_version"], row["new_version"])] = row

def num(v, conv=int):
    return None if v in ("-", "FAIL", "") else conv(v)

rows = []
with open(pairs_path) as f:
    for line in f:
        (series, old, new, old_size, new_size, ours, bsd, xd, zst, secs, rss, ram,
         ir, plain, plain_ram, ir_plain) = line.rstrip("\n").split("\t")
        rows.append(dict(series=series, old=old, new=new, old_size=int(old_size),
                         new_size=int(new_size), ours=num(ours), bsdiff=int(bsd),
                         xdelta3=int(xd), zstd=int(zst), secs=num(secs, float),
                         rss=num(rss), ram=num(ram), ir=num(ir), plain=num(plain),
                         plain_ram=num(plain_ram), ir_plain=num(ir_plain)))

cols = ["new", "ours", "plain", "bsdiff", "xdelta3", "zstd"] + peer_cols
table = []
missing_baselines = 0
live_equal = {c: 0 for c in live_cols}
for r in rows:
    b = baselines.get((r["series"], r["old"], r["new"]))
    if b is None:
        missing_baselines += 1
    vals = {"new": r["new_size"], "ours": r["ours"], "plain": r["plain"], "bsdiff": r["bsdiff"],
            "xdelta3": r["xdelta3"], "zstd": r["zstd"]}
    for c in peer_cols:
        vals[c] = int(b[c]) if b and b.get(c, "").isdigit() else None
    if b:
        for c, mine in zip(live_cols, ("bsdiff", "xdelta3", "zstd")):
            live_equal[c] += b.get(c) == str(r[mine])
    table.append(("%s %s>%s" % (r["series"], r["old"], r["new"]), vals))

# Totals over the pairs where ours succeeded, so every ratio compares the
# same pairs; the label says when that is not all of them.
ok = [v for _, v in table if v["ours"] is not None and v["plain"] is not None]
totals = {c: (None if not ok or any(v[c] is None for v in ok) else sum(v[c] for v in ok))
          for c in cols}
ratios = {c: (None if not totals[c] or totals["ours"] is None else totals["ours"] / totals[c])
          for c in cols}
total_label = "TOTAL" if len(ok) == len(table) else "TOTAL (%d of %d pairs)" % (len(ok), len(table))

def cell(v, fail=False):
    if v is None:
        return "FAIL" if fail else "-"
    return "%.3f" % v if isinstance(v, float) else str(v)

width = max(len(total_label), max(len(name) for name, _ in table)) + 1
print()
print(("%-*s" % (width, "pair")) + "".join("%12s" % c[:11] for c in cols[:6]) +
      "".join("%19s" % c for c in peer_cols))
def line(name, vals, fail=False):
    return (("%-*s" % (width, name)) +
            "".join("%12s" % cell(vals[c], fail and c in ("ours", "plain")) for c in cols[:6]) +
            "".join("%19s" % cell(vals[c]) for c in peer_cols))
for name, vals in table:
    print(line(name, vals, fail=True))
print(line(total_label, totals))
print(line("ours/column", ratios))

with open(results_path, "w") as f:
    f.write("\t".join(["pair"] + cols + ["encode_s", "encode_max_rss_kib", "device_ram",
                                         "apply_instructions", "instructions_per_byte",
                                         "plain_device_ram", "plain_apply_instructions",
                                         "plain_instructions_per_byte"]) + "\n")
    for (name, vals), r in zip(table, rows):
        ipb = "%.2f" % (r["ir"] / r["new_size"]) if r["ir"] else "-"
        ipb_plain = "%.2f" % (r["ir_plain"] / r["new_size"]) if r["ir_plain"] else "-"
        f.write("\t".join([name] + [cell(vals[c], c in ("ours", "plain")) for c in cols] +
                          [cell(r["secs"]), cell(r["rss"]), cell(r["ram"]), cell(r["ir"]),
                           ipb, cell(r["plain_ram"]), cell(r["ir_plain"]), ipb_plain]) + "\n")
    f.write("\t".join([total_label] + [cell(totals[c]) for c in cols]) + "\n")
    f.write("\t".join(["ours/column"] + [cell(ratios[c]) for c in cols]) + "\n")

print()
if missing_baselines:
    print("note: %d pairs have no row in BASELINES.tsv ('-')" % missing_baselines)
print("live runs equal to BASELINES.tsv: " + ", ".join(
    "%s %d/%d" % (c, live_equal[c], len(rows)) for c in live_cols))
good = [r for r in rows if r["ours"] is not None and r["plain"] is not None]
if not good:
    sys.exit(0)

# The firmware-aware mode (the default) against the plain one, per series.
def mean(xs):
    return sum(xs) / len(xs) if xs else None
print()
print("firmware-aware (default `ota-delta diff`) vs plain (`--plain`), per series; "
      "instructions per output byte: callgrind mean over the measured pairs")
print("%-22s %5s %10s %10s %7s %10s %8s %8s %9s %9s" % (
    "series", "pairs", "plain", "default", "gain", "hdiffz", "x_hdiffz", "plain_x", "ipb_plain",
    "ipb_dflt"))
def summary(name, rs):
    p = sum(r["plain"] for r in rs)
    d = sum(r["ours"] for r in rs)
    hs = [baselines.get((r["series"], r["old"], r["new"]), {}).get("hdiffpatch_lzma2", "") for r in rs]
    h = sum(int(x) for x in hs) if all(x.isdigit() for x in hs) else None
    ip = mean([r["ir_plain"] / r["new_size"] for r in rs if r["ir_plain"]])
    idf = mean([r["ir"] / r["new_size"] for r in rs if r["ir"]])
    print("%-22s %5d %10d %10d %6.1f%% %10s %8s %8s %9s %9s" % (
        name, len(rs), p, d, 100.0 * (d - p) / p, cell(h), cell(d / h if h else None),
        cell(p / h if h else None), "%.1f" % ip if ip else "-", "%.1f" % idf if idf else "-"))
for series in dict.fromkeys(r["series"] for r in good):
    summary(series, [r for r in good if r["series"] == series])
summary("total", good)
fw = [r for r in good if r["ours"] < r["plain"]]
print("firmware-aware patches: %d of %d pairs (the others: plain was smaller or the pair is "
      "not two ESP images of one chip)" % (len(fw), len(good)))
print()
ram = max(good, key=lambda r: r["ram"])
print("device RAM to apply (ota-delta info device_ram), max over pairs: default %d B = %.1f KiB "
      "(target <= 48 KiB) [%s %s>%s]" % (ram["ram"], ram["ram"] / 1024, ram["series"],
                                           ram["old"], ram["new"]))
pram = max(good, key=lambda r: r["plain_ram"])
print("  plain (--plain): %d B = %.1f KiB (target <= 32 KiB)" % (pram["plain_ram"],
                                                                 pram["plain_ram"] / 1024))
slow = max(good, key=lambda r: r["secs"])
fat = max(good, key=lambda r: r["rss"])
print("encoder (ota-delta diff, default settings, timed one pair at a time): max %.2f s [%s %s>%s], "
      "total %.1f s over %d pairs" % ( slow["secs"], slow["series"], slow["old"], slow["new"],
                                      sum(r["secs"] for r in good), len(good)))
print("encoder peak memory: max RSS %.1f MiB = %.2fx old+new [%s %s>%s] (target <= 3x)" % (
    fat["rss"] / 1024, fat["rss"] * 1024 / (fat["old_size"] + fat["new_size"]), fat["series"],
    fat["old"], fat["new"]))
measured = [r for r in rows if r["ir"]]
if measured:
    print("device apply cost (callgrind Ir in apply_in_memory / new bytes, hash ports off), "
          "default patches:")
    for series in dict.fromkeys(r["series"] for r in measured):
        per = [r["ir"] / r["new_size"] for r in measured if r["series"] == series]
        print("  %-22s %2d pairs: mean %.1f, max %.1f instructions/byte" % (
            series, len(per), sum(per) / len(per), max(per)))
    allp = [r["ir"] / r["new_size"] for r in measured]
    print("  %-22s %2d pairs: mean %.1f, max %.1f instructions/byte" % (
        "all", len(allp), sum(allp) / len(allp), max(allp)))
    plain_m = [r["ir_plain"] / r["new_size"] for r in rows if r["ir_plain"]]
    if plain_m:
        print("  %-22s %2d pairs: mean %.1f, max %.1f instructions/byte" % (
            "all, --plain", len(plain_m), sum(plain_m) / len(plain_m), max(plain_m)))
EOF

if [ "${BENCH_GBENCH:-1}" = 1 ] && [ -x "$BIN/ota-decoder-bench" ]; then
  echo
  echo "decoder throughput on the host (ota-decoder-bench):"
  OTA_CORPUS="$CORPUS" "$BIN/ota-decoder-bench" --benchmark_min_time=0.2 \
    || die "ota-decoder-bench failed"
fi

echo
echo "bench: results in $OUT/results.tsv; took $((SECONDS - START)) s"
if [ $ours_failed -gt 0 ]; then
  die "$ours_failed of ${#PAIRS[@]} pairs: our patch failed to make, apply or verify (listed above)"
fi
