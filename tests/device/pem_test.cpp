// PEM P-256 public keys and hex on the device: keys made by OpenSSL in the
// test decode to OpenSSL's own encoding of the point and verify a signature
// through the mbedTLS port; line-ending variants pass; other curves, other
// key types, compressed points, garbage and truncations are refused.
#include "ota/pem.h"

// The test reads the point through the EC_KEY API, deprecated in OpenSSL 3
// but still the plainest route to EC_POINT_point2oct.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto_mbedtls.h"
#include "test_support.h"

namespace ota {
namespace {

using Bytes = std::vector<uint8_t>;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey ec_key(const char* curve) {
  Pkey k(EVP_EC_gen(curve));
  if (!k) throw std::runtime_error(std::string("EVP_EC_gen failed for ") + curve);
  return k;
}

std::string public_pem(EVP_PKEY* k) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio || PEM_write_bio_PUBKEY(bio, k) != 1) throw std::runtime_error("PEM_write_bio_PUBKEY failed");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(bio);
  return pem;
}

Pkey read_public_pem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  Pkey k(PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  if (!k) throw std::runtime_error("PEM_read_bio_PUBKEY failed");
  return k;
}

// OpenSSL's uncompressed encoding of the public point.
Bytes openssl_point(EVP_PKEY* k) {
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(k);
  if (!ec) throw std::runtime_error("not an EC key");
  Bytes out(65);
  const size_t n = EC_POINT_point2oct(EC_KEY_get0_group(ec), EC_KEY_get0_public_key(ec),
                                      POINT_CONVERSION_UNCOMPRESSED, out.data(), out.size(), nullptr);
  if (n != 65) throw std::runtime_error("EC_POINT_point2oct failed");
  return out;
}

std::string base64(const Bytes& der) {
  std::string out(4 * ((der.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), der.data(),
                                static_cast<int>(der.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// A PEM of `der` with lines of `width` characters and the given line end.
std::string make_pem(const Bytes& der, size_t width = 64, const std::string& eol = "\n",
                     const char* label = "PUBLIC KEY") {
  const std::string b64 = base64(der);
  std::string pem = std::string("-----BEGIN ") + label + "-----" + eol;
  for (size_t i = 0; i < b64.size(); i += width) pem += b64.substr(i, width) + eol;
  return pem + "-----END " + label + "-----" + eol;
}

Bytes spki_der(EVP_PKEY* k) {
  const int n = i2d_PUBKEY(k, nullptr);
  Bytes der(static_cast<size_t>(n));
  unsigned char* p = der.data();
  i2d_PUBKEY(k, &p);
  return der;
}

Status decode(const std::string& pem, Bytes* point) {
  point->assign(65, 0xA5);
  const Status st = pem_p256_public_key(pem.data(), pem.size(), point->data());
  if (st != kStatusOk) {
    EXPECT_EQ(*point, Bytes(65, 0)) << "output not zeroed on failure";
  }
  return st;
}

TEST(device_util_pem, OpenSslKeysDecodeToTheirPoint) {
  for (int i = 0; i < 8; ++i) {
    Pkey k = ec_key("P-256");
    const std::string pem = public_pem(k.get());
    Bytes point;
    ASSERT_EQ(decode(pem, &point), kStatusOk) << pem;
    EXPECT_EQ(point, openssl_point(k.get()));
    EXPECT_EQ(point[0], 0x04);
  }
}

TEST(device_util_pem, DecodedKeyVerifiesASignatureThroughTheDevicePort) {
  Pkey k = ec_key("P-256");
  Bytes point;
  ASSERT_EQ(decode(public_pem(k.get()), &point), kStatusOk);
  const std::string msg = "manifest bytes";
  uint8_t digest[32];
  unsigned dn = 0;
  ASSERT_EQ(EVP_Digest(msg.data(), msg.size(), digest, &dn, EVP_sha256(), nullptr), 1);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(k.get(), nullptr);
  ASSERT_EQ(EVP_PKEY_sign_init(ctx), 1);
  size_t sig_len = 0;
  ASSERT_EQ(EVP_PKEY_sign(ctx, nullptr, &sig_len, digest, sizeof digest), 1);
  Bytes sig(sig_len);
  ASSERT_EQ(EVP_PKEY_sign(ctx, sig.data(), &sig_len, digest, sizeof digest), 1);
  sig.resize(sig_len);
  EVP_PKEY_CTX_free(ctx);
  const CryptoPort port = mbedtls_crypto_port();
  EXPECT_EQ(port.ecdsa_p256_verify(port.ctx, point.data(), digest, sig.data(), sig.size()), 0);
  digest[0] ^= 1;
  EXPECT_NE(port.ecdsa_p256_verify(port.ctx, point.data(), digest, sig.data(), sig.size()), 0);
}

TEST(device_util_pem, RepositoryTestVector) {
  const auto bytes = test::read_file(test::source_dir() / "tests/vectors/signing_pub.pem");
  const std::string pem(bytes.begin(), bytes.end());
  Bytes point;
  ASSERT_EQ(decode(pem, &point), kStatusOk);
  EXPECT_EQ(point, openssl_point(read_public_pem(pem).get()));
}

TEST(device_util_pem, LineEndingsAndLayout) {
  Pkey k = ec_key("P-256");
  const Bytes der = spki_der(k.get());
  ASSERT_EQ(der.size(), 91u);
  const Bytes expect = openssl_point(k.get());
  const std::string lf = make_pem(der);
  std::string no_final_eol = lf;
  no_final_eol.pop_back();
  std::string spaced = make_pem(der, 20, " \t\n");
  spaced.insert(spaced.find("-----END") - 1, " ");
  const std::string variants[] = {
      lf,
      make_pem(der, 64, "\r\n"),
      make_pem(der, 76, "\n"),
      make_pem(der, 4, "\r\n"),
      make_pem(der, 1000, "\n"),  // the body on one line
      no_final_eol,
      "\n\n  \r\n" + lf + "\r\n\n  ",
      spaced,
  };
  for (const std::string& pem : variants) {
    Bytes point;
    ASSERT_EQ(decode(pem, &point), kStatusOk) << pem;
    EXPECT_EQ(point, expect);
  }
}

TEST(device_util_pem, Garbage) {
  Pkey k = ec_key("P-256");
  const Bytes der = spki_der(k.get());
  const std::string pem = make_pem(der);
  const size_t body = pem.find('\n') + 1;
  std::vector<std::string> bad = {
      "",
      "\n",
      "garbage",
      "hello\n" + pem,                                   // text before the key
      pem + "trailing text\n",                           // text after it
      pem + pem,                                         // two keys
      make_pem(der, 64, "\n", "EC PUBLIC KEY"),          // another label
      make_pem(der, 64, "\n", "CERTIFICATE"),
      make_pem(der, 64, "\r"),                           // bare CR line ends
      "-----BEGIN PUBLIC KEY-----" + pem.substr(body),   // no line end after BEGIN
      "-----BEGIN PUBLIC KEY----- x\n" + pem.substr(body),
      "----BEGIN PUBLIC KEY-----\n" + pem.substr(body),
      "-----begin public key-----\n" + pem.substr(body),
      pem.substr(0, body) + "-----END PUBLIC KEY-----\n",  // empty body
      pem.substr(0, pem.find("-----END")) + "-----END PUBLIC KEY----- trailing\n",
      pem.substr(0, pem.find("-----END")) + "-----END PRIVATE KEY-----\n",
      std::string(pem.data(), pem.size()).replace(body + 10, 1, "*"),   // not base64
      std::string(pem.data(), pem.size()).replace(body + 10, 1, "-"),
      std::string(pem.data(), pem.size()).insert(body + 10, "="),       // padding mid-body
      std::string(pem.data(), pem.size()).insert(body + 10, "A"),       // one char too many
      std::string(pem.data(), pem.size()).erase(body + 10, 1),          // one too few
      std::string(pem.data(), pem.size()).insert(body + 8, "AAAA"),     // 94 bytes
      std::string(pem.data(), pem.size()).insert(pem.find("==") + 2, "AAAA"),  // after padding
      std::string(pem.data(), pem.size()).erase(pem.find("=="), 2),     // padding removed
      std::string(pem.data(), pem.size()).replace(pem.find("=="), 2, "=A"),
      std::string(pem.data(), pem.size()).insert(body + 5, std::string(1, '\0')),
  };
  // Non-canonical padding: the base64 of 91 bytes ends "Xy==" where y's low
  // 4 bits must be zero.
  {
    std::string nc = pem;
    const size_t at = nc.find("==") - 1;
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t v = std::strchr(alphabet, nc[at]) - alphabet;
    nc[at] = alphabet[v | 1];
    bad.push_back(nc);
  }
  for (const std::string& p : bad) {
    Bytes point;
    EXPECT_EQ(decode(p, &point), kStatusBadArgument) << p;
  }
}

TEST(device_util_pem, OtherCurvesAndKeyTypesAreRefused) {
  for (const char* curve : {"P-384", "P-521", "secp256k1", "P-224", "brainpoolP256r1"}) {
    Pkey k = ec_key(curve);
    Bytes point;
    EXPECT_EQ(decode(public_pem(k.get()), &point), kStatusBadArgument) << curve;
  }
  {  // A P-256 key with its point compressed.
    Pkey k = ec_key("P-256");
    ASSERT_EQ(EVP_PKEY_set_utf8_string_param(k.get(), OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                             "compressed"),
              1);
    Bytes point;
    EXPECT_EQ(decode(public_pem(k.get()), &point), kStatusBadArgument);
  }
  for (const char* type : {"ED25519", "X25519"}) {
    Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, type));
    ASSERT_TRUE(k);
    Bytes point;
    EXPECT_EQ(decode(public_pem(k.get()), &point), kStatusBadArgument) << type;
  }
  {
    Pkey k(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
    ASSERT_TRUE(k);
    Bytes point;
    EXPECT_EQ(decode(public_pem(k.get()), &point), kStatusBadArgument);
  }
}

TEST(device_util_pem, EveryByteOfThePrefixAndThePointFormatMatter) {
  Pkey k = ec_key("P-256");
  const Bytes der = spki_der(k.get());
  Bytes point;
  ASSERT_EQ(decode(make_pem(der), &point), kStatusOk);
  for (size_t i = 0; i <= 26; ++i) {  // the 26-byte prefix and the 0x04 of the point
    Bytes bad = der;
    bad[i] ^= (i == 26) ? 0x06 : 0x01;  // 0x04 -> 0x02 (compressed form byte)
    EXPECT_EQ(decode(make_pem(bad), &point), kStatusBadArgument) << "byte " << i;
  }
  // The coordinates themselves are not interpreted here.
  Bytes other = der;
  other[40] ^= 0xFF;
  EXPECT_EQ(decode(make_pem(other), &point), kStatusOk);
  EXPECT_EQ(point[40 - 26], der[40] ^ 0xFF);
}

TEST(device_util_pem, TruncatedAtEveryByte) {
  Pkey k = ec_key("P-256");
  const std::string pem = make_pem(spki_der(k.get()), 64, "\r\n");
  const size_t complete = pem.find("-----END PUBLIC KEY-----") + 24;
  for (size_t n = 0; n < pem.size(); ++n) {
    Bytes point;
    const Status st = decode(pem.substr(0, n), &point);
    // Cut inside the final line end ("\r" alone) is still a whole key.
    EXPECT_EQ(st, n >= complete ? kStatusOk : kStatusBadArgument) << "cut at " << n;
  }
}

TEST(device_util_pem, NullArguments) {
  uint8_t out[65];
  memset(out, 0xA5, sizeof out);
  EXPECT_EQ(pem_p256_public_key(nullptr, 10, out), kStatusBadArgument);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(pem_p256_public_key("x", 1, nullptr), kStatusBadArgument);
}

TEST(device_util_hex, EncodeAndDecode) {
  const uint8_t bytes[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff};
  char text[2 * sizeof bytes + 1];
  memset(text, '#', sizeof text);
  hex_encode(bytes, sizeof bytes, text);
  EXPECT_STREQ(text, "00017f80abcdefff");
  char empty[1] = {'#'};
  hex_encode(bytes, 0, empty);
  EXPECT_EQ(empty[0], '\0');

  uint8_t out[8];
  ASSERT_TRUE(hex_decode("00017f80abcdefff", 16, out, 8));
  EXPECT_EQ(memcmp(out, bytes, 8), 0);
  ASSERT_TRUE(hex_decode("00017F80ABCDEFFF", 16, out, 8));
  EXPECT_EQ(memcmp(out, bytes, 8), 0);
  ASSERT_TRUE(hex_decode("00017f80ABcdEFff", 16, out, 8));
  EXPECT_EQ(memcmp(out, bytes, 8), 0);
  EXPECT_TRUE(hex_decode("", 0, out, 0));
  EXPECT_TRUE(hex_decode(nullptr, 0, nullptr, 0));
}

TEST(device_util_hex, DecodeRefusals) {
  uint8_t out[4];
  const char* bad[] = {"0001020g", "0001020 ", " 0010203", "00-10203", "0x010203", "000102\0" "3",
                       "00010203"};
  const size_t lens[] = {8, 8, 8, 8, 8, 8, 7};  // the last: odd length
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; ++i) {
    memset(out, 0xA5, sizeof out);
    EXPECT_FALSE(hex_decode(bad[i], lens[i], out, 4)) << bad[i];
    EXPECT_EQ(out[0], 0) << "output not zeroed";
  }
  // Exact length: too short and too long for out_len.
  EXPECT_FALSE(hex_decode("000102", 6, out, 4));
  EXPECT_FALSE(hex_decode("0001020304", 10, out, 4));
  EXPECT_FALSE(hex_decode("00", 2, out, 0));
  EXPECT_FALSE(hex_decode("", 0, out, 1));
}

TEST(device_util_hex, RoundTrip) {
  std::mt19937 rng(3);
  for (size_t n : {1, 2, 31, 32, 65, 200}) {
    Bytes in(n);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    std::string text(2 * n + 1, '#');
    hex_encode(in.data(), n, text.data());
    EXPECT_EQ(text[2 * n], '\0');
    Bytes back(n);
    ASSERT_TRUE(hex_decode(text.data(), 2 * n, back.data(), n));
    EXPECT_EQ(back, in);
  }
}

}  // namespace
}  // namespace ota
