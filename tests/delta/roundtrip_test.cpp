// Encoder + device decoder round trips on synthetic images, for every codec
// and parameter the CLI exposes, and the BSDIFF40 output against Debian's
// bspatch.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "ota/delta/bsdiff40.h"
#include "ota/delta/matcher.h"
#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "test_support.h"

namespace ota::delta {
namespace {

void expect_round_trip(const std::vector<uint8_t>& old_image, const std::vector<uint8_t>& new_image,
                       const EncodeOptions& o = {}) {
  std::vector<uint8_t> patch = make_patch(old_image, new_image, o);
  std::vector<uint8_t> out;
  ApplyResult r = apply_patch(old_image, patch, &out);
  ASSERT_EQ(r.status, kStatusDone) << status_message(r.status);
  ASSERT_EQ(out, new_image);
}

TEST(Matcher, RecordsCoverTheNewImage) {
  std::mt19937 rng(1);
  auto a = test::synthetic_image(rng, 50000);
  auto b = test::mutate_image(rng, a, 30);
  size_t covered = 0;
  for (const Record& r : match_images(a, b)) covered += r.add_len + r.insert_len;
  EXPECT_EQ(covered, b.size());
}

TEST(Matcher, IdenticalImagesAreOneCopy) {
  std::mt19937 rng(2);
  auto a = test::synthetic_image(rng, 50000);
  auto records = match_images(a, a);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].add_len, a.size());
  EXPECT_EQ(records[0].insert_len, 0u);
}

// Short excursions: a short add that reads another 4 KiB block than the one
// the last kept add ended in becomes inserted bytes; the old cursor stays
// where it was; a short add inside the cached block, a long one, and the
// first record stay.
TEST(SquashExcursions, MergesShortAddsThatLeaveTheBlock) {
  std::vector<Record> in = {
      {100, 2, 5000},   // old 0..100, then the cursor jumps to 5100 (block 1)
      {10, 3, -5010},   // short add in block 1: an excursion -> merged; cursor back to 100
      {8, 1, 0},        // short add at 100, block 0 where the last kept add ended: kept
      {20, 0, 9000},    // 108..128 in block 0: kept; cursor to 9128 (block 2)
      {4000, 0, 0},     // long add from block 2: kept
  };
  std::vector<Record> out = squash_excursions(in, 16);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].add_len, 100u);
  EXPECT_EQ(out[0].insert_len, 2u + 10u + 3u);
  EXPECT_EQ(out[0].seek, 5000 + 10 - 5010);
  EXPECT_EQ(out[1].add_len, 8u);
  EXPECT_EQ(out[3].add_len, 4000u);
  // Same coverage of NEW, same old cursor at the end.
  auto totals = [](const std::vector<Record>& rs) {
    int64_t n = 0, o = 0;
    for (const Record& r : rs) {
      n += int64_t(r.add_len) + r.insert_len;
      o += int64_t(r.add_len) + r.seek;
    }
    return std::make_pair(n, o);
  };
  EXPECT_EQ(totals(out), totals(in));
  EXPECT_EQ(squash_excursions(in, 0).size(), in.size()) << "0 keeps every add";
  EXPECT_EQ(squash_excursions(in, 8).size(), in.size()) << "no add is shorter than 8";
}

TEST(SquashExcursions, PatchesRoundTripAndGetSmallerOnRealFirmware) {
  std::mt19937 rng(12);
  auto a = test::synthetic_image(rng, 200000);
  auto b = test::mutate_image(rng, a, 200);
  for (uint32_t m : {0u, 16u, 64u}) {
    EncodeOptions o;
    o.min_excursion = m;
    expect_round_trip(a, b, o);
  }
  // Real firmware has them (the synthetic sample need not).
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  auto o = test::read_file(*corpus / "wled-esp32c3" / "0.14.0-b3.bin");
  auto n = test::read_file(*corpus / "wled-esp32c3" / "0.14.0-b4.bin");
  if (o.empty() || n.empty()) GTEST_SKIP() << "pair not in the corpus";
  auto records = match_images(o, n);
  EXPECT_LT(squash_excursions(records, 16).size(), records.size() * 9 / 10);
  EncodeOptions off;
  off.min_excursion = 0;
  auto squashed = make_patch(o, n), kept = make_patch(o, n, off);
  EXPECT_LT(squashed.size(), kept.size());
  std::vector<uint8_t> out;
  ASSERT_EQ(apply_patch(o, squashed, &out).status, kStatusDone);
  EXPECT_EQ(out, n);
}

TEST(RoundTrip, SyntheticReleasesAllParameters) {
  std::mt19937 rng(3);
  auto a = test::synthetic_image(rng, 200000);
  auto b = test::mutate_image(rng, a, 60);
  for (Codec c : {kCodecNone, kCodecLzma}) {
    for (uint32_t dict : {4096u, 16384u, 1u << 20}) {
      for (auto [lc, lp, pb] : {std::tuple{1, 0, 0}, std::tuple{3, 0, 2}, std::tuple{0, 2, 2},
                                std::tuple{4, 0, 4}}) {
        EncodeOptions o;
        o.codec = c;
        o.dict_size = dict;
        o.lc = static_cast<uint8_t>(lc);
        o.lp = static_cast<uint8_t>(lp);
        o.pb = static_cast<uint8_t>(pb);
        SCOPED_TRACE(testing::Message() << "codec " << int(c) << " dict " << dict << " lc" << lc
                                        << " lp" << lp << " pb" << pb);
        expect_round_trip(a, b, o);
        if (c == kCodecNone) break;
      }
      if (c == kCodecNone) break;
    }
  }
}

TEST(RoundTrip, EdgeShapes) {
  std::mt19937 rng(4);
  std::vector<uint8_t> empty, one = {42}, zeros(70000, 0), ff(70000, 0xFF);
  auto rnd = test::synthetic_image(rng, 70000);
  std::vector<uint8_t> noise(70000);
  for (auto& x : noise) x = static_cast<uint8_t>(rng());
  const std::vector<uint8_t>* all[] = {&empty, &one, &zeros, &ff, &rnd, &noise};
  for (auto* a : all)
    for (auto* b : all) {
      SCOPED_TRACE(testing::Message() << a->size() << " -> " << b->size());
      expect_round_trip(*a, *b);
    }
}

TEST(RoundTrip, ManyRandomReleases) {
  for (uint32_t seed = 10; seed < 40; ++seed) {
    std::mt19937 rng(seed);
    auto a = test::synthetic_image(rng, 1000 + rng() % 60000);
    auto b = test::mutate_image(rng, a, static_cast<int>(rng() % 50));
    SCOPED_TRACE(seed);
    expect_round_trip(a, b);
  }
}

TEST(RoundTrip, OptionsOutOfRangeAreRefused) {
  std::vector<uint8_t> a(100, 1), b(100, 2);
  EncodeOptions o;
  o.dict_size = 100;
  EXPECT_THROW(make_patch(a, b, o), std::invalid_argument);
  o = {};
  o.lc = 4;
  o.lp = 1;
  EXPECT_THROW(make_patch(a, b, o), std::invalid_argument);
  o = {};
  o.codec = static_cast<Codec>(7);
  EXPECT_THROW(make_patch(a, b, o), std::invalid_argument);
}

TEST(Bsdiff40, DebianBspatchAppliesIt) {
  if (std::system("command -v bspatch >/dev/null 2>&1") != 0)
    GTEST_FAIL() << "Debian's bspatch is not installed (package bsdiff; make deps installs it)";
  std::mt19937 rng(5);
  auto a = test::synthetic_image(rng, 120000);
  auto b = test::mutate_image(rng, a, 40);
  auto dir = test::make_temp_dir("bsdiff40");
  test::write_file(dir / "old", a);
  test::write_file(dir / "patch", make_bsdiff40(a, b));
  std::string cmd = "bspatch '" + (dir / "old").string() + "' '" + (dir / "new").string() + "' '" +
                    (dir / "patch").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(test::read_file(dir / "new"), b);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ota::delta
