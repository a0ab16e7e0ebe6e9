#!/usr/bin/python3
"""Writes the golden files of reloc_test from the research prototype.

For each corpus pair named: the prototype's address map (addrmap.estimate on
Debian bsdiff's matches), then the prototype's T in the block-local 4 KiB
variant of `shift_best_local4k` (experiments._tf_best(old, map, local=True)),
and a file with the map's regions and tails, a digest of every 4 KiB block of
T(old), and the digest of the whole of T(old). The C++ test loads the map,
runs reloc_transform_block on every block and compares.

usage: /usr/bin/python3 gen_golden.py PROTOTYPE_DIR CORPUS_DIR OUT_DIR SERIES/OLD/NEW...
(needs python3-numpy and Debian's bsdiff)
"""
import hashlib, os, sys

proto, corpus, out_dir = sys.argv[1:4]
os.environ["OTA_CORPUS"] = corpus
sys.path.insert(0, proto)
import addrmap, experiments, rlib  # noqa: E402

for spec in sys.argv[4:]:
    series, a, b = spec.split("/")
    old, new = rlib.load(series, a), rlib.load(series, b)
    m = addrmap.estimate(old, new)
    t = experiments._tf_best(old, m, local=True)
    assert len(t) == len(old)
    lines = ["# reloc golden: prototype addrmap.estimate + _tf_best(local=True)",
             "old %s/%s.bin %s" % (series, a, hashlib.sha256(old).hexdigest()),
             "chip %d" % rlib.chip_id(old)]
    for s, e, d in m.regions:
        lines.append("region %x %d %d" % (s, e - s, d))
    for s, e, d in m.tails:
        lines.append("tail %x %x %d" % (s, e, d))
    for i in range(0, len(t), 4096):
        lines.append("block %d %s" % (i // 4096, hashlib.sha256(t[i:i + 4096]).hexdigest()[:16]))
    changed = sum(1 for x, y in zip(old, t) if x != y)
    lines.append("changed %d" % changed)
    lines.append("sha256 %s" % hashlib.sha256(t).hexdigest())
    path = os.path.join(out_dir, "%s_%s_%s.golden" % (series, a, b))
    open(path, "w").write("\n".join(lines) + "\n")
    print(path, len(m.regions), "regions", changed, "bytes changed", flush=True)
