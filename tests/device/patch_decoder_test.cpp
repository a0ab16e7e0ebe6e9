// The device decoder against patches made by the host encoder and against
// hand-made and corrupted ones: any split, every failure path, no write
// before verification, never past new_size.
#include "ota/patch_decoder.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstring>
#include <random>

#include "ota/crc32.h"
#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/sha256.h"
#include "test_support.h"

namespace ota {
namespace {

using delta::apply_patch;
using delta::ApplyResult;

struct Pair {
  std::vector<uint8_t> old_image, new_image;
};

Pair synthetic_pair(uint32_t seed, size_t size = 96 * 1024, int edits = 40) {
  std::mt19937 rng(seed);
  Pair p;
  p.old_image = test::synthetic_image(rng, size);
  p.new_image = test::mutate_image(rng, p.old_image, edits);
  return p;
}

// A codec-none patch around a hand-written instruction stream.
std::vector<uint8_t> raw_patch(const std::vector<uint8_t>& old_image, uint32_t new_size,
                               const std::vector<uint8_t>& new_image_for_hash,
                               const std::vector<uint8_t>& stream) {
  PatchHeader h{};
  h.format_version = kPatchFormatVersion;
  h.codec = kCodecNone;
  h.old_size = static_cast<uint32_t>(old_image.size());
  h.new_size = new_size;
  h.stream_size = h.payload_size = static_cast<uint32_t>(stream.size());
  auto od = delta::sha256(old_image), nd = delta::sha256(new_image_for_hash);
  std::memcpy(h.old_sha256, od.data(), 32);
  std::memcpy(h.new_sha256, nd.data(), 32);
  std::vector<uint8_t> patch(kPatchHeaderSize);
  patch_header_write(h, patch.data());
  patch.insert(patch.end(), stream.begin(), stream.end());
  return patch;
}

void reseal(std::vector<uint8_t>& patch) {
  store_le32(patch.data() + 104, crc32_update(0, patch.data(), 104));
}

class DecoderCodecs : public ::testing::TestWithParam<Codec> {
 protected:
  delta::EncodeOptions options() const {
    delta::EncodeOptions o;
    o.codec = GetParam();
    return o;
  }
};

TEST_P(DecoderCodecs, AppliesWholeAndInEverySplit) {
  Pair p = synthetic_pair(1);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{107},
                       size_t{108}, size_t{109}, size_t{4096}}) {
    std::vector<uint8_t> out;
    ApplyResult r = apply_patch(p.old_image, patch, &out, 1u << 20, chunk);
    ASSERT_EQ(r.status, kStatusDone) << "chunk " << chunk << ": " << status_message(r.status);
    ASSERT_EQ(out, p.new_image) << "chunk " << chunk;
  }
}

TEST_P(DecoderCodecs, AppliesRandomSplits) {
  Pair p = synthetic_pair(2);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::vector<uint8_t> out;
    struct Ctx {
      const std::vector<uint8_t>* old_image;
      std::vector<uint8_t>* out;
    } ctx{&p.old_image, &out};
    PatchIo io{};
    io.ctx = &ctx;
    io.read_old = [](void* c, uint32_t off, uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Ctx*>(c);
      if (off + uint64_t{len} > x->old_image->size()) return -1;
      std::memcpy(buf, x->old_image->data() + off, len);
      return 0;
    };
    io.write_new = [](void* c, const uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Ctx*>(c);
      x->out->insert(x->out->end(), buf, buf + len);
      return 0;
    };
    alignas(4) static uint8_t workspace[64 * 1024];
    PatchDecoder d;
    ASSERT_EQ(patch_decoder_init(&d, &io, workspace, sizeof(workspace)), kStatusOk);
    size_t off = 0;
    while (off < patch.size()) {
      size_t n = std::min(patch.size() - off, size_t{1} + rng() % 700);
      Status s = patch_decoder_feed(&d, patch.data() + off, n);
      ASSERT_FALSE(status_is_error(s)) << status_message(s);
      off += n;
    }
    ASSERT_EQ(patch_decoder_finish(&d), kStatusDone);
    ASSERT_EQ(out, p.new_image);
  }
}

TEST_P(DecoderCodecs, WrongBaseImageIsRefusedBeforeAnyWrite) {
  Pair p = synthetic_pair(3);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  std::vector<uint8_t> other = p.old_image;
  other[other.size() / 2] ^= 1;
  std::vector<uint8_t> out;
  ApplyResult r = apply_patch(other, patch, &out);
  EXPECT_EQ(r.status, kStatusOldHashMismatch);
  EXPECT_TRUE(out.empty());
}

TEST_P(DecoderCodecs, TruncationNeverCompletesNorOverwrites) {
  Pair p = synthetic_pair(4, 32 * 1024, 20);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  for (size_t cut = 0; cut < patch.size(); cut += 1 + cut / 16) {
    std::vector<uint8_t> out;
    ApplyResult r = apply_patch(p.old_image, {patch.data(), cut}, &out);
    ASSERT_TRUE(status_is_error(r.status)) << "cut at " << cut;
    ASSERT_LE(out.size(), p.new_image.size());
  }
}

TEST_P(DecoderCodecs, TrailingBytesAreRefused) {
  Pair p = synthetic_pair(5, 16 * 1024, 10);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  patch.push_back(0);
  std::vector<uint8_t> out;
  EXPECT_EQ(apply_patch(p.old_image, patch, &out).status, kStatusTrailingData);
  EXPECT_EQ(apply_patch(p.old_image, patch, &out, 1u << 20, 1).status, kStatusTrailingData);
}

TEST_P(DecoderCodecs, BitFlipsAlwaysFailAndStayInBounds) {
  Pair p = synthetic_pair(6, 24 * 1024, 15);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, options());
  std::mt19937 rng(11);
  for (int i = 0; i < 400; ++i) {
    std::vector<uint8_t> bad = patch;
    size_t at = rng() % bad.size();
    bad[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
    std::vector<uint8_t> out;
    ApplyResult r = apply_patch(p.old_image, bad, &out, 1u << 20, 1 + rng() % 300);
    ASSERT_LE(out.size(), p.new_image.size());
    // With hash checks on, a changed patch can only succeed if it still
    // produces the right image (e.g. a flip in LZMA's unused low range bits).
    if (r.status == kStatusDone) {
      ASSERT_EQ(out, p.new_image) << "flip at " << at;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Codecs, DecoderCodecs, ::testing::Values(kCodecNone, kCodecLzma),
                         [](const auto& info) {
                           return std::string(info.param == kCodecNone ? "none" : "lzma");
                         });

TEST(PatchDecoder, RamBudgetBelowTheDictionaryIsRefusedBeforeAnyWrite) {
  Pair p = synthetic_pair(8, 16 * 1024, 10);
  delta::EncodeOptions o;
  o.dict_size = 32 * 1024;
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image, o);
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  uint32_t need = patch_codec_workspace_size(h);
  std::vector<uint8_t> out;
  EXPECT_EQ(apply_patch(p.old_image, patch, &out, need - 1).status, kStatusWorkspaceTooSmall);
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(apply_patch(p.old_image, patch, &out, need).status, kStatusDone);
  EXPECT_EQ(out, p.new_image);
}

TEST(PatchDecoder, DefaultSettingFitsIn32KiB) {
  Pair p = synthetic_pair(9);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image);
  PatchHeader h;
  ASSERT_EQ(patch_header_parse(patch.data(), &h), kStatusOk);
  EXPECT_LE(patch_decoder_ram(h), 32u * 1024u);
  std::printf("default device RAM: %u bytes (decoder %zu + workspace %u)\n",
              patch_decoder_ram(h), sizeof(PatchDecoder), patch_codec_workspace_size(h));
}

TEST(PatchDecoder, EmptyAndIdenticalImages) {
  std::vector<uint8_t> empty;
  Pair p = synthetic_pair(10, 8 * 1024, 0);
  for (auto* o : {&empty, &p.old_image}) {
    for (auto* n : {&empty, &p.old_image}) {
      std::vector<uint8_t> patch = delta::make_patch(*o, *n);
      std::vector<uint8_t> out;
      ASSERT_EQ(apply_patch(*o, patch, &out).status, kStatusDone);
      ASSERT_EQ(out, *n);
    }
  }
}

// Hand-made streams: each malformed record meets its own error.
TEST(PatchDecoder, MalformedInstructionsMeetTheirErrors) {
  std::vector<uint8_t> old_image(100, 0x11);
  std::vector<uint8_t> new_image(10, 0x11);
  struct Case {
    const char* name;
    std::vector<uint8_t> stream;
    Status expected;
  } cases[] = {
      {"valid", {10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, kStatusDone},
      {"insert past new end", {0, 11, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, kStatusNewOverflow},
      {"add past new end", {11, 0, 0}, kStatusNewOverflow},
      {"record after the end", {10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, kStatusInstructionCorrupt},
      {"varint too long", {0x80, 0x80, 0x80, 0x80, 0x10}, kStatusInstructionCorrupt},
      {"stream ends mid record", {5, 0, 0, 0, 0}, kStatusTruncated},
      {"stream ends early", {5, 0, 0, 0, 0, 0, 0, 0}, kStatusSizeMismatch},
  };
  for (auto& c : cases) {
    std::vector<uint8_t> patch = raw_patch(old_image, 10, new_image, c.stream);
    std::vector<uint8_t> out;
    EXPECT_EQ(apply_patch(old_image, patch, &out).status, c.expected) << c.name;
    EXPECT_LE(out.size(), 10u) << c.name;
  }
}

TEST(PatchDecoder, ReadsOutsideTheOldImageAreRefused) {
  std::vector<uint8_t> old_image(100, 0x22);
  std::vector<uint8_t> new_image(20, 0x22);
  // Record 1: add 10 then seek -20 (cursor 10 -> -10); record 2 adds from -10.
  std::vector<uint8_t> neg = {10, 0, 39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                              10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> out;
  EXPECT_EQ(apply_patch(old_image, raw_patch(old_image, 20, new_image, neg), &out).status,
            kStatusOldOutOfRange);
  EXPECT_LE(out.size(), 10u);
  // A seek to 95 (zigzag 190 = varint BE 01) then an add of 20 crosses the end.
  std::vector<uint8_t> far = {0, 0, 0xBE, 0x01, 20, 0, 0};
  far.resize(far.size() + 20, 0);
  EXPECT_EQ(apply_patch(old_image, raw_patch(old_image, 20, new_image, far), &out).status,
            kStatusOldOutOfRange);
}

TEST(PatchDecoder, WrongOutputHashIsReported) {
  std::vector<uint8_t> old_image(64, 0x33);
  std::vector<uint8_t> claimed(8, 0x44);
  std::vector<uint8_t> stream = {8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};  // yields 8 x 0x33
  std::vector<uint8_t> out;
  EXPECT_EQ(apply_patch(old_image, raw_patch(old_image, 8, claimed, stream), &out).status,
            kStatusNewHashMismatch);
}

TEST(PatchDecoder, HeaderFieldChangesAreRefused) {
  Pair p = synthetic_pair(12, 8 * 1024, 5);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image);
  // Unknown codec with a valid CRC: refused before anything is written.
  std::vector<uint8_t> bad = patch;
  bad[5] = 9;
  reseal(bad);
  std::vector<uint8_t> out;
  EXPECT_EQ(apply_patch(p.old_image, bad, &out).status, kStatusUnsupportedCodec);
  EXPECT_TRUE(out.empty());
  // new_size one larger: the stream runs out before the image is complete.
  bad = patch;
  store_le32(bad.data() + 24, load_le32(bad.data() + 24) + 1);
  reseal(bad);
  EXPECT_TRUE(status_is_error(apply_patch(p.old_image, bad, &out).status));
  // new_size one smaller: the instructions overflow it.
  bad = patch;
  store_le32(bad.data() + 24, load_le32(bad.data() + 24) - 1);
  reseal(bad);
  EXPECT_EQ(apply_patch(p.old_image, bad, &out).status, kStatusNewOverflow);
  EXPECT_LT(out.size(), p.new_image.size());
  // payload_size one larger: the patch is truncated.
  bad = patch;
  store_le32(bad.data() + 32, load_le32(bad.data() + 32) + 1);
  reseal(bad);
  EXPECT_TRUE(status_is_error(apply_patch(p.old_image, bad, &out).status));
}

TEST(PatchDecoder, FeedAfterErrorDoesNothing) {
  std::vector<uint8_t> junk(200, 0x5A);
  PatchIo io{};
  io.read_old = [](void*, uint32_t, uint8_t*, uint32_t) { return -1; };
  io.write_new = [](void*, const uint8_t*, uint32_t) { return -1; };
  PatchDecoder d;
  ASSERT_EQ(patch_decoder_init(&d, &io, nullptr, 0), kStatusOk);
  EXPECT_EQ(patch_decoder_feed(&d, junk.data(), junk.size()), kStatusBadMagic);
  EXPECT_EQ(patch_decoder_feed(&d, junk.data(), junk.size()), kStatusAfterError);
  EXPECT_EQ(patch_decoder_finish(&d), kStatusBadMagic);
  EXPECT_EQ(patch_decoder_header(&d), nullptr);
}

TEST(PatchDecoder, InitRejectsBadArguments) {
  PatchDecoder d;
  PatchIo io{};
  EXPECT_EQ(patch_decoder_init(&d, &io, nullptr, 0), kStatusBadArgument);
  io.read_old = [](void*, uint32_t, uint8_t*, uint32_t) { return 0; };
  io.write_new = [](void*, const uint8_t*, uint32_t) { return 0; };
  io.sha256_begin = [](void*) { return 0; };  // a partial hash port
  EXPECT_EQ(patch_decoder_init(&d, &io, nullptr, 0), kStatusBadArgument);
  io.sha256_begin = nullptr;
  alignas(4) uint8_t ws[8];
  EXPECT_EQ(patch_decoder_init(&d, &io, ws + 1, 4), kStatusBadArgument);
  EXPECT_EQ(patch_decoder_init(&d, &io, ws, 8), kStatusOk);
}

TEST(PatchDecoder, PortFailuresStopTheDecoder) {
  Pair p = synthetic_pair(13, 8 * 1024, 5);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image);
  PatchIo io{};
  io.ctx = &p;
  io.read_old = [](void*, uint32_t, uint8_t*, uint32_t) { return 0; };
  io.write_new = [](void*, const uint8_t*, uint32_t) { return -1; };
  alignas(4) static uint8_t ws[64 * 1024];
  PatchDecoder d;
  ASSERT_EQ(patch_decoder_init(&d, &io, ws, sizeof(ws)), kStatusOk);
  EXPECT_EQ(patch_decoder_feed(&d, patch.data(), patch.size()), kStatusWriteError);
  io.read_old = [](void*, uint32_t, uint8_t*, uint32_t) { return -1; };
  io.write_new = [](void*, const uint8_t*, uint32_t) { return 0; };
  ASSERT_EQ(patch_decoder_init(&d, &io, ws, sizeof(ws)), kStatusOk);
  EXPECT_EQ(patch_decoder_feed(&d, patch.data(), patch.size()), kStatusReadError);
}

}  // namespace
}  // namespace ota

namespace ota {
namespace {

// A port may hold hardware from sha256_begin to sha256_finish (ESP32's SHA
// engine), so every begin must meet its finish, on every failure path too.
TEST(PatchDecoder, EveryBegunHashIsFinished) {
  Pair p = synthetic_pair(14, 16 * 1024, 10);
  std::vector<uint8_t> patch = delta::make_patch(p.old_image, p.new_image);
  std::vector<uint8_t> wrong_base = p.old_image;
  wrong_base[7] ^= 1;
  std::vector<uint8_t> corrupt = patch;
  corrupt[corrupt.size() / 2] ^= 0x10;
  struct Scenario {
    const char* name;
    const std::vector<uint8_t>* old_image;
    std::vector<uint8_t> bytes;
  } scenarios[] = {
      {"success", &p.old_image, patch},
      {"wrong base", &wrong_base, patch},
      {"corrupt payload", &p.old_image, corrupt},
      {"truncated", &p.old_image, std::vector<uint8_t>(patch.begin(), patch.end() - 10)},
      {"trailing", &p.old_image, [&] { auto t = patch; t.push_back(1); return t; }()},
  };
  for (const Scenario& s : scenarios) {
    struct Ctx {
      const std::vector<uint8_t>* old_image;
      EVP_MD_CTX* md;
      int begins = 0, finishes = 0, open = 0;
    } ctx{s.old_image, EVP_MD_CTX_new()};
    PatchIo io{};
    io.ctx = &ctx;
    io.read_old = [](void* c, uint32_t off, uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Ctx*>(c);
      std::memcpy(buf, x->old_image->data() + off, len);
      return 0;
    };
    io.write_new = [](void*, const uint8_t*, uint32_t) { return 0; };
    io.sha256_begin = [](void* c) {
      auto* x = static_cast<Ctx*>(c);
      EXPECT_EQ(x->open, 0) << "begin while a hash is open";
      ++x->begins;
      x->open = 1;
      return EVP_DigestInit_ex(x->md, EVP_sha256(), nullptr) == 1 ? 0 : -1;
    };
    io.sha256_update = [](void* c, const uint8_t* b, uint32_t n) {
      return EVP_DigestUpdate(static_cast<Ctx*>(c)->md, b, n) == 1 ? 0 : -1;
    };
    io.sha256_finish = [](void* c, uint8_t d[32]) {
      auto* x = static_cast<Ctx*>(c);
      ++x->finishes;
      x->open = 0;
      unsigned int n = 0;
      return EVP_DigestFinal_ex(x->md, d, &n) == 1 ? 0 : -1;
    };
    alignas(4) static uint8_t ws[64 * 1024];
    PatchDecoder d;
    ASSERT_EQ(patch_decoder_init(&d, &io, ws, sizeof(ws)), kStatusOk);
    patch_decoder_feed(&d, s.bytes.data(), s.bytes.size());
    Status end = patch_decoder_finish(&d);
    EXPECT_EQ(end == kStatusDone, std::string(s.name) == "success") << s.name << ": " << status_message(end);
    EXPECT_GT(ctx.begins, 0) << s.name;
    EXPECT_EQ(ctx.begins, ctx.finishes) << s.name;
    EVP_MD_CTX_free(ctx.md);
  }
}

}  // namespace
}  // namespace ota
