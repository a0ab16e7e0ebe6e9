// The device crypto port on mbedTLS, checked against OpenSSL both ways:
// signatures made by one verify with the other, CCM records encrypted by one
// decrypt with the other, and both ports refuse the same malformed input.
// SHA-256 tests run against both CryptoPort implementations.
#include "crypto_mbedtls.h"

#include <gtest/gtest.h>
#include <mbedtls/ccm.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/version.h>

#include <cstring>
#include <ostream>
#include <set>
#include <stdexcept>

#include "crypto_test_util.h"
#include "ota/server/crypto.h"

namespace ota {
namespace {

using namespace ota::crypto_test;
using server::CcmSealed;
using server::Digest;
using server::PublicPoint;
using server::SigningKey;

// ---------------------------------------------------------------------------
// mbedTLS helpers for the other direction (test-only; host mbedTLS 2.28,
// with the 3.x signatures where they differ).

class MbedtlsSigner {
 public:
  explicit MbedtlsSigner(const std::string& private_pem) {
    mbedtls_pk_init(&pk_);
    mbedtls_entropy_init(&entropy_);
    mbedtls_ctr_drbg_init(&drbg_);
    static const char kPers[] = "ota-crypto-test";
    if (mbedtls_ctr_drbg_seed(&drbg_, mbedtls_entropy_func, &entropy_,
                              reinterpret_cast<const unsigned char*>(kPers), sizeof kPers) != 0) {
      throw std::runtime_error("mbedtls_ctr_drbg_seed failed");
    }
    // PEM input: the length includes the terminating NUL (pk.h).
    const auto* text = reinterpret_cast<const unsigned char*>(private_pem.c_str());
#if MBEDTLS_VERSION_MAJOR >= 3
    int rc = mbedtls_pk_parse_key(&pk_, text, private_pem.size() + 1, nullptr, 0,
                                  mbedtls_ctr_drbg_random, &drbg_);
#else
    int rc = mbedtls_pk_parse_key(&pk_, text, private_pem.size() + 1, nullptr, 0);
#endif
    if (rc != 0 || mbedtls_pk_get_type(&pk_) != MBEDTLS_PK_ECKEY) {
      throw std::runtime_error("mbedtls_pk_parse_key failed: " + std::to_string(rc));
    }
  }
  ~MbedtlsSigner() {
    mbedtls_pk_free(&pk_);
    mbedtls_ctr_drbg_free(&drbg_);
    mbedtls_entropy_free(&entropy_);
  }
  MbedtlsSigner(const MbedtlsSigner&) = delete;
  MbedtlsSigner& operator=(const MbedtlsSigner&) = delete;

  Bytes sign(const Digest& d) {
    unsigned char sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t len = 0;
#if MBEDTLS_VERSION_MAJOR >= 3
    int rc = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(pk_), MBEDTLS_MD_SHA256, d.data(),
                                           d.size(), sig, sizeof sig, &len,
                                           mbedtls_ctr_drbg_random, &drbg_);
#else
    int rc = mbedtls_ecdsa_write_signature(mbedtls_pk_ec(pk_), MBEDTLS_MD_SHA256, d.data(),
                                           d.size(), sig, &len, mbedtls_ctr_drbg_random, &drbg_);
#endif
    if (rc != 0) throw std::runtime_error("mbedtls_ecdsa_write_signature: " + std::to_string(rc));
    return Bytes(sig, sig + len);
  }

 private:
  mbedtls_pk_context pk_;
  mbedtls_entropy_context entropy_;
  mbedtls_ctr_drbg_context drbg_;
};

CcmSealed mbedtls_ccm_encrypt(const uint8_t* key, const uint8_t* nonce, const Bytes& pt) {
  CcmSealed out{};
  out.ciphertext.resize(pt.size());
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  int rc = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 256);
  if (rc == 0) {
    rc = mbedtls_ccm_encrypt_and_tag(&ccm, pt.size(), nonce, 13, nullptr, 0, pt.data(),
                                     out.ciphertext.data(), out.tag.data(), 16);
  }
  mbedtls_ccm_free(&ccm);
  if (rc != 0) throw std::runtime_error("mbedtls_ccm_encrypt_and_tag: " + std::to_string(rc));
  return out;
}

Digest digest_of(const Bytes& b) { return server::sha256(b); }

struct Ports {
  CryptoPort mbedtls = mbedtls_crypto_port();
  CryptoPort openssl = server::openssl_crypto_port();
};

int verify(const CryptoPort& p, const PublicPoint& pub, const Digest& d, const Bytes& sig) {
  return p.ecdsa_p256_verify(p.ctx, pub.data(), d.data(), sig.empty() ? nullptr : sig.data(),
                             sig.size());
}

// Both ports and SigningKey::verify_digest agree that `sig` is invalid.
void expect_refused_everywhere(const SigningKey& key, const Digest& d, const Bytes& sig,
                               const std::string& what) {
  Ports ports;
  PublicPoint pub = key.public_point();
  EXPECT_NE(verify(ports.mbedtls, pub, d, sig), 0) << "mbedTLS accepted " << what;
  EXPECT_NE(verify(ports.openssl, pub, d, sig), 0) << "OpenSSL port accepted " << what;
  EXPECT_FALSE(key.verify_digest(d, sig)) << "verify_digest accepted " << what;
}

// r and s of a DER signature as unsigned big-endian bytes (test inputs are
// the well-formed signatures the libraries make).
void split_der(const Bytes& sig, Bytes* r, Bytes* s) {
  size_t rl = sig[3];
  *r = Bytes(sig.begin() + 4, sig.begin() + 4 + static_cast<long>(rl));
  size_t sl = sig[5 + rl];
  *s = Bytes(sig.begin() + 6 + static_cast<long>(rl),
             sig.begin() + 6 + static_cast<long>(rl + sl));
}

Bytes der_integer(Bytes v) {
  while (v.size() > 1 && v[0] == 0 && !(v[1] & 0x80)) v.erase(v.begin());
  if (v[0] & 0x80) v.insert(v.begin(), 0);
  Bytes out = {0x02, static_cast<uint8_t>(v.size())};
  out.insert(out.end(), v.begin(), v.end());
  return out;
}

Bytes der_sequence(const Bytes& body) {
  Bytes out = {0x30, static_cast<uint8_t>(body.size())};
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---------------------------------------------------------------------------
// ECDSA across libraries

TEST(CryptoCrossEcdsa, OpensslSignaturesVerifyWithBothPorts) {
  Ports ports;
  SigningKey key = SigningKey::generate();
  PublicPoint pub = key.public_point();
  std::set<size_t> lengths;
  for (uint32_t i = 0; i < 200; ++i) {
    Digest d = digest_of(pattern(64, i));
    Bytes sig = key.sign_digest(d);
    lengths.insert(sig.size());
    EXPECT_EQ(verify(ports.mbedtls, pub, d, sig), 0) << i;
    EXPECT_EQ(verify(ports.openssl, pub, d, sig), 0) << i;
    EXPECT_TRUE(key.verify_digest(d, sig));
  }
  // 72 when r and s both have the top bit set, 71 when one has, 70 when
  // neither; shorter ones (a leading zero byte) are rare.
  EXPECT_TRUE(lengths.count(70) && lengths.count(71) && lengths.count(72))
      << "lengths seen: " << lengths.size();
  for (size_t n : lengths) {
    EXPECT_GE(n, 8u);
    EXPECT_LE(n, 72u);
  }
}

TEST(CryptoCrossEcdsa, MbedtlsSignaturesVerifyWithOpenssl) {
  Ports ports;
  SigningKey key = SigningKey::generate();
  MbedtlsSigner signer(key.private_pem());
  PublicPoint pub = key.public_point();
  for (uint32_t i = 0; i < 40; ++i) {
    Digest d = digest_of(pattern(100, 500 + i));
    Bytes sig = signer.sign(d);
    EXPECT_GE(sig.size(), 8u);
    EXPECT_LE(sig.size(), 72u);
    EXPECT_TRUE(key.verify_digest(d, sig)) << i;
    EXPECT_EQ(verify(ports.openssl, pub, d, sig), 0) << i;
    EXPECT_EQ(verify(ports.mbedtls, pub, d, sig), 0) << i;
  }
}

TEST(CryptoCrossEcdsa, MbedtlsSignsWithKeyFromOpensslCli) {
  if (!run("openssl version >/dev/null 2>&1"))
    GTEST_FAIL() << "the openssl command is not installed (Debian openssl; make deps)";
  TempDir dir("crypto-cross-cli");
  ASSERT_TRUE(run("openssl ecparam -name secp256r1 -genkey -noout -out " +
                  quote(dir / "k.pem") + " 2>/dev/null"));
  std::string pem = slurp(dir / "k.pem");
  SigningKey key = SigningKey::from_private_pem(pem);
  MbedtlsSigner signer(pem);
  Digest d = digest_of(pattern(10, 1));
  EXPECT_TRUE(key.verify_digest(d, signer.sign(d)));
}

TEST(CryptoCrossEcdsa, ShortSignaturesVerify) {
  // About one signature in 128 has r or s below 2^248 and so a DER length
  // under 70. Find one and check that both ports accept it.
  Ports ports;
  SigningKey key = SigningKey::generate();
  PublicPoint pub = key.public_point();
  Bytes sig;
  Digest d{};
  for (uint32_t i = 0; i < 20000 && (sig.empty() || sig.size() >= 70); ++i) {
    d = digest_of(pattern(16, 90000 + i));
    sig = key.sign_digest(d);
  }
  ASSERT_LT(sig.size(), 70u);
  EXPECT_EQ(verify(ports.mbedtls, pub, d, sig), 0);
  EXPECT_EQ(verify(ports.openssl, pub, d, sig), 0);
  EXPECT_TRUE(key.verify_digest(d, sig));
}

TEST(CryptoCrossEcdsa, FlippedBitsFailOnBothPorts) {
  Ports ports;
  SigningKey key = SigningKey::generate();
  PublicPoint pub = key.public_point();
  Digest d = digest_of(pattern(32, 42));
  Bytes sig = key.sign_digest(d);
  ASSERT_EQ(verify(ports.mbedtls, pub, d, sig), 0);
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    Bytes bad = sig;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(verify(ports.mbedtls, pub, d, bad), 0) << "signature bit " << bit;
    EXPECT_NE(verify(ports.openssl, pub, d, bad), 0) << "signature bit " << bit;
  }
  for (size_t bit = 0; bit < 256; ++bit) {
    Digest bad = d;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(verify(ports.mbedtls, pub, bad, sig), 0) << "digest bit " << bit;
    EXPECT_NE(verify(ports.openssl, pub, bad, sig), 0) << "digest bit " << bit;
  }
  for (size_t bit = 0; bit < 65 * 8; ++bit) {
    PublicPoint bad = pub;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_NE(verify(ports.mbedtls, bad, d, sig), 0) << "public key bit " << bit;
    EXPECT_NE(verify(ports.openssl, bad, d, sig), 0) << "public key bit " << bit;
  }
}

TEST(CryptoCrossEcdsa, NonCanonicalDerRefusedByBoth) {
  SigningKey key = SigningKey::generate();
  Digest d = digest_of(pattern(8, 3));
  Bytes sig = key.sign_digest(d);
  Bytes r, s;
  split_der(sig, &r, &s);
  // Our re-encoding is the canonical one, and it verifies.
  Bytes canonical = der_sequence(concat(der_integer(r), der_integer(s)));
  ASSERT_EQ(canonical, sig);

  auto padded = [](const Bytes& v) {  // one needless leading zero
    Bytes x = v;
    x.insert(x.begin(), 0);
    Bytes out = {0x02, static_cast<uint8_t>(x.size())};
    return concat(out, x);
  };
  expect_refused_everywhere(key, d, der_sequence(concat(padded(r), der_integer(s))),
                            "r with a needless leading zero");
  expect_refused_everywhere(key, d, der_sequence(concat(der_integer(r), padded(s))),
                            "s with a needless leading zero");
  Bytes body = concat(der_integer(r), der_integer(s));
  Bytes long_form = {0x30, 0x81, static_cast<uint8_t>(body.size())};
  expect_refused_everywhere(key, d, concat(long_form, body), "long-form sequence length");
  expect_refused_everywhere(key, d, concat(sig, {0x00}), "a trailing byte");
  Bytes wrong_tag = sig;
  wrong_tag[0] = 0x31;
  expect_refused_everywhere(key, d, wrong_tag, "SET instead of SEQUENCE");
  Bytes bitstring = sig;
  bitstring[2] = 0x03;
  expect_refused_everywhere(key, d, bitstring, "BIT STRING instead of INTEGER");
  Bytes short_len = sig;
  short_len[1] = static_cast<uint8_t>(short_len[1] - 1);
  expect_refused_everywhere(key, d, short_len, "sequence length one short");
  // r, s as negative numbers (the sign byte dropped), when the top bit is set.
  if (r[0] == 0x00) {
    Bytes neg = {0x02, static_cast<uint8_t>(r.size() - 1)};
    neg.insert(neg.end(), r.begin() + 1, r.end());
    expect_refused_everywhere(key, d, der_sequence(concat(neg, der_integer(s))), "negative r");
  }
}

TEST(CryptoCrossEcdsa, OutOfRangeScalarsRefusedByBoth) {
  SigningKey key = SigningKey::generate();
  Digest d = digest_of(pattern(8, 4));
  Bytes r, s;
  split_der(key.sign_digest(d), &r, &s);
  Bytes zero = {0x00};
  Bytes n = unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  Bytes big(32, 0xff);
  expect_refused_everywhere(key, d, der_sequence(concat(der_integer(zero), der_integer(s))),
                            "r = 0");
  expect_refused_everywhere(key, d, der_sequence(concat(der_integer(r), der_integer(zero))),
                            "s = 0");
  expect_refused_everywhere(key, d, der_sequence(concat(der_integer(n), der_integer(s))),
                            "r = n");
  expect_refused_everywhere(key, d, der_sequence(concat(der_integer(r), der_integer(big))),
                            "s = 2^256 - 1");
  // The smallest well-formed encoding (8 bytes) is parsed and refused.
  expect_refused_everywhere(key, d, {0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01},
                            "r = s = 1");
}

TEST(CryptoCrossEcdsa, RawAndMisSizedSignaturesRefused) {
  SigningKey key = SigningKey::generate();
  Digest d = digest_of(pattern(8, 5));
  Bytes sig = key.sign_digest(d);
  Bytes r, s;
  split_der(sig, &r, &s);
  auto fixed32 = [](Bytes v) {
    while (v.size() > 32) v.erase(v.begin());
    while (v.size() < 32) v.insert(v.begin(), 0);
    return v;
  };
  expect_refused_everywhere(key, d, concat(fixed32(r), fixed32(s)), "raw r||s (64 bytes)");
  expect_refused_everywhere(key, d, {}, "an empty signature");
  expect_refused_everywhere(key, d, Bytes(sig.begin(), sig.begin() + 7), "7 bytes");
  Bytes long73 = sig;
  long73.resize(73, 0);
  expect_refused_everywhere(key, d, long73, "73 bytes");
  Ports ports;
  PublicPoint pub = key.public_point();
  EXPECT_NE(ports.mbedtls.ecdsa_p256_verify(nullptr, pub.data(), d.data(), nullptr, 70), 0);
}

TEST(CryptoCrossEcdsa, PointsOffTheCurveRefusedWithoutCrash) {
  Ports ports;
  SigningKey key = SigningKey::generate();
  Digest d = digest_of(pattern(8, 6));
  Bytes sig = key.sign_digest(d);
  PublicPoint good = key.public_point();

  std::vector<std::pair<std::string, PublicPoint>> bad;
  PublicPoint y_changed = good;
  y_changed[64] ^= 1;
  bad.push_back({"Y changed", y_changed});
  PublicPoint zeros{};
  zeros[0] = 0x04;
  bad.push_back({"all-zero coordinates", zeros});
  PublicPoint x_is_p{};
  x_is_p[0] = 0x04;
  Bytes p = unhex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
  std::memcpy(x_is_p.data() + 1, p.data(), 32);
  std::memcpy(x_is_p.data() + 33, good.data() + 33, 32);
  bad.push_back({"X = p", x_is_p});
  PublicPoint ones;
  ones.fill(0xff);
  ones[0] = 0x04;
  bad.push_back({"all-ones coordinates", ones});
  for (uint8_t prefix : {0x00, 0x02, 0x03, 0x05, 0x06, 0x07}) {
    PublicPoint q = good;
    q[0] = prefix;
    bad.push_back({"prefix " + std::to_string(prefix), q});
  }
  for (const auto& [what, q] : bad) {
    EXPECT_NE(verify(ports.mbedtls, q, d, sig), 0) << what;
    EXPECT_NE(verify(ports.openssl, q, d, sig), 0) << what;
    EXPECT_THROW(SigningKey::from_public_point(q), std::runtime_error) << what;
  }
  EXPECT_EQ(verify(ports.mbedtls, good, d, sig), 0);
}

// ---------------------------------------------------------------------------
// AES-256-CCM across libraries

const size_t kCcmSizes[] = {0, 1, 15, 16, 17, 4096, 4128, 65535};

int port_decrypt(const CryptoPort& p, const uint8_t* key, const uint8_t* nonce, const Bytes& in,
                 const std::array<uint8_t, 16>& tag, uint8_t* out) {
  return p.aes256_ccm_decrypt(p.ctx, key, nonce, in.empty() ? nullptr : in.data(), in.size(),
                              tag.data(), out);
}

TEST(CryptoCrossCcm, OpensslAndMbedtlsAgreeBothWays) {
  Ports ports;
  for (size_t size : kCcmSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes key = pattern(32, 10 + static_cast<uint32_t>(size));
    Bytes nonce = pattern(13, 20 + static_cast<uint32_t>(size));
    Bytes pt = pattern(size, 30 + static_cast<uint32_t>(size));
    std::span<const uint8_t, 32> k(key.data(), 32);
    std::span<const uint8_t, 13> n(nonce.data(), 13);

    CcmSealed by_openssl = server::aes256_ccm_encrypt(k, n, pt);
    CcmSealed by_mbedtls = mbedtls_ccm_encrypt(key.data(), nonce.data(), pt);
    EXPECT_EQ(by_openssl.ciphertext, by_mbedtls.ciphertext);
    EXPECT_EQ(by_openssl.tag, by_mbedtls.tag);

    // OpenSSL -> mbedTLS port, into a separate buffer and in place.
    Bytes out(size + 1, 0xAA);
    ASSERT_EQ(port_decrypt(ports.mbedtls, key.data(), nonce.data(), by_openssl.ciphertext,
                           by_openssl.tag, out.data()),
              0);
    EXPECT_TRUE(std::equal(pt.begin(), pt.end(), out.begin()));
    EXPECT_EQ(out[size], 0xAA);  // nothing written past len
    Bytes in_place = by_openssl.ciphertext;
    ASSERT_EQ(port_decrypt(ports.mbedtls, key.data(), nonce.data(), in_place, by_openssl.tag,
                           in_place.data()),
              0);
    EXPECT_EQ(in_place, pt);

    // mbedTLS -> OpenSSL (server function and port).
    auto back = server::aes256_ccm_decrypt(k, n, by_mbedtls.ciphertext, by_mbedtls.tag);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, pt);
    Bytes out2(size + 1, 0xAA);
    ASSERT_EQ(port_decrypt(ports.openssl, key.data(), nonce.data(), by_mbedtls.ciphertext,
                           by_mbedtls.tag, out2.data()),
              0);
    EXPECT_TRUE(std::equal(pt.begin(), pt.end(), out2.begin()));
    Bytes in_place2 = by_mbedtls.ciphertext;
    ASSERT_EQ(port_decrypt(ports.openssl, key.data(), nonce.data(), in_place2, by_mbedtls.tag,
                           in_place2.data()),
              0);
    EXPECT_EQ(in_place2, pt);
  }
}

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

// Decrypting a tampered record fails on both ports and leaves `out` zeroed,
// in a separate buffer and in place.
void expect_tamper_refused(const Bytes& key, const Bytes& nonce, const Bytes& ct,
                           const std::array<uint8_t, 16>& tag, const std::string& what) {
  Ports ports;
  std::span<const uint8_t, 32> k(key.data(), 32);
  std::span<const uint8_t, 13> n(nonce.data(), 13);
  EXPECT_FALSE(server::aes256_ccm_decrypt(k, n, ct, tag).has_value()) << what;
  for (const CryptoPort* port : {&ports.mbedtls, &ports.openssl}) {
    const char* name = port == &ports.mbedtls ? "mbedTLS" : "OpenSSL";
    Bytes out(ct.size() + 1, 0xAA);
    EXPECT_NE(port_decrypt(*port, key.data(), nonce.data(), ct, tag, out.data()), 0)
        << name << ": " << what;
    EXPECT_TRUE(all_zero(out.data(), ct.size())) << name << " left plaintext: " << what;
    EXPECT_EQ(out[ct.size()], 0xAA) << name << ": " << what;
    Bytes in_place = ct;
    EXPECT_NE(port_decrypt(*port, key.data(), nonce.data(), in_place, tag, in_place.data()), 0)
        << name << ": " << what;
    EXPECT_TRUE(all_zero(in_place.data(), in_place.size())) << name << " in place: " << what;
  }
}

TEST(CryptoCrossCcm, TamperedRecordsFailAndOutputIsWiped) {
  for (size_t size : kCcmSizes) {
    SCOPED_TRACE("size " + std::to_string(size));
    Bytes key = pattern(32, 1);
    Bytes nonce = pattern(13, 2);
    Bytes pt = pattern(size, 3);
    CcmSealed s = server::aes256_ccm_encrypt(std::span<const uint8_t, 32>(key.data(), 32),
                                             std::span<const uint8_t, 13>(nonce.data(), 13), pt);
    for (size_t bit : {size_t{0}, size_t{63}, size_t{127}}) {
      auto tag = s.tag;
      tag[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
      expect_tamper_refused(key, nonce, s.ciphertext, tag, "tag bit " + std::to_string(bit));
    }
    if (size > 0) {
      for (size_t pos : {size_t{0}, size / 2, size - 1}) {
        Bytes ct = s.ciphertext;
        ct[pos] ^= 0x01;
        expect_tamper_refused(key, nonce, ct, s.tag, "ciphertext byte " + std::to_string(pos));
      }
      Bytes shorter(s.ciphertext.begin(), s.ciphertext.end() - 1);
      expect_tamper_refused(key, nonce, shorter, s.tag, "truncated ciphertext");
    }
    if (size < 65535) {
      Bytes longer = s.ciphertext;
      longer.push_back(0);
      expect_tamper_refused(key, nonce, longer, s.tag, "extended ciphertext");
    }
    for (size_t pos : {size_t{0}, size_t{8}, size_t{12}}) {
      Bytes bad_nonce = nonce;
      bad_nonce[pos] ^= 0x01;
      expect_tamper_refused(key, bad_nonce, s.ciphertext, s.tag,
                            "nonce byte " + std::to_string(pos));
    }
    Bytes bad_key = key;
    bad_key[31] ^= 0x80;
    expect_tamper_refused(bad_key, nonce, s.ciphertext, s.tag, "another key");
  }
}

TEST(CryptoCrossCcm, PortsRefuseMoreThan65535Bytes) {
  Ports ports;
  Bytes key = pattern(32, 1), nonce = pattern(13, 2);
  Bytes big(65536, 0x55);
  std::array<uint8_t, 16> tag{};
  for (const CryptoPort* port : {&ports.mbedtls, &ports.openssl}) {
    Bytes out(big.size(), 0xAA);
    EXPECT_NE(port_decrypt(*port, key.data(), nonce.data(), big, tag, out.data()), 0);
    EXPECT_TRUE(all_zero(out.data(), out.size()));
  }
}

// ---------------------------------------------------------------------------
// SHA-256 through both ports

struct PortCase {
  const char* name;
  CryptoPort (*make)();
};

void PrintTo(const PortCase& c, std::ostream* os) { *os << c.name; }

class CryptoSha256Port : public ::testing::TestWithParam<PortCase> {
 protected:
  CryptoPort port = GetParam().make();

  std::string digest_hex(const Bytes& data) {
    Sha256State s;
    uint8_t out[32];
    EXPECT_EQ(port.sha256_begin(port.ctx, &s), 0);
    EXPECT_EQ(port.sha256_update(port.ctx, &s, data.data(), data.size()), 0);
    EXPECT_EQ(port.sha256_finish(port.ctx, &s, out), 0);
    return hex(Bytes(out, out + 32));
  }
};

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

TEST_P(CryptoSha256Port, KnownAnswers) {
  // FIPS 180-2 examples.
  EXPECT_EQ(digest_hex(text("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(digest_hex({}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(digest_hex(text("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(digest_hex(Bytes(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_P(CryptoSha256Port, IncrementalUpdatesMatchOneShot) {
  Bytes data = pattern(10000, 77);
  std::string expected = hex(server::sha256(data));
  std::mt19937 rng(5);
  for (int round = 0; round < 20; ++round) {
    Sha256State s;
    ASSERT_EQ(port.sha256_begin(port.ctx, &s), 0);
    size_t pos = 0;
    while (pos < data.size()) {
      size_t n = round == 0 ? 1 : std::min<size_t>(rng() % 200, data.size() - pos);
      ASSERT_EQ(port.sha256_update(port.ctx, &s, data.data() + pos, n), 0);
      pos += n;
    }
    ASSERT_EQ(port.sha256_update(port.ctx, &s, nullptr, 0), 0);
    uint8_t out[32];
    ASSERT_EQ(port.sha256_finish(port.ctx, &s, out), 0);
    EXPECT_EQ(hex(Bytes(out, out + 32)), expected) << "round " << round;
  }
}

TEST_P(CryptoSha256Port, InterleavedStates) {
  const int kStates = 4;
  Sha256State s[kStates];
  Bytes data[kStates];
  for (int i = 0; i < kStates; ++i) {
    data[i] = pattern(3000 + 977 * static_cast<size_t>(i), 100 + static_cast<uint32_t>(i));
    ASSERT_EQ(port.sha256_begin(port.ctx, &s[i]), 0);
  }
  size_t pos[kStates] = {};
  bool more = true;
  for (size_t step = 1; more; ++step) {
    more = false;
    for (int i = 0; i < kStates; ++i) {
      size_t n = std::min(step * 7 % 101 + static_cast<size_t>(i), data[i].size() - pos[i]);
      ASSERT_EQ(port.sha256_update(port.ctx, &s[i], data[i].data() + pos[i], n), 0);
      pos[i] += n;
      more = more || pos[i] < data[i].size();
    }
  }
  for (int i = 0; i < kStates; ++i) {
    uint8_t out[32];
    ASSERT_EQ(port.sha256_finish(port.ctx, &s[i], out), 0);
    EXPECT_EQ(hex(Bytes(out, out + 32)), hex(server::sha256(data[i]))) << "state " << i;
  }
}

TEST_P(CryptoSha256Port, BeginRestartsAndAbandonedStatesLeakNothing) {
  // A state abandoned mid-way (the core's error paths) must not leak: the
  // LeakSanitizer build checks that. Beginning again restarts it.
  Sha256State s;
  ASSERT_EQ(port.sha256_begin(port.ctx, &s), 0);
  Bytes junk = pattern(500, 1);
  ASSERT_EQ(port.sha256_update(port.ctx, &s, junk.data(), junk.size()), 0);
  ASSERT_EQ(port.sha256_begin(port.ctx, &s), 0);
  Bytes abc = text("abc");
  ASSERT_EQ(port.sha256_update(port.ctx, &s, abc.data(), abc.size()), 0);
  uint8_t out[32];
  ASSERT_EQ(port.sha256_finish(port.ctx, &s, out), 0);
  EXPECT_EQ(hex(Bytes(out, out + 32)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256State abandoned;
  ASSERT_EQ(port.sha256_begin(port.ctx, &abandoned), 0);
  ASSERT_EQ(port.sha256_update(port.ctx, &abandoned, junk.data(), junk.size()), 0);
}

INSTANTIATE_TEST_SUITE_P(CryptoPorts, CryptoSha256Port,
                         ::testing::Values(PortCase{"mbedtls", &mbedtls_crypto_port},
                                           PortCase{"openssl", &server::openssl_crypto_port}),
                         [](const ::testing::TestParamInfo<PortCase>& info) {
                           return std::string(info.param.name);
                         });

}  // namespace
}  // namespace ota
