// The stored vectors of tests/vectors (docs/protocol.md §5), checked with the
// device code through both crypto ports on every run.
#include <gtest/gtest.h>

#include <cstring>

#include "crypto_mbedtls.h"
#include "ota/envelope.h"
#include "ota/server/crypto.h"
#include "test_support.h"

namespace ota {
namespace {

namespace fs = std::filesystem;

class Vectors : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    port_ = std::string(GetParam()) == "mbedtls" ? mbedtls_crypto_port() : server::openssl_crypto_port();
    dir_ = test::source_dir() / "tests" / "vectors";
    auto pem = test::read_file(dir_ / "signing_pub.pem");
    auto key = server::SigningKey::from_public_pem(std::string(pem.begin(), pem.end()));
    id_.product = "demo";
    id_.chip_id = 0;
    id_.device_id = "dev-0001";
    id_.keys[0].in_use = 1;
    auto pt = key.public_point();
    auto kid = key.key_id();
    std::copy(pt.begin(), pt.end(), id_.keys[0].public_key);
    std::copy(kid.begin(), kid.end(), id_.keys[0].key_id);
    id_.security_counter = 1;
    for (int i = 0; i < 16; ++i) id_.nonce[i] = static_cast<uint8_t>(i);
    id_.ram_budget = 32 * 1024;
    id_.record_budget = 65536 + 64;
    device_key_ = test::read_file(dir_ / "device.key");
    image_ = test::read_file(dir_ / "image.bin");
  }

  std::vector<uint8_t> open(const char* manifest_file, const char* stream_file, Manifest* m) {
    auto mb = test::read_file(dir_ / manifest_file);
    EXPECT_EQ(manifest_verify(&port_, &id_, mb.data(), mb.size(), m), kStatusOk);
    uint8_t key[32];
    EXPECT_EQ(manifest_record_key(&port_, m, device_key_.data(), key), kStatusOk);
    std::vector<uint8_t> out;
    RecordSink sink{&out, [](void* c, const uint8_t* d, size_t n) {
                      auto* o = static_cast<std::vector<uint8_t>*>(c);
                      o->insert(o->end(), d, d + n);
                      return kStatusOk;
                    }};
    std::vector<uint8_t> buf(record_buffer_size(m));
    RecordDecoder rd;
    EXPECT_EQ(record_decoder_init(&rd, &port_, m, key, buf.data(), static_cast<uint32_t>(buf.size()), sink),
              kStatusOk);
    auto stream = test::read_file(dir_ / stream_file);
    EXPECT_EQ(record_decoder_feed(&rd, stream.data(), stream.size()), kStatusDone);
    EXPECT_EQ(record_decoder_finish(&rd), kStatusDone);
    return out;
  }

  CryptoPort port_{};
  DeviceIdentity id_{};
  fs::path dir_;
  std::vector<uint8_t> device_key_, image_;
};

TEST_P(Vectors, DeviceKeyStreamIsOneOriginalLayoutRecord) {
  Manifest m;
  EXPECT_EQ(open("manifest_devkey.bin", "stream_devkey.bin", &m), image_);
  EXPECT_EQ(m.encryption, kEncryptionDeviceKey);
  EXPECT_EQ(m.record_count, 1u);
  EXPECT_EQ(m.stream_size, 29u + 5000u);
  EXPECT_EQ(m.security_counter, 1u);
  EXPECT_EQ(std::string(m.to_version.bytes, m.to_version.len), "1.0.1");
  // The original layout: nonce | tag | ciphertext, decryptable in one call.
  auto s = test::read_file(dir_ / "stream_devkey.bin");
  std::vector<uint8_t> plain(s.size() - 29);
  ASSERT_EQ(port_.aes256_ccm_decrypt(port_.ctx, device_key_.data(), s.data(), s.data() + 29,
                                     plain.size(), s.data() + 13, plain.data()),
            0);
  EXPECT_EQ(plain, image_);
}

TEST_P(Vectors, WrappedKeyStreamIsTwoChainedRecords) {
  Manifest m;
  EXPECT_EQ(open("manifest_wrapped.bin", "stream_wrapped.bin", &m), image_);
  EXPECT_EQ(m.encryption, kEncryptionWrappedKey);
  EXPECT_EQ(m.record_count, 2u);
  EXPECT_EQ(m.stream_size, 2 * 29u + 5000u + 32u);
  const uint8_t prefix[8] = {0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7};
  EXPECT_EQ(0, std::memcmp(m.nonce_prefix, prefix, 8));
}

INSTANTIATE_TEST_SUITE_P(Ports, Vectors, ::testing::Values("openssl", "mbedtls"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace ota
