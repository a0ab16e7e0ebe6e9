// The security envelope end to end on the host: the server side (OpenSSL)
// makes a signed manifest and a record stream around a real patch; the
// device core verifies and opens it through each crypto port (OpenSSL and
// mbedTLS) and feeds the patch decoder, whose writes are the "flash".
// The tamper matrix tries every attack of the security issue: each one is
// refused with the error that names it, and no unauthenticated byte ever
// reaches the flash port.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <map>
#include <random>

#include "crypto_mbedtls.h"
#include "ota/delta/patch_encoder.h"
#include "ota/envelope.h"
#include "ota/patch_decoder.h"
#include "ota/server/crypto.h"
#include "ota/server/envelope.h"
#include "test_support.h"

namespace ota {
namespace {

using server::Bytes;

struct Flash {
  Bytes written;
  int writes = 0;
};

// The device pipeline: manifest -> record stream -> patch decoder -> flash.
struct Device {
  const CryptoPort* crypto;
  DeviceIdentity identity{};
  std::array<uint8_t, 32> device_key{};
  Bytes old_image;

  struct Outcome {
    Status status = kStatusOk;  // first error, or kStatusDone
    Flash flash;
  };

  Outcome update(const Bytes& manifest_bytes, const Bytes& stream, size_t split = 0) {
    Outcome out;
    Manifest m;
    out.status = manifest_verify(crypto, &identity, manifest_bytes.data(), manifest_bytes.size(), &m);
    if (out.status != kStatusOk) return out;
    uint8_t key[32];
    out.status = manifest_record_key(crypto, &m, device_key.data(), key);
    if (out.status != kStatusOk) return out;

    struct Ctx {
      Device* dev;
      Flash* flash;
      PatchDecoder patch;
      PatchIo io;
      Sha256State hash;
    } ctx{this, &out.flash, {}, {}, {}};
    ctx.io.ctx = &ctx;
    ctx.io.read_old = [](void* c, uint32_t off, uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Ctx*>(c);
      if (off + uint64_t{len} > x->dev->old_image.size()) return -1;
      std::memcpy(buf, x->dev->old_image.data() + off, len);
      return 0;
    };
    ctx.io.write_new = [](void* c, const uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Ctx*>(c);
      x->flash->written.insert(x->flash->written.end(), buf, buf + len);
      ++x->flash->writes;
      return 0;
    };
    ctx.io.sha256_begin = [](void* c) {
      auto* x = static_cast<Ctx*>(c);
      return x->dev->crypto->sha256_begin(x->dev->crypto->ctx, &x->hash);
    };
    ctx.io.sha256_update = [](void* c, const uint8_t* b, uint32_t n) {
      auto* x = static_cast<Ctx*>(c);
      return x->dev->crypto->sha256_update(x->dev->crypto->ctx, &x->hash, b, n);
    };
    ctx.io.sha256_finish = [](void* c, uint8_t d[32]) {
      auto* x = static_cast<Ctx*>(c);
      return x->dev->crypto->sha256_finish(x->dev->crypto->ctx, &x->hash, d);
    };
    alignas(4) static uint8_t workspace[32 * 1024];
    patch_decoder_init(&ctx.patch, &ctx.io, workspace, sizeof(workspace));
    patch_decoder_expect(&ctx.patch, m.from_sha256, m.to_sha256, m.to_size);

    RecordSink sink{&ctx, [](void* c, const uint8_t* data, size_t len) {
                      auto* x = static_cast<Ctx*>(c);
                      Status s = patch_decoder_feed(&x->patch, data, len);
                      return status_is_error(s) ? s : kStatusOk;
                    }};
    static uint8_t record_buf[65536 + 64];
    RecordDecoder rd;
    out.status = record_decoder_init(&rd, crypto, &m, key, record_buf, sizeof(record_buf), sink);
    if (out.status != kStatusOk) return out;
    size_t step = split ? split : stream.size() + 1;
    Status s = kStatusOk;
    for (size_t off = 0; off < stream.size() && !status_is_error(s); off += step)
      s = record_decoder_feed(&rd, stream.data() + off, std::min(step, stream.size() - off));
    s = record_decoder_finish(&rd);
    // finish() runs on every path: it also ends the decoder's running hash.
    Status patch_end = patch_decoder_finish(&ctx.patch);
    out.status = s != kStatusDone ? s : patch_end;
    return out;
  }
};

// What the server publishes for one device and one update.
struct Release {
  Manifest manifest{};
  Bytes manifest_bytes;
  server::RecordStream stream;
  Bytes patch;
  Bytes new_image;
};

class Envelope : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    port_ = std::string(GetParam()) == "mbedtls" ? mbedtls_crypto_port() : server::openssl_crypto_port();
    std::mt19937 rng(77);
    // Big enough for several 4 KiB records, small enough for one
    // original-layout record (< 64 KiB of patch).
    old_image_ = test::synthetic_image(rng, 300000);
    new_image_ = test::mutate_image(rng, old_image_, 120);
    dev_.crypto = &port_;
    dev_.old_image = old_image_;
    auto dk = server::random_bytes(32);
    std::copy(dk.begin(), dk.end(), dev_.device_key.begin());
    DeviceIdentity& id = dev_.identity;
    id.product = "wled";
    id.chip_id = 0;
    id.device_id = "dev-0001";
    trust(0, signer_);
    id.security_counter = 5;
    auto nonce = server::random_bytes(16);
    std::copy(nonce.begin(), nonce.end(), id.nonce);
    auto running = server::sha256(old_image_);
    std::copy(running.begin(), running.end(), id.running_sha256);
    id.ram_budget = 32 * 1024;
    id.record_budget = 65536 + 64;
  }

  void trust(int slot, const server::SigningKey& key) {
    TrustedKey& t = dev_.identity.keys[slot];
    t.in_use = 1;
    auto id = key.key_id();
    auto pt = key.public_point();
    std::copy(id.begin(), id.end(), t.key_id);
    std::copy(pt.begin(), pt.end(), t.public_key);
  }

  // A release for dev_, as the server would make it; `edit` may change the
  // manifest before it is signed.
  Release make_release(Encryption enc = kEncryptionWrappedKey,
                       const std::function<void(Manifest&)>& edit = {},
                       const server::SigningKey* key = nullptr) {
    Release r;
    r.new_image = new_image_;
    r.patch = delta::make_patch(old_image_, new_image_);
    PatchHeader h;
    patch_header_parse(r.patch.data(), &h);
    std::array<uint8_t, 32> record_key;
    Manifest& m = r.manifest;
    if (enc == kEncryptionWrappedKey) {
      auto ck = server::random_bytes(32);
      std::copy(ck.begin(), ck.end(), record_key.begin());
      auto w = server::wrap_content_key(dev_.device_key, record_key);
      std::copy(w.begin(), w.end(), m.wrapped_key);
    } else {
      record_key = dev_.device_key;
    }
    r.stream = server::encrypt_records(r.patch, record_key,
                                       server::chunk_size_for(enc, r.patch.size()),
                                       server::make_nonce_prefix());
    m.kind = kManifestUpdate;
    m.security_counter = 6;
    std::copy(dev_.identity.nonce, dev_.identity.nonce + 16, m.device_nonce);
    m.issued_at = 1764000000;
    server::set_text(m.product, "wled");
    m.chip_id = 0;
    server::set_text(m.device_id, "dev-0001");
    server::set_text(m.from_version, "0.14.0");
    std::memcpy(m.from_sha256, h.old_sha256, 32);
    server::set_text(m.to_version, "0.14.1");
    std::memcpy(m.to_sha256, h.new_sha256, 32);
    m.to_size = h.new_size;
    m.payload_type = kPayloadPatch;
    auto pd = server::sha256(r.patch);
    std::copy(pd.begin(), pd.end(), m.payload_sha256);
    m.payload_codec = h.codec;
    m.payload_ram = patch_decoder_ram(h);
    server::describe_stream(m, enc, r.stream, r.patch.size());
    if (edit) edit(m);
    r.manifest_bytes = server::sign_manifest(m, key ? *key : signer_);
    return r;
  }

  void expect_refused(const Device::Outcome& o, Status expected, const char* attack,
                      bool nothing_written = true) {
    EXPECT_EQ(o.status, expected) << attack << ": got " << status_message(o.status);
    if (nothing_written) {
      EXPECT_EQ(o.flash.writes, 0) << attack;
    } else {
      // Only authenticated chunks may have reached flash: a prefix of NEW.
      ASSERT_LE(o.flash.written.size(), new_image_.size()) << attack;
      EXPECT_TRUE(std::equal(o.flash.written.begin(), o.flash.written.end(), new_image_.begin()))
          << attack;
    }
    matrix_[attack] = status_message(o.status);
  }

  static void TearDownTestSuite() {
    std::printf("\ntamper matrix (%zu attacks):\n", matrix_.size());
    for (auto& [attack, result] : matrix_) std::printf("  %-58s -> %s\n", attack.c_str(), result.c_str());
  }

  CryptoPort port_{};
  Device dev_;
  Bytes old_image_, new_image_;
  server::SigningKey signer_ = server::SigningKey::generate();
  static inline std::map<std::string, std::string> matrix_;
};

TEST_P(Envelope, GenuineUpdateAppliesInEverySplit) {
  for (Encryption enc : {kEncryptionWrappedKey, kEncryptionDeviceKey}) {
    Release r = make_release(enc);
    for (size_t split : {size_t{0}, size_t{1}, size_t{13}, size_t{1460}, size_t{4157}}) {
      Device::Outcome o = dev_.update(r.manifest_bytes, r.stream.bytes, split);
      ASSERT_EQ(o.status, kStatusDone) << status_message(o.status) << " split " << split;
      ASSERT_EQ(o.flash.written, new_image_);
    }
  }
}

TEST_P(Envelope, SmallPayloadOnTheOriginalPathIsOneRecord) {
  Release r = make_release(kEncryptionDeviceKey);
  ASSERT_LT(r.patch.size(), 65536u);
  EXPECT_EQ(r.stream.record_count, 1u);
  EXPECT_EQ(r.stream.bytes.size(), 29 + r.patch.size());
  Release v = make_release(kEncryptionWrappedKey);
  EXPECT_EQ(v.stream.record_count, (v.patch.size() + 4095) / 4096);
}

TEST_P(Envelope, TamperedManifestFieldsAreRefusedBeforeDownload) {
  Release r = make_release();
  // Every byte of the signed part and of the signature, one bit at a time.
  for (size_t i = 0; i < r.manifest_bytes.size(); ++i) {
    Bytes bad = r.manifest_bytes;
    bad[i] ^= static_cast<uint8_t>(1u << (i % 8));
    Device::Outcome o = dev_.update(bad, r.stream.bytes);
    ASSERT_TRUE(o.status == kStatusManifestMalformed || o.status == kStatusUnknownKey ||
                o.status == kStatusBadSignature)
        << "byte " << i << ": " << status_message(o.status);
    ASSERT_EQ(o.flash.writes, 0);
  }
  matrix_["flip one bit in every manifest byte (" + std::to_string(r.manifest_bytes.size()) +
          " cases)"] = "each: malformed, unknown key or bad signature";
  Bytes sig_flip = r.manifest_bytes;
  sig_flip[sig_flip.size() - 10] ^= 0x01;
  expect_refused(dev_.update(sig_flip, r.stream.bytes), kStatusBadSignature,
                 "flip a bit in the signature");
  Bytes key_flip = r.manifest_bytes;
  key_flip[6] ^= 0x01;
  expect_refused(dev_.update(key_flip, r.stream.bytes), kStatusUnknownKey,
                 "flip a bit in the key id");
  Bytes counter_flip = r.manifest_bytes;
  counter_flip[14] ^= 0x01;
  expect_refused(dev_.update(counter_flip, r.stream.bytes), kStatusBadSignature,
                 "flip a bit in the security counter");
  Bytes trailing = r.manifest_bytes;
  trailing.push_back(0);
  expect_refused(dev_.update(trailing, r.stream.bytes), kStatusManifestMalformed,
                 "append a byte to the manifest");
}

TEST_P(Envelope, TamperedRecordsAreRefused) {
  Release r = make_release();
  ASSERT_GE(r.stream.record_count, 3u);
  const size_t rec = 29 + 4096 + 32;  // bytes of a full record
  struct Case {
    const char* attack;
    size_t offset;
    Status expected;
  } cases[] = {
      {"flip a bit in record 0's nonce", 3, kStatusRecordOutOfOrder},
      {"flip a bit in record 0's tag", 20, kStatusRecordChainBroken},
      {"flip a bit in record 0's ciphertext", 500, kStatusRecordChainBroken},
      {"flip a bit in record 1's nonce (index)", rec + 11, kStatusRecordOutOfOrder},
      {"flip a bit in record 1's tag", rec + 14, kStatusRecordChainBroken},
      {"flip a bit in record 1's ciphertext", rec + 2000, kStatusRecordChainBroken},
      {"flip a bit in the last record's ciphertext", r.stream.bytes.size() - 1,
       kStatusRecordChainBroken},
  };
  for (const Case& c : cases) {
    Bytes bad = r.stream.bytes;
    bad[c.offset] ^= 0x04;
    expect_refused(dev_.update(r.manifest_bytes, bad), c.expected, c.attack, c.offset < rec);
  }
}

TEST_P(Envelope, DroppedDuplicatedReorderedOrTruncatedRecordsAreRefused) {
  Release r = make_release();
  const size_t rec = 29 + 4096 + 32;
  const Bytes& s = r.stream.bytes;
  auto record = [&](size_t i) { return Bytes(s.begin() + i * rec, s.begin() + (i + 1) * rec); };
  auto tail = [&](size_t i) { return Bytes(s.begin() + i * rec, s.end()); };
  Bytes dropped = record(0);
  Bytes t = tail(2);
  dropped.insert(dropped.end(), t.begin(), t.end());
  expect_refused(dev_.update(r.manifest_bytes, dropped), kStatusRecordOutOfOrder,
                 "drop record 1", false);
  Bytes duplicated = record(0);
  t = tail(0);
  duplicated.insert(duplicated.end(), t.begin(), t.end());
  expect_refused(dev_.update(r.manifest_bytes, duplicated), kStatusRecordOutOfOrder,
                 "duplicate record 0", false);
  Bytes reordered = record(1);
  t = record(0);
  reordered.insert(reordered.end(), t.begin(), t.end());
  expect_refused(dev_.update(r.manifest_bytes, reordered), kStatusRecordOutOfOrder,
                 "swap records 0 and 1");
  Bytes truncated(s.begin(), s.end() - 1);
  expect_refused(dev_.update(r.manifest_bytes, truncated), kStatusTruncated,
                 "truncate the stream by one byte", false);
  Bytes cut(s.begin(), s.begin() + rec * 2);
  expect_refused(dev_.update(r.manifest_bytes, cut), kStatusTruncated,
                 "cut the stream at a record boundary", false);
  Bytes extra = s;
  extra.push_back(0);
  expect_refused(dev_.update(r.manifest_bytes, extra), kStatusTrailingData,
                 "append a byte to the stream", false);
}

TEST_P(Envelope, KeysAndSignersAreChecked) {
  Release r = make_release();
  Device other = dev_;
  other.device_key[0] ^= 1;
  expect_refused(other.update(r.manifest_bytes, r.stream.bytes), kStatusKeyUnwrapFailed,
                 "wrong device key (wrapped content key)");
  Release legacy = make_release(kEncryptionDeviceKey);
  expect_refused(other.update(legacy.manifest_bytes, legacy.stream.bytes), kStatusRecordAuthFailed,
                 "wrong device key (original path)");

  server::SigningKey stranger = server::SigningKey::generate();
  Release foreign = make_release(kEncryptionWrappedKey, {}, &stranger);
  expect_refused(dev_.update(foreign.manifest_bytes, foreign.stream.bytes), kStatusUnknownKey,
                 "manifest signed by another key");
  // The same, but claiming the trusted key's id.
  Bytes forged = foreign.manifest_bytes;
  auto id = signer_.key_id();
  std::copy(id.begin(), id.end(), forged.begin() + 6);
  expect_refused(dev_.update(forged, foreign.stream.bytes), kStatusBadSignature,
                 "another key's signature under the trusted key id");
  // After rotation the device trusts both keys.
  trust(1, stranger);
  EXPECT_EQ(dev_.update(foreign.manifest_bytes, foreign.stream.bytes).status, kStatusDone);
}

TEST_P(Envelope, ReplaysDowngradesAndWrongTargetsAreRefused) {
  Release old_release = make_release(kEncryptionWrappedKey, [](Manifest& m) { m.security_counter = 4; });
  expect_refused(dev_.update(old_release.manifest_bytes, old_release.stream.bytes), kStatusDowngrade,
                 "older release (counter 4 < 5), fresh nonce");
  Release r = make_release();
  // The device moves on to its next check-in with a new nonce.
  Device later = dev_;
  later.identity.nonce[0] ^= 0xFF;
  expect_refused(later.update(r.manifest_bytes, r.stream.bytes), kStatusStaleManifest,
                 "replay of a valid manifest (stale nonce)");
  Release other_dev = make_release(kEncryptionWrappedKey,
                                   [](Manifest& m) { server::set_text(m.device_id, "dev-0002"); });
  expect_refused(dev_.update(other_dev.manifest_bytes, other_dev.stream.bytes), kStatusWrongDevice,
                 "manifest for another device");
  Release other_product = make_release(kEncryptionWrappedKey,
                                       [](Manifest& m) { server::set_text(m.product, "awtrix"); });
  expect_refused(dev_.update(other_product.manifest_bytes, other_product.stream.bytes),
                 kStatusWrongProduct, "manifest for another product");
  Release other_chip = make_release(kEncryptionWrappedKey, [](Manifest& m) { m.chip_id = 5; });
  expect_refused(dev_.update(other_chip.manifest_bytes, other_chip.stream.bytes), kStatusWrongProduct,
                 "manifest for another chip (ESP32-C3)");
  Release other_base = make_release(kEncryptionWrappedKey, [](Manifest& m) { m.from_sha256[0] ^= 1; });
  expect_refused(dev_.update(other_base.manifest_bytes, other_base.stream.bytes),
                 kStatusOldHashMismatch, "manifest for another base image");
  Release too_big = make_release(kEncryptionWrappedKey, [](Manifest& m) { m.payload_ram = 40000; });
  expect_refused(dev_.update(too_big.manifest_bytes, too_big.stream.bytes), kStatusUnsupportedPayload,
                 "payload needs more RAM than the device has");
  Device small = dev_;
  small.identity.record_budget = 4000;
  expect_refused(small.update(r.manifest_bytes, r.stream.bytes), kStatusUnsupportedPayload,
                 "record larger than the device's record buffer");
  Release mismatch = make_release(kEncryptionWrappedKey, [](Manifest& m) { m.to_sha256[5] ^= 1; });
  expect_refused(dev_.update(mismatch.manifest_bytes, mismatch.stream.bytes), kStatusPayloadMismatch,
                 "patch whose header disagrees with the manifest");
}

TEST_P(Envelope, KeyRotationThroughAKeyManifest) {
  server::SigningKey next = server::SigningKey::generate();
  Manifest km{};
  km.kind = kManifestKey;
  km.security_counter = 6;
  std::copy(dev_.identity.nonce, dev_.identity.nonce + 16, km.device_nonce);
  auto point = next.public_point();
  std::copy(point.begin(), point.end(), km.new_public_key);
  auto retire = signer_.key_id();
  std::copy(retire.begin(), retire.end(), km.retire_key_id);
  Bytes signed_by_current = server::sign_manifest(km, signer_);
  Bytes signed_by_next = server::sign_manifest(km, next);

  Manifest m;
  // Only a currently trusted key may introduce a new one.
  EXPECT_EQ(key_manifest_verify(&port_, &dev_.identity, signed_by_next.data(), signed_by_next.size(), &m),
            kStatusUnknownKey);
  ASSERT_EQ(key_manifest_verify(&port_, &dev_.identity, signed_by_current.data(),
                                signed_by_current.size(), &m),
            kStatusOk);
  // An update manifest is not a key manifest, and the reverse.
  Release r = make_release();
  EXPECT_EQ(key_manifest_verify(&port_, &dev_.identity, r.manifest_bytes.data(), r.manifest_bytes.size(), &m),
            kStatusManifestMalformed);
  EXPECT_EQ(manifest_verify(&port_, &dev_.identity, signed_by_current.data(), signed_by_current.size(), &m),
            kStatusManifestMalformed);

  // The device applies it: trust the new key in the free slot, retire the old.
  ASSERT_EQ(key_manifest_verify(&port_, &dev_.identity, signed_by_current.data(),
                                signed_by_current.size(), &m),
            kStatusOk);
  uint8_t id[kKeyIdSize];
  ASSERT_EQ(key_id_of(&port_, m.new_public_key, id), kStatusOk);
  EXPECT_EQ(0, std::memcmp(id, next.key_id().data(), kKeyIdSize));
  trust(1, next);
  dev_.identity.keys[0].in_use = 0;
  Release after = make_release(kEncryptionWrappedKey, {}, &next);
  EXPECT_EQ(dev_.update(after.manifest_bytes, after.stream.bytes).status, kStatusDone);
  expect_refused(dev_.update(r.manifest_bytes, r.stream.bytes), kStatusUnknownKey,
                 "manifest signed by a retired key");
  // A replayed key manifest (old nonce) is refused like any other.
  trust(0, signer_);
  Device later = dev_;
  later.identity.nonce[3] ^= 1;
  EXPECT_EQ(key_manifest_verify(&port_, &later.identity, signed_by_current.data(),
                                signed_by_current.size(), &m),
            kStatusStaleManifest);
}

// Every SHA-256 the envelope code begins is finished, on failure paths too
// (a port may hold the ESP32's SHA engine from begin to finish).
TEST_P(Envelope, EveryBegunHashIsFinished) {
  struct Counting {
    CryptoPort inner;
    int begins = 0, finishes = 0;
  } counting{port_};
  CryptoPort wrapped = port_;
  wrapped.ctx = &counting;
  wrapped.sha256_begin = [](void* c, Sha256State* s) {
    auto* x = static_cast<Counting*>(c);
    ++x->begins;
    return x->inner.sha256_begin(x->inner.ctx, s);
  };
  wrapped.sha256_update = [](void* c, Sha256State* s, const uint8_t* d, size_t n) {
    auto* x = static_cast<Counting*>(c);
    return x->inner.sha256_update(x->inner.ctx, s, d, n);
  };
  wrapped.sha256_finish = [](void* c, Sha256State* s, uint8_t out[32]) {
    auto* x = static_cast<Counting*>(c);
    ++x->finishes;
    return x->inner.sha256_finish(x->inner.ctx, s, out);
  };
  wrapped.ecdsa_p256_verify = [](void* c, const uint8_t p[65], const uint8_t d[32], const uint8_t* sig,
                                 size_t n) {
    auto* x = static_cast<Counting*>(c);
    return x->inner.ecdsa_p256_verify(x->inner.ctx, p, d, sig, n);
  };
  wrapped.aes256_ccm_decrypt = [](void* c, const uint8_t k[32], const uint8_t nonce[13], const uint8_t* in,
                                  size_t len, const uint8_t tag[16], uint8_t* out) {
    auto* x = static_cast<Counting*>(c);
    return x->inner.aes256_ccm_decrypt(x->inner.ctx, k, nonce, in, len, tag, out);
  };
  dev_.crypto = &wrapped;
  Release r = make_release();
  const size_t rec = 29 + 4096 + 32;
  Bytes flipped = r.stream.bytes;
  flipped[rec + 100] ^= 1;
  Bytes cut(r.stream.bytes.begin(), r.stream.bytes.begin() + rec + 10);
  Bytes extra = r.stream.bytes;
  extra.push_back(0);
  for (const Bytes* stream : {&r.stream.bytes, &flipped, &cut, &extra}) {
    counting.begins = counting.finishes = 0;
    dev_.update(r.manifest_bytes, *stream);
    EXPECT_GT(counting.begins, 2);
    EXPECT_EQ(counting.begins, counting.finishes);
  }
}

INSTANTIATE_TEST_SUITE_P(Ports, Envelope, ::testing::Values("openssl", "mbedtls"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace ota
