// Firmware-aware patches (transform 1, docs/format.md and docs/reloc.md):
// every corpus pair round-trips through the device decoder fed in 1,460-byte
// pieces within 48 KiB and is refused at 32 KiB; corrupt header fields and
// side data fail cleanly; a patch for one chip is refused on the other's
// image; a checkpoint taken mid-patch resumes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>

#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/reloc_encoder.h"
#include "ota/patch_decoder.h"
#include "test_support.h"

namespace ota {
namespace {

constexpr uint32_t kBudget48 = 48 * 1024;
constexpr uint32_t kBudget32 = 32 * 1024;

struct Pair {
  std::vector<uint8_t> old_image, new_image;
};

std::optional<Pair> load_pair(const std::string& series, const std::string& old_version) {
  auto corpus = test::corpus_dir();
  if (!corpus) return std::nullopt;
  for (const auto& p : test::corpus_pairs(*corpus))
    if (p.series == series && p.old_version == old_version)
      return Pair{test::read_file(p.old_path), test::read_file(p.new_path)};
  return std::nullopt;
}

// Rewrites the header of `patch` through `edit`, CRC recomputed.
template <class F>
std::vector<uint8_t> edit_header(std::vector<uint8_t> patch, F edit) {
  PatchHeader h;
  EXPECT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  edit(h);
  patch_header_write(h, patch.data());
  return patch;
}

// The device decoder without a hash port (as the agent runs it), over
// in-memory images; every read_old is checked to stay inside OLD.
struct NoHashIo {
  const std::vector<uint8_t>* old_image;
  std::vector<uint8_t> out;
  bool bad_read = false;
  static int read(void* c, uint32_t off, uint8_t* buf, uint32_t len) {
    auto* io = static_cast<NoHashIo*>(c);
    if (off > io->old_image->size() || len > io->old_image->size() - off) {
      io->bad_read = true;
      return -1;
    }
    std::memcpy(buf, io->old_image->data() + off, len);
    return 0;
  }
  static int write(void* c, const uint8_t* buf, uint32_t len) {
    auto* io = static_cast<NoHashIo*>(c);
    io->out.insert(io->out.end(), buf, buf + len);
    return 0;
  }
};

Status apply_no_hash(const std::vector<uint8_t>& old_image, const std::vector<uint8_t>& patch,
                     NoHashIo* host, uint32_t budget = kBudget48) {
  host->old_image = &old_image;
  PatchIo io{host, NoHashIo::read, NoHashIo::write, nullptr, nullptr, nullptr};
  auto d = std::make_unique<PatchDecoder>();
  std::vector<uint32_t> ws(budget / 4);
  Status s = patch_decoder_init(d.get(), &io, ws.data(), budget);
  if (s != kStatusOk) return s;
  for (size_t off = 0; off < patch.size() && !status_is_error(s); off += 1460)
    s = patch_decoder_feed(d.get(), patch.data() + off, std::min<size_t>(1460, patch.size() - off));
  return patch_decoder_finish(d.get());
}

class RelocPatchPair : public ::testing::TestWithParam<int> {};

TEST_P(RelocPatchPair, RoundTripsWithin48KiBAndIsRefusedAt32) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  auto pairs = test::corpus_pairs(*corpus);
  if (GetParam() >= static_cast<int>(pairs.size())) GTEST_SKIP() << "corpus has fewer pairs";
  const auto& p = pairs[static_cast<size_t>(GetParam())];
  SCOPED_TRACE(p.series + " " + p.old_version + " -> " + p.new_version);
  auto old_image = test::read_file(p.old_path);
  auto new_image = test::read_file(p.new_path);
  std::vector<uint8_t> patch = delta::make_reloc_patch(old_image, new_image);
  ASSERT_FALSE(patch.empty());
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  EXPECT_EQ(h.transform, kTransformReloc);
  EXPECT_EQ(h.transform_version, kRelocTransformVersion);
  EXPECT_LE(patch_decoder_ram(h), kBudget48);
  std::vector<uint8_t> out;
  delta::ApplyResult r =
      delta::apply_patch(old_image, patch, &out, kBudget48 - sizeof(PatchDecoder), 1460);
  ASSERT_EQ(r.status, kStatusDone) << status_message(r.status);
  ASSERT_EQ(out, new_image);
  // A 32 KiB device refuses it before writing anything.
  r = delta::apply_patch(old_image, patch, &out, kBudget32 - sizeof(PatchDecoder), 1460);
  EXPECT_EQ(r.status, kStatusWorkspaceTooSmall);
  EXPECT_TRUE(out.empty());
  RecordProperty("patch_bytes", static_cast<int>(patch.size()));
  RecordProperty("device_ram", static_cast<int>(patch_decoder_ram(h)));
}

INSTANTIATE_TEST_SUITE_P(Pairs, RelocPatchPair, ::testing::Range(0, 40));

// The smallest-map pair of the corpus keeps the exhaustive tests quick.
class RelocPatchCorruption : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pair = load_pair("awtrix3-ulanzi-tc001", "0.89");
    if (!pair) GTEST_SKIP() << "no corpus";
    pair_ = std::move(*pair);
    patch_ = delta::make_reloc_patch(pair_.old_image, pair_.new_image);
    ASSERT_FALSE(patch_.empty());
    ASSERT_EQ(patch_header_parse(patch_.data(), &h_), kStatusOk);
  }
  delta::ApplyResult apply(const std::vector<uint8_t>& patch, std::vector<uint8_t>* out) {
    return delta::apply_patch(pair_.old_image, patch, out, kBudget48, 1460);
  }
  Pair pair_;
  std::vector<uint8_t> patch_;
  PatchHeader h_{};
};

TEST_F(RelocPatchCorruption, HeaderFields) {
  std::vector<uint8_t> out;
  struct Case {
    const char* name;
    std::function<void(PatchHeader&)> edit;
    Status want;
  };
  const Case cases[] = {
      {"version 0", [](PatchHeader& h) { h.transform_version = 0; }, kStatusUnsupportedTransform},
      {"version 2", [](PatchHeader& h) { h.transform_version = 2; }, kStatusUnsupportedTransform},
      {"transform 2", [](PatchHeader& h) { h.transform = 2; }, kStatusUnsupportedFlags},
      {"transform 0 with side", [](PatchHeader& h) { h.transform = 0; h.transform_version = 0; h.map_capacity = 0; }, kStatusBadSizes},
      {"capacity 0", [](PatchHeader& h) { h.map_capacity = 0; }, kStatusBadSizes},
      {"side 0", [](PatchHeader& h) { h.side_size = 0; }, kStatusBadSizes},
      {"side too big", [](PatchHeader& h) { h.side_size = kRelocSideMax + 1; }, kStatusBadSizes},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto p = edit_header(patch_, c.edit);
    PatchHeader h;
    Status parsed = patch_header_parse(p.data(), &h);
    EXPECT_EQ(parsed, c.want);
    EXPECT_EQ(apply(p, &out).status, c.want);
    EXPECT_TRUE(out.empty());
  }
  // side_size one byte shorter/longer: the map and the payload misalign.
  for (int d : {-1, 1}) {
    auto p = edit_header(patch_, [d](PatchHeader& h) { h.side_size = uint32_t(int(h.side_size) + d); });
    delta::ApplyResult r = apply(p, &out);
    EXPECT_TRUE(status_is_error(r.status)) << d;
  }
}

TEST_F(RelocPatchCorruption, EverySideByteFlippedOrTruncated) {
  std::vector<uint8_t> out;
  const size_t side = kPatchHeaderSize;
  for (uint32_t i = 0; i < h_.side_size; ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      auto p = patch_;
      p[side + i] ^= mask;
      delta::ApplyResult r = apply(p, &out);
      // A changed map that T never consults may still give NEW: then it is
      // verified, else a clean error.
      if (r.status == kStatusDone) {
        EXPECT_EQ(out, pair_.new_image);
        continue;
      }
      ASSERT_TRUE(status_is_error(r.status)) << "byte " << i << " mask " << int(mask);
      if (r.status == kStatusSideDataCorrupt || r.status == kStatusTransformMismatch)
        EXPECT_TRUE(out.empty()) << i;
    }
    // Truncated inside the side data.
    std::vector<uint8_t> t(patch_.begin(), patch_.begin() + long(side + i));
    EXPECT_EQ(apply(t, &out).status, kStatusTruncated) << i;
    EXPECT_TRUE(out.empty());
  }
}

TEST_F(RelocPatchCorruption, MapOutsideTheOldLayoutIsRefused) {
  auto l = delta::reloc_layout(pair_.old_image);
  ASSERT_TRUE(l);
  ASSERT_EQ(l->chip_id, 0);  // ESP32: internal RAM 0x3FFAE000..0x40000000
  auto with_map = [&](const std::vector<RelocRegion>& map, std::vector<uint8_t>* out) {
    std::vector<uint8_t> side = delta::reloc_side_data(l->chip_id, map);
    std::vector<uint8_t> p(patch_.begin(), patch_.begin() + kPatchHeaderSize);
    p.insert(p.end(), side.begin(), side.end());
    p.insert(p.end(), patch_.begin() + long(kPatchHeaderSize + h_.side_size), patch_.end());
    p = edit_header(p, [&](PatchHeader& h) {
      h.side_size = uint32_t(side.size());
      h.map_capacity = 1;
    });
    return apply(p, out).status;
  };
  // A region at an address no segment of OLD holds, one that straddles the
  // end of internal RAM, one that runs past the end of a segment.
  const RelocSegment& s0 = l->segments[0];
  for (const RelocRegion& bad : {RelocRegion{0x10, 64, 4}, RelocRegion{0x3FFFFFF0u, 32, 4},
                                 RelocRegion{s0.load_addr + s0.length - 8, 16, 4}}) {
    SCOPED_TRACE(bad.old_start);
    std::vector<uint8_t> out;
    EXPECT_EQ(with_map({bad}, &out), kStatusTransformMismatch);
    EXPECT_TRUE(out.empty());
  }
  // Internal RAM beyond every segment (.bss) is a place a map may name: the
  // decoder gets past its setup (the output is then wrong for this patch,
  // which the new image's digest catches).
  std::vector<uint8_t> out;
  Status st = with_map({{0x3FFFF000u, 64, 4}}, &out);
  EXPECT_NE(st, kStatusTransformMismatch) << status_message(st);
  EXPECT_NE(st, kStatusDone);
  // The right map, but naming another chip.
  auto q = patch_;
  q[kPatchHeaderSize] ^= 5;
  NoHashIo host;
  EXPECT_EQ(apply_no_hash(pair_.old_image, q, &host), kStatusTransformMismatch);
  EXPECT_TRUE(host.out.empty());
}

TEST(RelocPatch, PatchForOneChipIsRefusedOnTheOther) {
  auto xt = load_pair("wled-esp32", "0.14.2-b2");
  auto rv = load_pair("wled-esp32c3", "0.14.2-b2");
  if (!xt || !rv) GTEST_SKIP() << "no corpus";
  auto patch = delta::make_reloc_patch(xt->old_image, xt->new_image);
  ASSERT_FALSE(patch.empty());
  std::vector<uint8_t> out;
  // With a hash port: the wrong base.
  EXPECT_EQ(delta::apply_patch(rv->old_image, patch, &out, kBudget48).status,
            kStatusOldHashMismatch);
  EXPECT_TRUE(out.empty());
  // Without one (the agent checks the slot itself): the map's chip.
  NoHashIo host;
  Status s = apply_no_hash(rv->old_image, patch, &host);
  EXPECT_TRUE(s == kStatusTransformMismatch || s == kStatusOldOutOfRange) << status_message(s);
  EXPECT_TRUE(host.out.empty());
  EXPECT_FALSE(host.bad_read);
}

TEST(RelocPatch, MapAboveTheHeaderCapacityIsRefused) {
  auto pair = load_pair("awtrix3-ulanzi-tc001", "0.87");  // a map of more than 16 regions
  if (!pair) GTEST_SKIP() << "no corpus";
  auto patch = delta::make_reloc_patch(pair->old_image, pair->new_image);
  ASSERT_FALSE(patch.empty());
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  ASSERT_GT(h.map_capacity, 1);
  auto p = edit_header(patch, [](PatchHeader& x) { x.map_capacity = 1; });
  std::vector<uint8_t> out;
  EXPECT_EQ(delta::apply_patch(pair->old_image, p, &out, kBudget48).status, kStatusSideDataCorrupt);
  EXPECT_TRUE(out.empty());
}

TEST(RelocPatch, CheckpointMidPatchResumes) {
  auto pair = load_pair("awtrix3-ulanzi-tc001", "0.86");
  if (!pair) GTEST_SKIP() << "no corpus";
  auto patch = delta::make_reloc_patch(pair->old_image, pair->new_image);
  ASSERT_FALSE(patch.empty());
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  // Cut inside the side data, and inside the payload.
  for (size_t cut : {size_t(kPatchHeaderSize + 3), patch.size() / 2}) {
    SCOPED_TRACE(cut);
    NoHashIo host;
    host.old_image = &pair->old_image;
    PatchIo io{&host, NoHashIo::read, NoHashIo::write, nullptr, nullptr, nullptr};
    auto d = std::make_unique<PatchDecoder>();
    std::vector<uint32_t> ws(kBudget48 / 4, 0xA5A5A5A5u);
    ASSERT_EQ(patch_decoder_init(d.get(), &io, ws.data(), kBudget48), kStatusOk);
    ASSERT_EQ(patch_decoder_feed(d.get(), patch.data(), cut), kStatusOk);
    // Checkpoint: the struct and the used workspace; the rest is garbage.
    uint32_t used = patch_decoder_workspace_used(d.get());
    ASSERT_LE(used, kBudget48);
    auto d2 = std::make_unique<PatchDecoder>();
    std::memcpy(d2.get(), d.get(), sizeof(PatchDecoder));
    std::vector<uint32_t> ws2(kBudget48 / 4, 0x5A5A5A5Au);
    std::memcpy(ws2.data(), ws.data(), used);
    ASSERT_EQ(patch_decoder_rebind(d2.get(), &io, ws2.data(), kBudget48), kStatusOk);
    Status s = patch_decoder_feed(d2.get(), patch.data() + cut, patch.size() - cut);
    ASSERT_EQ(s, kStatusDone) << status_message(s);
    EXPECT_EQ(host.out, pair->new_image);
  }
}

}  // namespace
}  // namespace ota
