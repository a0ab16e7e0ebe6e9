// esp_image_check: the device measuring and checking an application image
// in its own flash slot through a read callback. Every corpus image and the
// synthetic one pass with their facts; corruption, truncation, a short slot
// and failing reads are refused without a read outside [0, limit), and every
// SHA-256 begun is finished.
#include "ota/esp_image.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crypto_mbedtls.h"
#include "test_support.h"

namespace ota {
namespace {

using Bytes = std::vector<uint8_t>;

// ---------------------------------------------------------------------------
// A flash slot in memory: `data`, then 0xFF up to the limit the caller
// passes. Records every violation of the read contract.

struct Slot {
  const Bytes* data = nullptr;
  uint32_t limit = 0;        // reads must stay below this
  int fail_at_call = -1;     // the n-th read (0-based) fails
  int calls = 0;
  bool out_of_bounds = false;
  bool oversized = false;    // a read of 0 or more than 256 bytes
  uint64_t bytes_read = 0;
};

int slot_read(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  auto* s = static_cast<Slot*>(ctx);
  const int call = s->calls++;
  if (len == 0 || len > 256) s->oversized = true;
  if (uint64_t{offset} + len > s->limit) {
    s->out_of_bounds = true;
    return -1;
  }
  if (call == s->fail_at_call) return -5;
  for (uint32_t i = 0; i < len; ++i) {
    const uint64_t at = uint64_t{offset} + i;
    buf[i] = at < s->data->size() ? (*s->data)[at] : 0xFF;
  }
  s->bytes_read += len;
  return 0;
}

// The mbedTLS port with every begin and finish counted; a failure can be
// injected into any of its functions.
struct CountingCrypto {
  CryptoPort inner = mbedtls_crypto_port();
  int begins = 0, finishes = 0, updates = 0;
  bool fail_begin = false, fail_finish = false;
  int fail_update_at = -1;

  CryptoPort port() {
    CryptoPort p{};
    p.ctx = this;
    p.sha256_begin = [](void* ctx, Sha256State* s) {
      auto* c = static_cast<CountingCrypto*>(ctx);
      if (c->fail_begin) return -1;
      ++c->begins;
      return c->inner.sha256_begin(c->inner.ctx, s);
    };
    p.sha256_update = [](void* ctx, Sha256State* s, const uint8_t* d, size_t n) {
      auto* c = static_cast<CountingCrypto*>(ctx);
      if (c->updates++ == c->fail_update_at) return -1;
      return c->inner.sha256_update(c->inner.ctx, s, d, n);
    };
    p.sha256_finish = [](void* ctx, Sha256State* s, uint8_t digest[32]) {
      auto* c = static_cast<CountingCrypto*>(ctx);
      ++c->finishes;
      const int rc = c->inner.sha256_finish(c->inner.ctx, s, digest);
      return c->fail_finish ? -1 : rc;
    };
    return p;
  }
};

struct Outcome {
  Status status;
  EspImageInfo info;
  Slot slot;
  int begins, finishes;
};

// Checks `data` in a slot of `limit` bytes (default: exactly the data).
Outcome run(const Bytes& data, bool with_crypto = true, int64_t limit = -1, int fail_at_call = -1) {
  Outcome o{};
  o.slot.data = &data;
  o.slot.limit = limit < 0 ? static_cast<uint32_t>(data.size()) : static_cast<uint32_t>(limit);
  o.slot.fail_at_call = fail_at_call;
  CountingCrypto counting;
  CryptoPort port = counting.port();
  memset(&o.info, 0xA5, sizeof o.info);  // everything must be written
  o.status = esp_image_check(slot_read, &o.slot, o.slot.limit, with_crypto ? &port : nullptr, &o.info);
  o.begins = counting.begins;
  o.finishes = counting.finishes;
  return o;
}

// Contract checks that hold for every call.
void expect_well_behaved(const Outcome& o) {
  EXPECT_FALSE(o.slot.out_of_bounds) << "read outside [0, limit)";
  EXPECT_FALSE(o.slot.oversized) << "a read of 0 or more than 256 bytes";
  EXPECT_EQ(o.begins, o.finishes) << "a SHA-256 begun and not finished";
  if (o.status != kStatusOk) {
    EspImageInfo zero;
    memset(&zero, 0, sizeof zero);
    EXPECT_EQ(memcmp(&o.info, &zero, sizeof zero), 0) << "info not zeroed on failure";
  }
}

uint32_t le32(const Bytes& d, size_t at) {
  return static_cast<uint32_t>(d[at]) | (static_cast<uint32_t>(d[at + 1]) << 8) |
         (static_cast<uint32_t>(d[at + 2]) << 16) | (static_cast<uint32_t>(d[at + 3]) << 24);
}
void put_le32(Bytes& d, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) d[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

// The layout of a well-formed test image (test-side walk, trusted input).
struct Layout {
  std::vector<std::pair<size_t, size_t>> segments;  // data offset, length
  size_t image_len = 0;                             // through the checksum byte
  bool hash = false;
};

Layout layout_of(const Bytes& img) {
  Layout l;
  size_t pos = 24;
  for (unsigned i = 0; i < img[1]; ++i) {
    const size_t len = le32(img, pos + 4);
    l.segments.push_back({pos + 8, len});
    pos += 8 + len;
  }
  l.image_len = (pos | 15) + 1;
  l.hash = img[23] == 1;
  return l;
}

// Recomputes the checksum byte and the appended digest after an edit, so
// that a test can make a valid variant.
void reseal(Bytes& img) {
  const Layout l = layout_of(img);
  uint8_t sum = 0xEF;
  for (auto [off, len] : l.segments)
    for (size_t i = 0; i < len; ++i) sum ^= img[off + i];
  img[l.image_len - 1] = sum;
  if (l.hash) {
    unsigned n = 0;
    EVP_Digest(img.data(), l.image_len, img.data() + l.image_len, &n, EVP_sha256(), nullptr);
  }
}

Bytes synthetic(const std::string& version = "1.2.3", const std::string& project = "demo-app",
                size_t code_size = 700) {
  Bytes code(code_size);
  for (size_t i = 0; i < code.size(); ++i) code[i] = static_cast<uint8_t>(i * 37 + (i >> 5));
  return test::synthetic_esp32_app(version, project, code);
}

// ---------------------------------------------------------------------------
// Corpus: MANIFEST.tsv gives each file's size, chip id and, in its notes,
// the app descriptor ("app_desc: ver=<version> proj=<project> built=...").

struct CorpusEntry {
  std::string series, version, app_version, project, hash_note;
  std::filesystem::path path;
  uint64_t size = 0;
  uint16_t chip_id = 0;
};

std::string between(const std::string& s, const std::string& from, const std::string& to) {
  const size_t a = s.find(from);
  if (a == std::string::npos) return {};
  const size_t b = s.find(to, a + from.size());
  return s.substr(a + from.size(), b == std::string::npos ? std::string::npos : b - a - from.size());
}

std::vector<CorpusEntry> corpus_entries(const std::filesystem::path& dir) {
  std::ifstream f(dir / "MANIFEST.tsv");
  std::string line;
  std::getline(f, line);  // column names
  std::vector<CorpusEntry> out;
  while (std::getline(f, line)) {
    std::vector<std::string> col;
    std::istringstream row(line);
    for (std::string c; std::getline(row, c, '\t');) col.push_back(c);
    if (col.size() < 10 || col[0].empty()) continue;
    CorpusEntry e;
    e.series = col[0];
    e.version = col[1];
    e.size = std::stoull(col[6]);
    e.chip_id = static_cast<uint16_t>(std::stoul(col[8]));
    e.app_version = between(col[9], "app_desc: ver=", " proj=");
    e.project = between(col[9], " proj=", " built=");
    e.hash_note = col[9];
    e.path = dir / e.series / (e.version + ".bin");
    out.push_back(e);
  }
  return out;
}

TEST(device_util_esp_image, EveryCorpusImageMeasuresToItsFileSize) {
  auto dir = test::corpus_dir();
  if (!dir) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  const auto entries = corpus_entries(*dir);
  ASSERT_GE(entries.size(), 40u);
  for (const CorpusEntry& e : entries) {
    SCOPED_TRACE(e.path.string());
    const Bytes img = test::read_file(e.path);
    ASSERT_EQ(img.size(), e.size);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk) << status_message(o.status);
    EXPECT_EQ(o.info.size, img.size());
    EXPECT_EQ(o.info.chip_id, e.chip_id);
    EXPECT_EQ(o.info.segment_count, img[1]);
    EXPECT_EQ(o.info.entry_addr, le32(img, 4));
    EXPECT_EQ(o.info.hash_appended, 1);  // every corpus file: "appended SHA-256 OK"
    EXPECT_NE(e.hash_note.find("appended SHA-256 OK"), std::string::npos);
    EXPECT_EQ(o.begins, 1);
    EXPECT_EQ(o.info.has_app_desc, 1);
    ASSERT_FALSE(e.app_version.empty());
    EXPECT_EQ(std::string(o.info.version), e.app_version);
    EXPECT_EQ(std::string(o.info.project_name), e.project);
    // Each byte is read once (header and segment headers twice, app
    // descriptor prefix again).
    EXPECT_LT(o.slot.bytes_read, img.size() + 24 + 8u * img[1] + 80 + 32 + 1);
  }
}

TEST(device_util_esp_image, CorpusImageInALargerFlashSlot) {
  auto dir = test::corpus_dir();
  if (!dir) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  const auto entries = corpus_entries(*dir);
  ASSERT_FALSE(entries.empty());
  for (size_t k : {size_t{0}, entries.size() / 2, entries.size() - 1}) {
    const Bytes img = test::read_file(entries[k].path);
    const Outcome o = run(img, true, 0x1F0000);  // a 1.94 MB OTA slot, 0xFF after the image
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.size, img.size());
  }
}

TEST(device_util_esp_image, CorpusImageTruncatedOrCorrupted) {
  auto dir = test::corpus_dir();
  if (!dir) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  const auto entries = corpus_entries(*dir);
  ASSERT_FALSE(entries.empty());
  const Bytes img = test::read_file(entries.back().path);
  // A slot shorter than the image, at points spread over the whole image.
  for (size_t cut = 0; cut < img.size(); cut += 9973) {
    const Outcome o = run(img, true, static_cast<int64_t>(cut));
    expect_well_behaved(o);
    EXPECT_EQ(o.status, kStatusBadImage) << "cut at " << cut;
  }
  for (size_t cut : {img.size() - 1, img.size() - 32, img.size() - 33}) {
    const Outcome o = run(img, true, static_cast<int64_t>(cut));
    expect_well_behaved(o);
    EXPECT_EQ(o.status, kStatusBadImage) << "cut at " << cut;
  }
  // One flipped bit in the middle of the last segment's data.
  const Layout l = layout_of(img);
  Bytes bad = img;
  bad[l.segments.back().first + l.segments.back().second / 2] ^= 0x10;
  for (bool crypto : {true, false}) {
    const Outcome o = run(bad, crypto);
    expect_well_behaved(o);
    EXPECT_EQ(o.status, kStatusBadImage);
  }
}

// ---------------------------------------------------------------------------
// The synthetic application from test_support.

TEST(device_util_esp_image, SyntheticAppPasses) {
  const Bytes img = synthetic("1.2.3", "demo-app");
  for (bool crypto : {true, false}) {
    const Outcome o = run(img, crypto);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk) << status_message(o.status);
    EXPECT_EQ(o.info.size, img.size());
    EXPECT_EQ(o.info.chip_id, 0);
    EXPECT_EQ(o.info.segment_count, 3);
    EXPECT_EQ(o.info.hash_appended, 1);
    EXPECT_EQ(o.info.entry_addr, 0x40080010u);
    EXPECT_EQ(o.info.has_app_desc, 1);
    EXPECT_EQ(o.info.secure_version, 0u);
    EXPECT_STREQ(o.info.version, "1.2.3");
    EXPECT_STREQ(o.info.project_name, "demo-app");
    EXPECT_EQ(o.begins, crypto ? 1 : 0);
  }
}

TEST(device_util_esp_image, NullInfoAndNullRead) {
  const Bytes img = synthetic();
  Slot slot;
  slot.data = &img;
  slot.limit = static_cast<uint32_t>(img.size());
  EXPECT_EQ(esp_image_check(slot_read, &slot, slot.limit, nullptr, nullptr), kStatusOk);
  EspImageInfo info;
  memset(&info, 0x5A, sizeof info);
  EXPECT_EQ(esp_image_check(nullptr, &slot, slot.limit, nullptr, &info), kStatusBadArgument);
  EXPECT_EQ(info.size, 0u);
  EXPECT_EQ(info.version[0], '\0');
}

TEST(device_util_esp_image, PaddedSlotKeepsTheImageSize) {
  const Bytes img = synthetic();
  for (int64_t limit : {int64_t(img.size()) + 1, int64_t(img.size()) + 4096, int64_t{0x10000},
                        int64_t{0x1F0000}}) {
    const Outcome o = run(img, true, limit);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.size, img.size());
  }
  // Whatever follows the image in the slot is not looked at.
  Bytes trailing = img;
  trailing.resize(img.size() + 100, 0x00);
  const Outcome o = run(trailing);
  expect_well_behaved(o);
  ASSERT_EQ(o.status, kStatusOk);
  EXPECT_EQ(o.info.size, img.size());
}

TEST(device_util_esp_image, FlippedSegmentByteFailsTheChecksum) {
  const Bytes img = synthetic();
  const Layout l = layout_of(img);
  int tried = 0;
  for (auto [off, len] : l.segments) {
    for (size_t i = 0; i < len; i += 37) {
      Bytes bad = img;
      bad[off + i] ^= 0x01;
      for (bool crypto : {true, false}) {
        const Outcome o = run(bad, crypto);
        expect_well_behaved(o);
        EXPECT_EQ(o.status, kStatusBadImage) << "byte " << off + i;
      }
      ++tried;
    }
  }
  EXPECT_GT(tried, 20);
  // The checksum byte itself.
  Bytes bad = img;
  bad[l.image_len - 1] ^= 0x80;
  EXPECT_EQ(run(bad, false).status, kStatusBadImage);
}

TEST(device_util_esp_image, BytesOutsideSegmentDataAreCoveredByTheHash) {
  const Bytes img = synthetic();
  const Layout l = layout_of(img);
  // Entry address, a load address, padding: the checksum cannot see these.
  const size_t padding = l.segments.back().first + l.segments.back().second;
  ASSERT_LT(padding, l.image_len - 1);
  for (size_t at : {size_t{5}, size_t{24}, padding, l.image_len, img.size() - 1}) {
    Bytes bad = img;
    bad[at] ^= 0x04;
    const Outcome with = run(bad, true);
    expect_well_behaved(with);
    EXPECT_EQ(with.status, kStatusBadImage) << "byte " << at;
    const Outcome without = run(bad, false);
    expect_well_behaved(without);
    EXPECT_EQ(without.status, kStatusOk) << "byte " << at << " (no crypto: not hashed)";
  }
}

TEST(device_util_esp_image, TruncatedAtEveryByte) {
  const Bytes img = synthetic("9.9.9", "t", 300);
  for (size_t cut = 0; cut < img.size(); ++cut) {
    const Bytes part(img.begin(), img.begin() + static_cast<long>(cut));
    for (bool crypto : {true, false}) {
      const Outcome o = run(part, crypto);
      expect_well_behaved(o);
      EXPECT_EQ(o.status, kStatusBadImage) << "cut at " << cut;
    }
  }
}

TEST(device_util_esp_image, LimitSmallerThanTheImage) {
  const Bytes img = synthetic();
  // The whole image is there, but the slot is declared shorter.
  for (size_t limit : {size_t{0}, size_t{23}, size_t{24}, size_t{100}, img.size() / 2,
                       img.size() - 33, img.size() - 32, img.size() - 1}) {
    const Outcome o = run(img, true, static_cast<int64_t>(limit));
    expect_well_behaved(o);
    EXPECT_EQ(o.status, kStatusBadImage) << "limit " << limit;
  }
}

TEST(device_util_esp_image, ReadFailureAtEveryCall) {
  const Bytes img = synthetic();
  const int calls = run(img).slot.calls;
  ASSERT_GT(calls, 8);
  for (bool crypto : {true, false}) {
    const int n = run(img, crypto).slot.calls;
    for (int k = 0; k < n; ++k) {
      const Outcome o = run(img, crypto, -1, k);
      expect_well_behaved(o);
      EXPECT_EQ(o.status, kStatusReadError) << "read " << k;
    }
  }
}

TEST(device_util_esp_image, CryptoPortFailures) {
  const Bytes img = synthetic();
  Slot slot;
  slot.data = &img;
  slot.limit = static_cast<uint32_t>(img.size());
  EspImageInfo info;
  {
    CountingCrypto c;
    c.fail_begin = true;
    CryptoPort p = c.port();
    EXPECT_EQ(esp_image_check(slot_read, &slot, slot.limit, &p, &info), kStatusHashError);
    EXPECT_EQ(c.finishes, 0);
  }
  for (int at : {0, 1, 5}) {
    CountingCrypto c;
    c.fail_update_at = at;
    CryptoPort p = c.port();
    EXPECT_EQ(esp_image_check(slot_read, &slot, slot.limit, &p, &info), kStatusHashError);
    EXPECT_EQ(c.begins, 1);
    EXPECT_EQ(c.finishes, 1);
  }
  {
    CountingCrypto c;
    c.fail_finish = true;
    CryptoPort p = c.port();
    EXPECT_EQ(esp_image_check(slot_read, &slot, slot.limit, &p, &info), kStatusHashError);
    EXPECT_EQ(c.begins, 1);
    EXPECT_EQ(c.finishes, 1);
  }
}

// ---------------------------------------------------------------------------
// Header and segment refusals, and valid variants.

TEST(device_util_esp_image, HeaderRefusals) {
  const Bytes img = synthetic();
  struct Case {
    const char* what;
    size_t at;
    uint8_t value;
  };
  const Case cases[] = {
      {"magic", 0, 0xEA},         {"no segments", 1, 0},   {"17 segments", 1, 17},
      {"255 segments", 1, 255},   {"chip id 0xFFFF", 12, 0xFF}, {"hash flag 2", 23, 2},
      {"4 segments", 1, 4},
  };
  for (const Case& c : cases) {
    Bytes bad = img;
    bad[c.at] = c.value;
    if (c.at == 12) bad[13] = 0xFF;
    const Outcome o = run(bad, true, 0x10000);
    expect_well_behaved(o);
    EXPECT_EQ(o.status, kStatusBadImage) << c.what;
  }
}

TEST(device_util_esp_image, SegmentLengthRefusals) {
  const Bytes img = synthetic();
  const Layout l = layout_of(img);
  const size_t first_len_at = l.segments[0].first - 4;
  const size_t last_len_at = l.segments.back().first - 4;
  for (uint32_t len : {0xFFFFFFFCu, 0xFFFFFFFFu, 0x80000000u, 0x01000000u, 0x00FFFFF0u,
                       static_cast<uint32_t>(img.size()), 2u, 257u}) {
    for (size_t at : {first_len_at, last_len_at}) {
      Bytes bad = img;
      put_le32(bad, at, len);
      const Outcome o = run(bad, true, 0x20000);
      expect_well_behaved(o);
      EXPECT_EQ(o.status, kStatusBadImage) << "length " << len << " at " << at;
    }
  }
  // A limit near 4 GiB: the bounds arithmetic must not wrap.
  Bytes bad = img;
  put_le32(bad, last_len_at, 0xFFFFFF00u);
  const Outcome o = run(bad, false, 0xFFFFFFFF);
  EXPECT_FALSE(o.slot.out_of_bounds);
  EXPECT_NE(o.status, kStatusOk);
}

TEST(device_util_esp_image, ValidVariants) {
  const Bytes base = synthetic("2.0.0", "variants");
  {  // No appended digest: byte 23 = 0, 32 bytes shorter.
    Bytes img = base;
    img.resize(img.size() - 32);
    img[23] = 0;
    reseal(img);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.size, img.size());
    EXPECT_EQ(o.info.hash_appended, 0);
    EXPECT_EQ(o.begins, 0);  // nothing to hash
    // And in a slot that follows with 0xFF, the digest-less size stays.
    EXPECT_EQ(run(img, true, 0x8000).info.size, img.size());
  }
  {  // No app descriptor: wrong magic.
    Bytes img = base;
    img[32] ^= 0xFF;
    reseal(img);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.has_app_desc, 0);
    EXPECT_STREQ(o.info.version, "");
    EXPECT_STREQ(o.info.project_name, "");
    EXPECT_EQ(o.info.secure_version, 0u);
  }
  {  // Secure version and a non-printable byte in the version string.
    Bytes img = base;
    put_le32(img, 32 + 4, 7);
    img[32 + 16 + 1] = 0x01;
    std::fill(img.begin() + 32 + 48, img.begin() + 32 + 80, 'p');  // 32 chars, no NUL
    reseal(img);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.secure_version, 7u);
    EXPECT_STREQ(o.info.version, "2?0.0");
    EXPECT_EQ(std::string(o.info.project_name), std::string(32, 'p'));
  }
  {  // One segment only, of 4 bytes: too short for a descriptor.
    Bytes img(24 + 8 + 4, 0);
    img[0] = 0xE9;
    img[1] = 1;
    put_le32(img, 24, 0x3FFB0000u);
    put_le32(img, 28, 4);
    img[32] = 0x32; img[33] = 0x54; img[34] = 0xCD; img[35] = 0xAB;  // the magic alone
    img.resize(48, 0);
    reseal(img);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.size, 48u);
    EXPECT_EQ(o.info.has_app_desc, 0);
  }
  {  // 16 empty segments: the maximum count.
    Bytes img(24 + 16 * 8, 0);
    img[0] = 0xE9;
    img[1] = 16;
    img[12] = 9;  // ESP32-S3
    img[23] = 1;
    img.resize(((img.size()) | 15) + 1 + 32, 0);
    reseal(img);
    const Outcome o = run(img);
    expect_well_behaved(o);
    ASSERT_EQ(o.status, kStatusOk);
    EXPECT_EQ(o.info.segment_count, 16);
    EXPECT_EQ(o.info.chip_id, 9);
    EXPECT_EQ(o.info.size, img.size());
  }
}

TEST(device_util_esp_image, RandomCorruptionNeverReadsOutOfBounds) {
  const Bytes base = synthetic("3.1.4", "fuzzish", 400);
  std::mt19937 rng(7);
  int accepted = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes img = base;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      // Mostly the header and segment headers, where the structure lives.
      const size_t at = (rng() % 3 == 0) ? rng() % img.size() : rng() % 48;
      img[at] = static_cast<uint8_t>(rng());
    }
    img.resize(rng() % 2 ? img.size() : rng() % img.size());
    const bool crypto = rng() % 2;
    const Outcome o = run(img, crypto);
    expect_well_behaved(o);
    if (o.status == kStatusOk) {
      ++accepted;
      EXPECT_LE(o.info.size, img.size());
    } else {
      EXPECT_EQ(o.status, kStatusBadImage);
    }
  }
  EXPECT_LT(accepted, 3000);
}

}  // namespace
}  // namespace ota
