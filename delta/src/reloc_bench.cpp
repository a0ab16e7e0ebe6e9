// ota-reloc-bench: the shipped-map firmware-aware delta (issue #7) against
// the plain engine on every consecutive pair of the corpus, beside
// HDiffPatch+LZMA2 (BASELINES.tsv). Used by bench/reloc-bench.sh.
//
// With --ctrl-derived it measures the other design instead: the map the
// device would estimate from the patch's own records (nothing but the vote
// overlay shipped), in the interleaved layout (optimistic: a streaming
// device would need the records ahead of the diff bytes).
//
// usage: ota-reloc-bench CORPUS_DIR [--refine N] [--votes N] [--ctrl-derived] [--min-excursion N]
//                        [--jobs N] [--pairs N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ota/delta/lzma_compress.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/reloc_encoder.h"
#include "ota/delta/reloc_votes.h"

namespace {

std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string c;
    while (std::getline(ss, c, '\t')) cols.push_back(c);
    rows.push_back(cols);
  }
  return rows;
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

struct Pair {
  std::string series, a, b;
  long hdiffz = 0;
  size_t plain = 0;
  ota::delta::RelocPatchSizes reloc;
  double seconds = 0;
};

// The ctrl-derived design (research "ctrlmap"): map0 from match(old, new);
// records1 = match(T(old, map0), new); map1 = estimate(records1), which a
// device could compute itself; the vote runs over map1 are the only side
// data; the stream is T(old, map1 + runs) -> new along records1.
ota::delta::RelocPatchSizes measure_ctrl_derived(const std::vector<uint8_t>& o,
                                                 const std::vector<uint8_t>& n, uint32_t min_votes,
                                                 const ota::delta::EncodeOptions& e) {
  using namespace ota::delta;
  RelocPatchSizes r;
  LzmaParams lp{e.dict_size, e.lc, e.lp, e.pb};
  auto ol = reloc_layout(o), nl = reloc_layout(n);
  if (!ol || !nl || !reloc_applicable(*ol, *nl)) {
    r.patch = make_patch(o, n, e).size();
    return r;
  }
  auto map0 = estimate_reloc_map(*ol, *nl, match_images(o, n));
  auto records1 = match_images(reloc_transform_image(o, *ol, map0), n);
  auto map1 = estimate_reloc_map(*ol, *nl, records1);
  std::vector<ota::RelocRegion> runs;
  if (min_votes)
    runs = reloc_vote_runs(*ol, map1, collect_reloc_votes(o, n, *ol, *nl, records1), min_votes);
  auto old2 = reloc_transform_image(o, *ol, paint_reloc_overlay(*ol, map1, runs));

  r.applied = true;
  r.regions = uint32_t(runs.size());
  auto ser = serialize_reloc_map(runs);
  r.map_raw = ser.size();
  r.map_lzma = runs.empty() ? 0 : lzma_compress_raw(ser, lp).size();
  r.patch = make_patch_from_records(old2, n, records1, e).size();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: ota-reloc-bench CORPUS_DIR [--refine N] [--votes N] [--jobs N] [--pairs N]\n");
    return 2;
  }
  std::string corpus = argv[1];
  ota::delta::RelocMapOptions mo;
  ota::delta::EncodeOptions eo;
  int jobs = 1;
  bool ctrl_derived = false;
  size_t max_pairs = SIZE_MAX;
  for (int i = 2; i < argc; i += 2) {
    if (!std::strcmp(argv[i], "--ctrl-derived")) {
      ctrl_derived = true;
      --i;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "ota-reloc-bench: %s needs a value\n", argv[i]);
      return 2;
    }
    if (!std::strcmp(argv[i], "--refine")) mo.refine = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--votes")) mo.min_run_votes = uint32_t(std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--min-excursion")) eo.min_excursion = uint32_t(std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--jobs")) jobs = std::max(1, std::atoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--pairs")) max_pairs = std::strtoul(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "ota-reloc-bench: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  auto manifest = read_tsv(corpus + "/MANIFEST.tsv");
  if (manifest.size() < 2) {
    std::fprintf(stderr, "ota-reloc-bench: no MANIFEST.tsv in %s\n", corpus.c_str());
    return 1;
  }
  std::map<std::string, long> hdiffz;
  auto base = read_tsv(corpus + "/BASELINES.tsv");
  size_t hcol = 0;
  if (!base.empty())
    for (size_t k = 0; k < base[0].size(); ++k)
      if (base[0][k] == "hdiffpatch_lzma2") hcol = k;
  for (size_t r = 1; r < base.size(); ++r)
    if (hcol && base[r].size() > hcol) hdiffz[base[r][0] + "/" + base[r][1] + "/" + base[r][2]] = std::atol(base[r][hcol].c_str());
  std::vector<Pair> pairs;
  for (size_t r = 2; r < manifest.size(); ++r)
    if (manifest[r][0] == manifest[r - 1][0])
      pairs.push_back({manifest[r][0], manifest[r - 1][1], manifest[r][1], 0, 0, {}, 0});
  if (pairs.size() > max_pairs) pairs.resize(max_pairs);
  for (auto& p : pairs) p.hdiffz = hdiffz[p.series + "/" + p.a + "/" + p.b];

  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < pairs.size();) {
      Pair& p = pairs[i];
      auto t0 = std::chrono::steady_clock::now();
      auto o = read_bytes(corpus + "/" + p.series + "/" + p.a + ".bin");
      auto n = read_bytes(corpus + "/" + p.series + "/" + p.b + ".bin");
      p.plain = ota::delta::make_patch(o, n, eo).size();
      p.reloc = ctrl_derived ? measure_ctrl_derived(o, n, mo.min_run_votes, eo)
                             : ota::delta::measure_reloc_patch(o, n, mo, eo);
      p.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  };
  std::vector<std::thread> th;
  for (int j = 0; j < jobs; ++j) th.emplace_back(work);
  for (auto& t : th) t.join();

  std::string overlay =
      mo.min_run_votes ? "runs of >= " + std::to_string(mo.min_run_votes) + " votes" : std::string("off");
  if (ctrl_derived)
    std::printf("# ctrl-derived map (estimated from the patch's own records; only the vote overlay, %s, "
                "shipped), interleaved layout, T block-local 4 KiB; sizes in bytes\n", overlay.c_str());
  else
    std::printf("# shipped map (map0 from the matcher's matches, refined %d time(s), vote overlay %s), "
                "T block-local 4 KiB; sizes in bytes\n", mo.refine, overlay.c_str());
  std::printf("# short excursions (adds under %u bytes leaving the cached 4 KiB block) as literals%s\n",
              eo.min_excursion, eo.min_excursion ? "" : ": off");
  std::printf("%-22s %-10s %-10s %9s %9s %7s %8s %9s %9s %7s %5s\n", "series", "old", "new", "plain",
              "reloc", "map", "regions", "hdiffz", "x_hdiffz", "x_plain", "s");
  struct Sum {
    long plain = 0, reloc = 0, map = 0, hdiffz = 0;
  };
  std::map<std::string, Sum> per;
  std::vector<std::string> order;
  Sum all;
  for (const Pair& p : pairs) {
    long rel = long(p.reloc.total());
    std::printf("%-22s %-10s %-10s %9zu %9ld %7zu %8u %9ld %9.3f %7.3f %5.1f\n", p.series.c_str(),
                p.a.c_str(), p.b.c_str(), p.plain, rel, p.reloc.map_lzma, p.reloc.regions, p.hdiffz,
                p.hdiffz ? double(rel) / p.hdiffz : 0.0, double(rel) / p.plain, p.seconds);
    if (!per.count(p.series)) order.push_back(p.series);
    for (Sum* s : {&per[p.series], &all}) {
      s->plain += long(p.plain);
      s->reloc += rel;
      s->map += long(p.reloc.map_lzma);
      s->hdiffz += p.hdiffz;
    }
  }
  std::printf("\n%-22s %9s %9s %7s %9s %9s %9s %7s\n", "series", "pairs", "plain", "reloc", "map",
              "hdiffz", "x_hdiffz", "x_plain");
  auto row = [](const char* name, size_t n, const Sum& s) {
    std::printf("%-22s %9zu %9ld %9ld %7ld %9ld %9.3f %7.3f\n", name, n, s.plain, s.reloc, s.map,
                s.hdiffz, s.hdiffz ? double(s.reloc) / s.hdiffz : 0.0, double(s.reloc) / s.plain);
  };
  for (const auto& name : order) {
    size_t n = 0;
    for (const Pair& p : pairs) n += p.series == name;
    row(name.c_str(), n, per[name]);
  }
  row("total", pairs.size(), all);
  std::printf("plain total x hdiffz: %.3f\n", all.hdiffz ? double(all.plain) / all.hdiffz : 0.0);
  return 0;
}
