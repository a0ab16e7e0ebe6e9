// The manifest layout (docs/protocol.md §2) and record geometry (§3),
// without cryptography: what parses, what is refused, and the byte offsets.
#include <gtest/gtest.h>

#include <cstring>

#include "ota/manifest.h"
#include "ota/server/envelope.h"

namespace ota {
namespace {

Manifest sample() {
  Manifest m{};
  m.version = kManifestVersion;
  m.kind = kManifestUpdate;
  for (int i = 0; i < 8; ++i) m.key_id[i] = static_cast<uint8_t>(0x10 + i);
  m.security_counter = 7;
  for (int i = 0; i < 16; ++i) m.device_nonce[i] = static_cast<uint8_t>(0xA0 + i);
  m.issued_at = 0x0102030405060708ull;
  server::set_text(m.product, "wled");
  m.chip_id = 5;
  server::set_text(m.device_id, "dev-01");
  server::set_text(m.from_version, "0.14.0");
  server::set_text(m.to_version, "0.14.1+build.2");
  m.to_size = 1500000;
  m.payload_type = kPayloadPatch;
  m.payload_size = 10000;
  m.payload_codec = 1;
  m.payload_ram = 24324;
  m.encryption = kEncryptionWrappedKey;
  m.chunk_size = 4096;
  record_geometry(m.payload_size, m.chunk_size, &m.record_count, &m.stream_size);
  return m;
}

std::vector<uint8_t> with_signature(const Manifest& m, uint8_t sig_len = 71) {
  std::vector<uint8_t> b(kManifestMaxSize);
  size_t n = manifest_write_signed_part(m, b.data(), b.size());
  b.resize(n);
  b.push_back(sig_len);
  for (int i = 0; i < sig_len; ++i) b.push_back(static_cast<uint8_t>(i));
  return b;
}

TEST(Manifest, RoundTripsAndHasTheDocumentedOffsets) {
  Manifest m = sample();
  auto b = with_signature(m);
  EXPECT_EQ(0, std::memcmp(b.data(), "OTAM", 4));
  EXPECT_EQ(b[4], 1);                  // version
  EXPECT_EQ(b[5], 1);                  // kind
  EXPECT_EQ(b[6], 0x10);               // key id
  EXPECT_EQ(b[14], 7);                 // security counter
  EXPECT_EQ(b[18], 0xA0);              // nonce
  EXPECT_EQ(b[34], 0x08);              // issued_at, little endian
  EXPECT_EQ(b[42], 4);                 // product length
  EXPECT_EQ(0, std::memcmp(&b[43], "wled", 4));
  EXPECT_EQ(b[47], 5);                 // chip id
  Manifest p;
  ASSERT_EQ(manifest_parse(b.data(), b.size(), &p), kStatusOk);
  EXPECT_EQ(p.security_counter, 7u);
  EXPECT_EQ(p.issued_at, 0x0102030405060708ull);
  EXPECT_EQ(std::string(p.to_version.bytes, p.to_version.len), "0.14.1+build.2");
  EXPECT_EQ(p.record_count, 3u);
  EXPECT_EQ(p.stream_size, 3 * 29 + 10000 + 2 * 32u);
  EXPECT_EQ(p.signed_size, b.size() - 72);
  EXPECT_EQ(p.signature_size, 71);
}

TEST(Manifest, LargestManifestFitsTheDocumentedBound) {
  Manifest m = sample();
  server::set_text(m.product, std::string(32, 'p'));
  server::set_text(m.device_id, std::string(64, 'd'));
  server::set_text(m.from_version, std::string(32, '1'));
  server::set_text(m.to_version, std::string(32, '2'));
  auto b = with_signature(m, 72);
  EXPECT_EQ(b.size(), 505u);
  Manifest p;
  EXPECT_EQ(manifest_parse(b.data(), b.size(), &p), kStatusOk);
}

TEST(Manifest, EveryTruncationAndExtensionIsRefused) {
  auto b = with_signature(sample());
  Manifest p;
  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_EQ(manifest_parse(b.data(), n, &p), kStatusManifestMalformed) << n;
  b.push_back(0);
  EXPECT_EQ(manifest_parse(b.data(), b.size(), &p), kStatusManifestMalformed);
}

TEST(Manifest, FieldRulesAreEnforced) {
  struct Case {
    const char* name;
    void (*edit)(Manifest&);
  } cases[] = {
      {"path in device id", [](Manifest& m) { server::set_text(m.device_id, "../etc"); }},
      {"empty product", [](Manifest& m) { m.product.len = 0; }},
      {"slash in version", [](Manifest& m) { server::set_text(m.to_version, "1/2"); }},
      {"NUL in version", [](Manifest& m) { m.to_version.bytes[1] = 0; }},
      {"unknown payload type", [](Manifest& m) { m.payload_type = 7; }},
      {"unknown encryption", [](Manifest& m) { m.encryption = 0; }},
      {"wrong record count", [](Manifest& m) { m.record_count += 1; }},
      {"wrong stream size", [](Manifest& m) { m.stream_size -= 1; }},
      {"chunk over 64 KiB", [](Manifest& m) {
         m.chunk_size = 65535;
         m.payload_size = 200000;
         record_geometry(200000, 4096, &m.record_count, &m.stream_size);
       }},
      {"full image with a base", [](Manifest& m) {
         m.payload_type = kPayloadFullImage;
         m.payload_codec = 0;
         m.payload_size = m.to_size = 10000;
       }},
      {"zero image size", [](Manifest& m) { m.to_size = 0; }},
      {"wrapped key on the original path", [](Manifest& m) {
         m.encryption = kEncryptionDeviceKey;
         m.wrapped_key[3] = 1;
       }},
  };
  for (const Case& c : cases) {
    Manifest m = sample();
    c.edit(m);
    auto b = with_signature(m);
    Manifest p;
    EXPECT_EQ(manifest_parse(b.data(), b.size(), &p), kStatusManifestMalformed) << c.name;
  }
  // Signature lengths outside 8..72 are refused.
  for (uint8_t len : {0, 7, 73}) {
    auto b = with_signature(sample(), len);
    Manifest p;
    EXPECT_EQ(manifest_parse(b.data(), b.size(), &p), kStatusManifestMalformed) << int(len);
  }
}

TEST(RecordGeometry, FollowsTheChunkRules) {
  uint32_t n = 0, s = 0;
  ASSERT_TRUE(record_geometry(1, 4096, &n, &s));
  EXPECT_EQ(n, 1u);
  EXPECT_EQ(s, 30u);
  ASSERT_TRUE(record_geometry(4096, 4096, &n, &s));
  EXPECT_EQ(n, 1u);
  ASSERT_TRUE(record_geometry(4097, 4096, &n, &s));
  EXPECT_EQ(n, 2u);
  EXPECT_EQ(s, 2 * 29 + 4097 + 32u);
  EXPECT_EQ(record_ciphertext_size(4097, 4096, 2, 0), 4128u);
  EXPECT_EQ(record_ciphertext_size(4097, 4096, 2, 1), 1u);
  // One record may hold up to 65,535 bytes; more needs chunks.
  EXPECT_TRUE(record_geometry(65535, 65535, &n, &s));
  EXPECT_FALSE(record_geometry(65536, 65536, &n, &s));
  EXPECT_FALSE(record_geometry(100, 0, &n, &s));
  EXPECT_FALSE(record_geometry(0, 4096, &n, &s));
  uint8_t prefix[8] = {1, 2, 3, 4, 5, 6, 7, 8}, nonce[13];
  record_nonce(prefix, 0x01020304, true, nonce);
  const uint8_t expect[13] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 1};
  EXPECT_EQ(0, std::memcmp(nonce, expect, 13));
}

TEST(ServerChunkPolicy, OriginalPathKeepsSmallPayloadsInOneRecord) {
  EXPECT_EQ(server::chunk_size_for(kEncryptionDeviceKey, 1000), 1000u);
  EXPECT_EQ(server::chunk_size_for(kEncryptionDeviceKey, 65535), 65535u);
  EXPECT_EQ(server::chunk_size_for(kEncryptionDeviceKey, 65536), 4096u);
  EXPECT_EQ(server::chunk_size_for(kEncryptionWrappedKey, 1000), 4096u);
}

}  // namespace
}  // namespace ota
