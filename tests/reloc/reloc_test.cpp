// The transform T (ota/reloc.h): bit-identical to the research prototype on
// corpus images (golden files written by gen_golden.py), identity for other
// chips, no read outside the image, deterministic, and no crash on random
// maps and blocks.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <set>
#include <sstream>

#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/reloc_encoder.h"
#include "ota/delta/sha256.h"
#include "ota/reloc.h"
#include "test_support.h"

namespace ota {
namespace {

struct Image {
  const std::vector<uint8_t>* bytes;
  std::set<uint32_t>* reads = nullptr;  // offsets read, when non-null
  bool fail = false;
};

int read_image(void* ctx, uint32_t off, uint8_t* buf, uint32_t len) {
  auto* im = static_cast<Image*>(ctx);
  if (im->fail) return -1;
  if (off > im->bytes->size() || len > im->bytes->size() - off) {
    ADD_FAILURE() << "read outside the image at " << off << "+" << len;
    return -1;
  }
  std::memcpy(buf, im->bytes->data() + off, len);
  if (im->reads)
    for (uint32_t k = 0; k < len; ++k) im->reads->insert(off + k);
  return 0;
}

// T of the whole image, block by block. Returns the first failure.
Status transform_image(const RelocContext& c, const std::vector<uint8_t>& img,
                       std::vector<uint8_t>* out) {
  out->assign(img.size(), 0);
  uint32_t end = c.layout->image_size;
  std::copy(img.begin() + end, img.end(), out->begin() + end);  // checksum and digest: untouched
  for (uint32_t off = 0; off < end; off += kRelocBlockSize) {
    uint32_t len = std::min<uint32_t>(kRelocBlockSize, end - off);
    std::vector<uint8_t> blk(img.begin() + off, img.begin() + off + len), o(len);
    Status s = reloc_transform_block(&c, off, blk.data(), len, o.data());
    if (s != kStatusOk) return s;
    std::copy(o.begin(), o.end(), out->begin() + off);
  }
  return kStatusOk;
}

struct Golden {
  std::string old_file, old_sha;
  int chip = -1;
  std::vector<RelocRegion> regions;
  std::vector<RelocTail> tails;
  std::vector<std::string> blocks;
  long changed = -1;
  std::string sha;
};

Golden load_golden(const std::filesystem::path& p) {
  Golden g;
  std::ifstream f(p);
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string tag;
    in >> tag;
    if (tag == "old") in >> g.old_file >> g.old_sha;
    else if (tag == "chip") in >> g.chip;
    else if (tag == "region") {
      RelocRegion r;
      int64_t len, d;
      in >> std::hex >> r.old_start >> std::dec >> len >> d;
      r.length = static_cast<uint32_t>(len);
      r.delta = static_cast<int32_t>(d);
      g.regions.push_back(r);
    } else if (tag == "tail") {
      RelocTail t;
      int64_t d;
      in >> std::hex >> t.start >> t.end >> std::dec >> d;
      t.delta = static_cast<int32_t>(d);
      g.tails.push_back(t);
    } else if (tag == "block") {
      size_t i;
      std::string h;
      in >> i >> h;
      if (g.blocks.size() <= i) g.blocks.resize(i + 1);
      g.blocks[i] = h;
    } else if (tag == "changed") in >> g.changed;
    else if (tag == "sha256") in >> g.sha;
  }
  return g;
}

std::vector<std::filesystem::path> golden_files() {
  std::vector<std::filesystem::path> v;
  // $OTA_RELOC_GOLDEN_DIR: e.g. goldens of all 40 pairs written by gen_golden.py.
  const char* env = std::getenv("OTA_RELOC_GOLDEN_DIR");
  for (auto& e : std::filesystem::directory_iterator(env && *env ? env : OTA_RELOC_GOLDEN_DIR))
    if (e.path().extension() == ".golden") v.push_back(e.path());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(RelocGolden, MatchesPrototypeOnCorpus) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  auto files = golden_files();
  ASSERT_FALSE(files.empty());
  for (const auto& gf : files) {
    SCOPED_TRACE(gf.filename().string());
    Golden g = load_golden(gf);
    ASSERT_FALSE(g.regions.empty());
    auto img = test::read_file(*corpus / g.old_file);
    ASSERT_EQ(delta::to_hex(delta::sha256(img)), g.old_sha);
    Image im{&img};
    RelocImageLayout layout;
    ASSERT_EQ(reloc_read_layout(read_image, &im, img.size(), &layout), kStatusOk);
    EXPECT_EQ(layout.chip_id, g.chip);
    RelocContext c;
    ASSERT_EQ(reloc_context_init(&c, &layout, g.regions.data(), g.regions.size(), read_image, &im),
              kStatusOk);
    ASSERT_EQ(c.tail_count, g.tails.size());
    for (size_t k = 0; k < g.tails.size(); ++k) {
      EXPECT_EQ(c.tails[k].start, g.tails[k].start);
      EXPECT_EQ(c.tails[k].end, g.tails[k].end);
      EXPECT_EQ(c.tails[k].delta, g.tails[k].delta);
    }
    std::vector<uint8_t> t;
    ASSERT_EQ(transform_image(c, img, &t), kStatusOk);
    ASSERT_EQ(g.blocks.size(), (img.size() + kRelocBlockSize - 1) / kRelocBlockSize);
    int bad = 0;
    for (size_t i = 0; i < g.blocks.size(); ++i) {
      size_t off = i * kRelocBlockSize, len = std::min<size_t>(kRelocBlockSize, t.size() - off);
      std::string h = delta::to_hex(delta::sha256({t.data() + off, len})).substr(0, 16);
      if (h != g.blocks[i] && bad++ < 5) ADD_FAILURE() << "block " << i << " differs";
    }
    long changed = 0;
    for (size_t i = 0; i < t.size(); ++i) changed += t[i] != img[i];
    EXPECT_EQ(changed, g.changed);
    EXPECT_EQ(delta::to_hex(delta::sha256(t)), g.sha);
    RecordProperty(gf.stem().string() + "_changed", static_cast<int>(changed));
  }
}

// A map that moves everything of every segment by `d` (and so rewrites
// nearly every reference whose field can hold the new value).
std::vector<RelocRegion> shift_map(const RelocImageLayout& l, int32_t d) {
  std::vector<RelocRegion> r;
  for (uint32_t k = 0; k < l.segment_count; ++k)
    if (l.segments[k].length) r.push_back({l.segments[k].load_addr, l.segments[k].length, d});
  std::sort(r.begin(), r.end(), [](auto& a, auto& b) { return a.old_start < b.old_start; });
  return r;
}

std::vector<std::vector<uint8_t>> corpus_samples() {
  std::vector<std::vector<uint8_t>> v;
  auto corpus = test::corpus_dir();
  if (!corpus) return v;
  std::set<std::string> seen;
  for (const auto& p : test::corpus_pairs(*corpus))
    if (seen.insert(p.series).second) v.push_back(test::read_file(p.old_path));
  return v;
}

TEST(Reloc, IdentityForOtherChips) {
  auto samples = corpus_samples();
  if (samples.empty()) samples.push_back(test::synthetic_esp32_app("1.0.0", "demo", std::vector<uint8_t>(5000, 0x25)));
  for (auto img : samples) {
    for (uint16_t chip : {2, 12, 0xFFFF}) {
      img[12] = static_cast<uint8_t>(chip);
      img[13] = static_cast<uint8_t>(chip >> 8);
      Image im{&img};
      RelocImageLayout l;
      ASSERT_EQ(reloc_read_layout(read_image, &im, img.size(), &l), kStatusOk);
      auto map = shift_map(l, 0x1234);
      RelocContext c;
      ASSERT_EQ(reloc_context_init(&c, &l, map.data(), map.size(), read_image, &im), kStatusOk);
      EXPECT_EQ(c.isa, kRelocIsaNone);
      std::vector<uint8_t> t;
      ASSERT_EQ(transform_image(c, img, &t), kStatusOk);
      EXPECT_EQ(t, img);
    }
  }
}

TEST(Reloc, ShiftRewritesAndStaysInsideTheImage) {
  auto samples = corpus_samples();
  if (samples.empty()) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  for (const auto& img : samples) {
    std::set<uint32_t> reads;
    Image im{&img, &reads};
    RelocImageLayout l;
    ASSERT_EQ(reloc_read_layout(read_image, &im, img.size(), &l), kStatusOk);
    reads.clear();
    auto map = shift_map(l, 0x100);
    RelocContext c;
    ASSERT_EQ(reloc_context_init(&c, &l, map.data(), map.size(), read_image, &im), kStatusOk);
    std::vector<uint8_t> t1, t2;
    ASSERT_EQ(transform_image(c, img, &t1), kStatusOk);
    EXPECT_NE(t1, img);
    // Xtensa's ENTRY checks read outside their block; RISC-V reads nothing
    // (its segments are word-aligned in the file).
    if (c.isa == kRelocIsaXtensa) {
      ASSERT_FALSE(reads.empty());
      EXPECT_LT(*reads.rbegin(), l.image_size);
    } else {
      EXPECT_TRUE(reads.empty());
    }
    // Deterministic, whatever was transformed before.
    ASSERT_EQ(transform_image(c, img, &t2), kStatusOk);
    EXPECT_EQ(t1, t2);
    // A failing read is reported, not guessed around.
    if (c.isa == kRelocIsaXtensa) {
      im.fail = true;
      std::vector<uint8_t> t3;
      EXPECT_EQ(transform_image(c, img, &t3), kStatusReadError);
    }
  }
}

TEST(Reloc, RejectsBadArguments) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", std::vector<uint8_t>(5000, 0x25));
  Image im{&img};
  RelocImageLayout l;
  ASSERT_EQ(reloc_read_layout(read_image, &im, img.size(), &l), kStatusOk);
  RelocRegion unsorted[2] = {{0x3F400100, 16, 4}, {0x3F400000, 16, 4}};
  RelocRegion overlap[2] = {{0x3F400000, 32, 4}, {0x3F400010, 16, 4}};
  RelocRegion wraps[1] = {{0xFFFFFFF0u, 32, 4}};
  RelocRegion empty[1] = {{0x3F400000, 0, 4}};
  RelocContext c;
  EXPECT_EQ(reloc_context_init(&c, &l, unsorted, 2, read_image, &im), kStatusBadArgument);
  EXPECT_EQ(reloc_context_init(&c, &l, overlap, 2, read_image, &im), kStatusBadArgument);
  EXPECT_EQ(reloc_context_init(&c, &l, wraps, 1, read_image, &im), kStatusBadArgument);
  EXPECT_EQ(reloc_context_init(&c, &l, empty, 1, read_image, &im), kStatusBadArgument);
  RelocRegion last[1] = {{0xFFFFFFF0u, 16, 4}};
  EXPECT_EQ(reloc_context_init(&c, &l, last, 1, read_image, &im), kStatusOk);
  ASSERT_EQ(reloc_context_init(&c, &l, nullptr, 0, read_image, &im), kStatusOk);
  uint8_t in[kRelocBlockSize] = {}, out[kRelocBlockSize];
  EXPECT_EQ(reloc_transform_block(&c, 1, in, 16, out), kStatusBadArgument);
  EXPECT_EQ(reloc_transform_block(&c, 0, in, 0, out), kStatusBadArgument);
  EXPECT_EQ(reloc_transform_block(&c, 0, in, kRelocBlockSize + 1, out), kStatusBadArgument);
  uint32_t past = (l.image_size + kRelocBlockSize - 1) / kRelocBlockSize * kRelocBlockSize;
  EXPECT_EQ(reloc_transform_block(&c, past, in, 16, out), kStatusBadArgument);
  // Layouts: not an image, too many segments, a segment beyond the limit.
  std::vector<uint8_t> bad = img;
  bad[0] = 0;
  Image bi{&bad};
  EXPECT_EQ(reloc_read_layout(read_image, &bi, bad.size(), &l), kStatusBadImage);
  bad = img;
  bad[1] = 17;
  EXPECT_EQ(reloc_read_layout(read_image, &bi, bad.size(), &l), kStatusBadImage);
  EXPECT_EQ(reloc_read_layout(read_image, &im, 100, &l), kStatusBadImage);
}

// Random images (valid segment tables, random bytes, chips 0, 5 and 9),
// random maps: no crash, every read inside the image, deterministic. Run it
// under ASan (build-asan) as well.
TEST(Reloc, RandomMapsAndBlocksNeverCrash) {
  std::mt19937 rng(7);
  const uint32_t addrs[] = {0x3F400020, 0x3FFB0000, 0x400D0018, 0x40080000, 0x3C100020,
                            0x3FC8FC00, 0x40380000, 0x42000020, 0x3FF80067, 0x50000010,
                            0x40370000, 0x3FC88000, 0xFFFFFFF0};
  for (int iter = 0; iter < 300; ++iter) {
    uint16_t chip = std::array<uint16_t, 3>{0, 5, 9}[iter % 3];
    uint32_t nseg = 1 + rng() % 7;
    std::vector<uint8_t> img(24, 0);
    img[0] = 0xE9;
    img[1] = static_cast<uint8_t>(nseg);
    img[12] = static_cast<uint8_t>(chip);
    std::vector<std::pair<uint32_t, uint32_t>> segs;
    for (uint32_t k = 0; k < nseg; ++k) {
      uint32_t a = addrs[rng() % std::size(addrs)] + (rng() % 8);
      uint32_t len = (rng() % 4 == 0) ? rng() % 8 : rng() % 20000;
      segs.push_back({a, len});
      uint8_t h[8];
      for (int i = 0; i < 4; ++i) h[i] = static_cast<uint8_t>(a >> (8 * i));
      for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<uint8_t>(len >> (8 * i));
      img.insert(img.end(), h, h + 8);
      for (uint32_t i = 0; i < len; ++i) {
        // Bias towards the opcodes T looks at, and towards address-like words.
        uint32_t r = rng();
        uint8_t byte = static_cast<uint8_t>(r);
        if (r % 5 == 0) byte = std::array<uint8_t, 8>{0x05, 0x15, 0x25, 0x01, 0x36, 0x6F, 0x17, 0x37}[r % 8];
        if (r % 11 == 0) byte = static_cast<uint8_t>(a >> 24);
        img.push_back(byte);
      }
    }
    img.resize(img.size() + 16, 0xEE);  // checksum, padding
    std::set<uint32_t> reads;
    Image im{&img, &reads};
    RelocImageLayout l;
    ASSERT_EQ(reloc_read_layout(read_image, &im, img.size(), &l), kStatusOk);
    std::vector<RelocRegion> map;
    uint32_t at = 0x3C000000 + rng() % 0x100000;
    int n = rng() % 60;
    for (int k = 0; k < n; ++k) {
      uint32_t len = 1 + rng() % 0x80000;
      int32_t d = static_cast<int32_t>(rng() % 0x20000) - 0x10000;
      if (rng() % 10 == 0) d = static_cast<int32_t>(rng());
      if (uint64_t(at) + len > 0xFFFFFFFFull) break;
      map.push_back({at, len, d});
      at += len + rng() % 0x200000;
    }
    for (const auto& s : segs) {  // sometimes one region exactly over a segment
      if (rng() % 4 != 0 || !s.second) continue;
      {
        std::vector<RelocRegion> m2;
        for (auto& r : map)
          if (r.old_start + uint64_t(r.length) <= s.first || r.old_start >= s.first + uint64_t(s.second))
            m2.push_back(r);
        if (uint64_t(s.first) + s.second <= 0x100000000ull)
          m2.push_back({s.first, s.second, static_cast<int32_t>(rng() % 4096) - 2048});
        std::sort(m2.begin(), m2.end(), [](auto& a, auto& b) { return a.old_start < b.old_start; });
        map = m2;
      }
    }
    RelocContext c;
    ASSERT_EQ(reloc_context_init(&c, &l, map.data(), map.size(), read_image, &im), kStatusOk)
        << "iter " << iter;
    std::vector<uint8_t> t1, t2;
    ASSERT_EQ(transform_image(c, img, &t1), kStatusOk) << "iter " << iter;
    ASSERT_EQ(transform_image(c, img, &t2), kStatusOk);
    EXPECT_EQ(t1, t2);
    if (!reads.empty()) {
      EXPECT_LT(*reads.rbegin(), l.image_size);
    }
    // Bytes outside every code and data segment (headers) never change.
    for (uint32_t k = 0; k < l.segment_count; ++k) {
      uint32_t h = l.segments[k].file_offset - 8;
      EXPECT_TRUE(std::equal(img.begin() + h, img.begin() + h + 8, t1.begin() + h));
    }
    EXPECT_TRUE(std::equal(img.begin(), img.begin() + 24, t1.begin()));
  }
}

// The encoder side on one pair per series: the estimated map is accepted by
// the device, serializes, and the shipped-map design round-trips
// (T(old) -> new through the device decoder) and is smaller than plain.
TEST(RelocEncoder, ShippedMapRoundTripsAndShrinks) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  std::set<std::string> seen;
  for (const auto& p : test::corpus_pairs(*corpus)) {
    if (!seen.insert(p.series).second) continue;
    SCOPED_TRACE(p.series + " " + p.old_version + " -> " + p.new_version);
    auto o = test::read_file(p.old_path), n = test::read_file(p.new_path);
    auto ol = delta::reloc_layout(o), nl = delta::reloc_layout(n);
    ASSERT_TRUE(ol && nl);
    ASSERT_TRUE(delta::reloc_applicable(*ol, *nl));
    auto map = delta::estimate_reloc_map(*ol, *nl, delta::match_images(o, n));
    ASSERT_FALSE(map.empty());
    RelocContext c;
    ASSERT_EQ(reloc_context_init(&c, &*ol, map.data(), map.size(), nullptr, nullptr), kStatusOk);
    EXPECT_GT(delta::serialize_reloc_map(map).size(), map.size() * 3);
    auto old1 = delta::reloc_transform_image(o, *ol, map);
    auto patch = delta::make_patch(old1, n);
    std::vector<uint8_t> out;
    auto r = delta::apply_patch(old1, patch, &out, 32 * 1024 - sizeof(PatchDecoder), 1460);
    ASSERT_EQ(r.status, kStatusDone) << status_message(r.status);
    EXPECT_EQ(out, n);
    auto sizes = delta::measure_reloc_patch(o, n, {/*refine=*/0, /*min_run_votes=*/0});
    EXPECT_TRUE(sizes.applied);
    EXPECT_EQ(sizes.patch, patch.size());
    EXPECT_LT(sizes.total(), delta::make_patch(o, n).size());
  }
}

TEST(RelocEncoder, PlainForOtherInputs) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", std::vector<uint8_t>(5000, 0x25));
  auto other = img;
  other[12] = 5;  // another chip
  EXPECT_FALSE(delta::measure_reloc_patch(img, other).applied);
  std::vector<uint8_t> junk(3000, 0x11);
  EXPECT_FALSE(delta::reloc_layout(junk));
  auto s = delta::measure_reloc_patch(junk, img);
  EXPECT_FALSE(s.applied);
  EXPECT_EQ(s.map_lzma, 0u);
}

}  // namespace
}  // namespace ota
