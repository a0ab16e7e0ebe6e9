#include "ota/patch_format.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "ota/crc32.h"

namespace ota {
namespace {

PatchHeader sample_header() {
  PatchHeader h{};
  h.format_version = kPatchFormatVersion;
  h.codec = kCodecLzma;
  h.lzma_lc = 1;
  h.dict_size = 16384;
  h.old_size = 1000;
  h.new_size = 2000;
  h.stream_size = 2100;
  h.payload_size = 900;
  for (int i = 0; i < 32; ++i) {
    h.old_sha256[i] = static_cast<uint8_t>(i);
    h.new_sha256[i] = static_cast<uint8_t>(0xA0 + i);
  }
  return h;
}

std::vector<uint8_t> written(const PatchHeader& h) {
  std::vector<uint8_t> b(kPatchHeaderSize);
  patch_header_write(h, b.data());
  return b;
}

// Re-seals the CRC so that a test reaches the field checks behind it.
void reseal(std::vector<uint8_t>& b) {
  store_le32(b.data() + 104, crc32_update(0, b.data(), 104));
}

TEST(Crc32, MatchesTheStandardCheckValue) {
  const char* s = "123456789";
  EXPECT_EQ(crc32_update(0, reinterpret_cast<const uint8_t*>(s), 9), 0xCBF43926u);
  // Incremental equals one-shot.
  uint32_t c = crc32_update(0, reinterpret_cast<const uint8_t*>(s), 4);
  EXPECT_EQ(crc32_update(c, reinterpret_cast<const uint8_t*>(s) + 4, 5), 0xCBF43926u);
}

TEST(PatchHeader, RoundTripsEveryField) {
  PatchHeader h = sample_header();
  std::vector<uint8_t> b = written(h);
  EXPECT_EQ(0, std::memcmp(b.data(), "OTAD", 4));
  PatchHeader p{};
  ASSERT_EQ(patch_header_parse(b.data(), &p), kStatusOk);
  EXPECT_EQ(p.codec, h.codec);
  EXPECT_EQ(p.lzma_lc, 1);
  EXPECT_EQ(p.dict_size, 16384u);
  EXPECT_EQ(p.old_size, 1000u);
  EXPECT_EQ(p.new_size, 2000u);
  EXPECT_EQ(p.stream_size, 2100u);
  EXPECT_EQ(p.payload_size, 900u);
  EXPECT_EQ(0, std::memcmp(p.old_sha256, h.old_sha256, 32));
  EXPECT_EQ(0, std::memcmp(p.new_sha256, h.new_sha256, 32));
}

TEST(PatchHeader, ByteLayoutIsTheDocumentedOne) {
  std::vector<uint8_t> b = written(sample_header());
  EXPECT_EQ(b[4], 1);                       // format version
  EXPECT_EQ(b[5], kCodecLzma);              // codec
  EXPECT_EQ(load_le32(&b[16]), 16384u);     // dictionary
  EXPECT_EQ(load_le32(&b[20]), 1000u);      // old size
  EXPECT_EQ(load_le32(&b[24]), 2000u);      // new size
  EXPECT_EQ(load_le32(&b[28]), 2100u);      // stream size
  EXPECT_EQ(load_le32(&b[32]), 900u);       // payload size
  EXPECT_EQ(b[40], 0);                      // old sha256[0]
  EXPECT_EQ(b[72], 0xA0);                   // new sha256[0]
}

TEST(PatchHeader, AnyFlippedBitFailsTheCrcOrMagic) {
  std::vector<uint8_t> good = written(sample_header());
  for (size_t byte = 0; byte < kPatchHeaderSize; ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> b = good;
      b[byte] ^= static_cast<uint8_t>(1 << bit);
      PatchHeader p;
      Status s = patch_header_parse(b.data(), &p);
      EXPECT_TRUE(s == kStatusBadMagic || s == kStatusHeaderCorrupt) << byte << ":" << bit;
    }
  }
}

struct FieldCase {
  const char* name;
  size_t offset;
  uint8_t value;
  Status expected;
};

class HeaderFieldTest : public ::testing::TestWithParam<FieldCase> {};

TEST_P(HeaderFieldTest, UnknownOrInconsistentValueIsRefused) {
  const FieldCase& c = GetParam();
  std::vector<uint8_t> b = written(sample_header());
  b[c.offset] = c.value;
  reseal(b);
  PatchHeader p;
  EXPECT_EQ(patch_header_parse(b.data(), &p), c.expected) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Fields, HeaderFieldTest,
    ::testing::Values(FieldCase{"version 0", 4, 0, kStatusUnsupportedVersion},
                      FieldCase{"version 2", 4, 2, kStatusUnsupportedVersion},
                      FieldCase{"codec 2", 5, 2, kStatusUnsupportedCodec},
                      FieldCase{"codec 255", 5, 255, kStatusUnsupportedCodec},
                      FieldCase{"transform 1", 6, 1, kStatusUnsupportedTransform},
                      FieldCase{"transform version 1", 7, 1, kStatusUnsupportedTransform},
                      FieldCase{"flags bit 0", 8, 1, kStatusUnsupportedFlags},
                      FieldCase{"flags bit 31", 11, 0x80, kStatusUnsupportedFlags},
                      FieldCase{"lc 5", 12, 5, kStatusBadCodecParams},
                      FieldCase{"lp 5", 13, 5, kStatusBadCodecParams},
                      FieldCase{"lc+lp 5", 13, 4, kStatusBadCodecParams},
                      FieldCase{"pb 5", 14, 5, kStatusBadCodecParams},
                      FieldCase{"reserved", 15, 1, kStatusUnsupportedFlags},
                      FieldCase{"dict 16 MiB + x", 19, 0x02, kStatusBadCodecParams},
                      FieldCase{"dict < 4 KiB", 17, 0x00, kStatusBadCodecParams},
                      FieldCase{"side data", 36, 1, kStatusBadSizes}),
    [](const auto& info) {
      std::string n = info.param.name;
      for (char& ch : n)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

TEST(PatchHeader, CodecNoneNeedsZeroParamsAndEqualSizes) {
  PatchHeader h = sample_header();
  h.codec = kCodecNone;
  h.lzma_lc = 0;
  h.dict_size = 0;
  h.payload_size = h.stream_size;
  PatchHeader p;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusOk);
  h.payload_size = h.stream_size - 1;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusBadSizes);
  h.payload_size = h.stream_size;
  h.dict_size = 4096;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusBadCodecParams);
}

TEST(PatchHeader, LzmaPayloadShorterThanRangeCoderInitIsRefused) {
  PatchHeader h = sample_header();
  h.payload_size = 4;
  PatchHeader p;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusBadSizes);
}

TEST(PatchHeader, EmptyNewImageMeansEmptyStream) {
  PatchHeader h = sample_header();
  h.new_size = 0;
  PatchHeader p;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusBadSizes);
  h.stream_size = 0;
  h.codec = kCodecNone;
  h.lzma_lc = 0;
  h.dict_size = 0;
  h.payload_size = 0;
  EXPECT_EQ(patch_header_parse(written(h).data(), &p), kStatusOk);
}

TEST(PatchHeader, WorkspaceIsProbabilitiesPlusDictionary) {
  PatchHeader h = sample_header();
  EXPECT_EQ(patch_codec_workspace_size(h), (1846u + 0x300u * 2) * 2 + 16384u);
  h.codec = kCodecNone;
  EXPECT_EQ(patch_codec_workspace_size(h), 0u);
}

// Transform 1 (reloc): version, side data and map capacity, and its RAM.
TEST(PatchHeader, RelocTransformFields) {
  PatchHeader h = sample_header();
  h.transform = kTransformReloc;
  h.transform_version = kTransformRelocVersion;
  h.side_size = 100;
  h.map_capacity = 3;
  uint8_t buf[kPatchHeaderSize];
  patch_header_write(h, buf);
  PatchHeader p;
  ASSERT_EQ(patch_header_parse(buf, &p), kStatusOk);
  EXPECT_EQ(p.map_capacity, 3);
  EXPECT_EQ(p.side_size, 100u);
  EXPECT_EQ(buf[15], 3);
  EXPECT_EQ(patch_codec_workspace_size(p),
            (1846u + 0x300u * 2) * 2 + 16384u + kRelocFixedBytes + kRelocCacheBytes + 3u * 16u * 12u);
  struct Bad {
    void (*edit)(PatchHeader&);
    Status want;
  };
  const Bad bad[] = {
      {[](PatchHeader& x) { x.transform_version = 2; }, kStatusUnsupportedTransform},
      {[](PatchHeader& x) { x.map_capacity = 0; }, kStatusBadSizes},
      {[](PatchHeader& x) { x.side_size = 2; }, kStatusBadSizes},
      {[](PatchHeader& x) { x.side_size = kRelocSideMax + 1; }, kStatusBadSizes},
      {[](PatchHeader& x) { x.transform = 0; x.transform_version = 0; }, kStatusUnsupportedFlags},
      {[](PatchHeader& x) { x.transform = 0; x.transform_version = 0; x.map_capacity = 0; }, kStatusBadSizes},
      {[](PatchHeader& x) { x.transform = 7; }, kStatusUnsupportedFlags},
      {[](PatchHeader& x) { x.transform = 7; x.map_capacity = 0; }, kStatusUnsupportedTransform},
  };
  for (const Bad& b : bad) {
    PatchHeader e = h;
    b.edit(e);
    patch_header_write(e, buf);
    EXPECT_EQ(patch_header_parse(buf, &p), b.want);
  }
}

TEST(Status, EveryCodeHasAMessage) {
  for (int c = -44; c <= 1; ++c) {
    if (c < -25 && c > -30) continue;  // unassigned
    const char* m = status_message(static_cast<Status>(c));
    ASSERT_NE(m, nullptr);
    EXPECT_GT(std::strlen(m), 1u);
  }
}

}  // namespace
}  // namespace ota
