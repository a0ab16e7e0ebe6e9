// Server crypto (OpenSSL): signing keys against the openssl CLI, ECDSA,
// AES-256-CCM against Python's libraries, key files, the master key and
// sealed device keys. Cross checks with mbedTLS are in mbedtls_port_test.cpp.
#include "ota/server/crypto.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "crypto_test_util.h"

namespace ota::server {
namespace {

using namespace ota::crypto_test;

// The openssl command is a configure-time requirement (tests/CMakeLists.txt):
// missing at run time is a failure, not a skip.
#define REQUIRE_OPENSSL_CLI()                                                          \
  do {                                                                                 \
    if (!run("openssl version >/dev/null 2>&1"))                                       \
      GTEST_FAIL() << "the openssl command is not installed (Debian openssl; make deps)"; \
  } while (0)

// Runs `cmd` in `dir` (quiet), failing the test when it fails.
void shell(const TempDir& dir, const std::string& cmd) {
  ASSERT_TRUE(run("cd " + quote(dir.path()) + " && " + cmd + " 2>/dev/null")) << cmd;
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

Digest digest_of(const std::string& s) {
  return sha256({reinterpret_cast<const uint8_t*>(s.data()), s.size()});
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// The P-256 base point G: a valid public key (private key 1) known to all.
const char* kGeneratorHex =
    "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
    "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";

PublicPoint point_from_hex(const std::string& h) {
  Bytes b = unhex(h);
  PublicPoint p{};
  std::memcpy(p.data(), b.data(), p.size());
  return p;
}

// ---------------------------------------------------------------------------
// SHA-256 and random bytes

TEST(CryptoDigest, Sha256KnownAnswers) {
  EXPECT_EQ(hex(sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(digest_of("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(CryptoDigest, RandomBytesDiffer) {
  EXPECT_TRUE(random_bytes(0).empty());
  Bytes a = random_bytes(32), b = random_bytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

// ---------------------------------------------------------------------------
// Signing keys

TEST(CryptoSigningKey, GeneratedKeyRoundTripsThroughPrivatePem) {
  SigningKey k = SigningKey::generate();
  EXPECT_TRUE(k.has_private());
  std::string pem = k.private_pem();
  EXPECT_EQ(pem.rfind("-----BEGIN EC PRIVATE KEY-----\n", 0), 0u) << pem;
  SigningKey again = SigningKey::from_private_pem(pem);
  EXPECT_EQ(again.public_point(), k.public_point());
  EXPECT_EQ(again.key_id(), k.key_id());
  EXPECT_EQ(again.private_pem(), pem);
  EXPECT_EQ(k.public_point()[0], 0x04);
  Digest d = digest_of("round trip");
  EXPECT_TRUE(k.verify_digest(d, again.sign_digest(d)));
  EXPECT_TRUE(again.verify_digest(d, k.sign_digest(d)));
}

TEST(CryptoSigningKey, GeneratedKeysDiffer) {
  EXPECT_NE(SigningKey::generate().public_point(), SigningKey::generate().public_point());
}

TEST(CryptoSigningKey, MovedKeyKeepsWorking) {
  SigningKey a = SigningKey::generate();
  PublicPoint p = a.public_point();
  SigningKey b = std::move(a);
  EXPECT_EQ(b.public_point(), p);
  SigningKey c = SigningKey::generate();
  c = std::move(b);
  EXPECT_EQ(c.public_point(), p);
}

TEST(CryptoSigningKey, LoadsKeyMadeByOpensslEcparam) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-ecparam");
  shell(dir, "openssl ecparam -name secp256r1 -genkey -noout -out k.pem");
  shell(dir, "openssl ec -in k.pem -pubout -out pub.pem");
  shell(dir, "openssl ec -in k.pem -pubout -outform DER -out pub.der");
  shell(dir, "tail -c 65 pub.der | openssl dgst -sha256 -r > id.txt");
  std::string text = slurp(dir / "k.pem");
  ASSERT_EQ(text.rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u) << text;

  SigningKey k = SigningKey::from_private_pem(text);
  // We write the same bytes the CLI wrote (DESIGN.md §2: the same key files).
  EXPECT_EQ(k.private_pem(), text);
  EXPECT_EQ(k.public_pem(), slurp(dir / "pub.pem"));
  // The point and the key id as the CLI computes them.
  std::string spki = slurp(dir / "pub.der");
  ASSERT_EQ(spki.size(), 91u);
  PublicPoint p = k.public_point();
  EXPECT_EQ(std::string(p.begin(), p.end()), spki.substr(26));
  EXPECT_EQ(hex(k.key_id()), slurp(dir / "id.txt").substr(0, 16));
  // The CLI's public key file loads and verifies our signatures.
  SigningKey pub = SigningKey::from_public_pem(slurp(dir / "pub.pem"));
  EXPECT_EQ(pub.public_point(), p);
  Digest d = digest_of("cli");
  EXPECT_TRUE(pub.verify_digest(d, k.sign_digest(d)));
}

TEST(CryptoSigningKey, OpensslVerifiesOurSignatureFromTheCli) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-cli-verify");
  SigningKey k = SigningKey::generate();
  spit(dir / "pub.pem", k.public_pem());
  std::string msg = "patch bytes";
  spit(dir / "msg.bin", msg);
  Bytes sig = k.sign_digest(digest_of(msg));
  spit(dir / "msg.sig", std::string(sig.begin(), sig.end()));
  shell(dir, "openssl dgst -sha256 -verify pub.pem -signature msg.sig msg.bin >/dev/null");
  // And a signature made by the CLI verifies with us.
  spit(dir / "k.pem", k.private_pem());
  ::chmod((dir / "k.pem").c_str(), 0600);
  shell(dir, "openssl dgst -sha256 -sign k.pem -out cli.sig msg.bin");
  std::string cli_sig = slurp(dir / "cli.sig");
  EXPECT_TRUE(k.verify_digest(digest_of(msg), Bytes(cli_sig.begin(), cli_sig.end())));
}

TEST(CryptoSigningKey, LoadsEcparamOutputWithParametersBlock) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-ecparam-params");
  // Without -noout, ecparam writes an "EC PARAMETERS" block first.
  shell(dir, "openssl ecparam -name secp256r1 -genkey -out k.pem");
  shell(dir, "openssl ec -in k.pem -out plain.pem");
  SigningKey k = SigningKey::from_private_pem(slurp(dir / "k.pem"));
  EXPECT_EQ(k.private_pem(), slurp(dir / "plain.pem"));
}

TEST(CryptoSigningKey, LoadsPkcs8) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-pkcs8");
  shell(dir, "openssl ecparam -name secp256r1 -genkey -noout -out k.pem");
  shell(dir, "openssl pkcs8 -topk8 -nocrypt -in k.pem -out p8.pem");
  shell(dir, "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out gen.pem");
  std::string p8 = slurp(dir / "p8.pem");
  ASSERT_EQ(p8.rfind("-----BEGIN PRIVATE KEY-----", 0), 0u) << p8;
  SigningKey sec1 = SigningKey::from_private_pem(slurp(dir / "k.pem"));
  SigningKey pkcs8 = SigningKey::from_private_pem(p8);
  EXPECT_EQ(pkcs8.public_point(), sec1.public_point());
  EXPECT_EQ(pkcs8.private_pem(), slurp(dir / "k.pem"));  // written back as SEC1
  SigningKey gen = SigningKey::from_private_pem(slurp(dir / "gen.pem"));
  EXPECT_EQ(gen.private_pem().rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u);
}

TEST(CryptoSigningKey, CompressedPointFileGivesUncompressedPoint) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-compressed");
  shell(dir, "openssl ecparam -name secp256r1 -genkey -noout -out k.pem");
  shell(dir, "openssl ec -in k.pem -conv_form compressed -out kc.pem");
  ASSERT_NE(slurp(dir / "k.pem"), slurp(dir / "kc.pem"));
  SigningKey k = SigningKey::from_private_pem(slurp(dir / "k.pem"));
  SigningKey kc = SigningKey::from_private_pem(slurp(dir / "kc.pem"));
  EXPECT_EQ(kc.public_point(), k.public_point());
  EXPECT_EQ(kc.private_pem(), slurp(dir / "k.pem"));
  EXPECT_EQ(kc.public_pem(), k.public_pem());
}

TEST(CryptoSigningKey, PublicPemAndPointRoundTrip) {
  SigningKey k = SigningKey::generate();
  std::string pub_pem = k.public_pem();
  EXPECT_EQ(pub_pem.rfind("-----BEGIN PUBLIC KEY-----\n", 0), 0u) << pub_pem;
  SigningKey pub = SigningKey::from_public_pem(pub_pem);
  EXPECT_FALSE(pub.has_private());
  EXPECT_EQ(pub.public_point(), k.public_point());
  EXPECT_EQ(pub.public_pem(), pub_pem);
  EXPECT_EQ(pub.key_id(), k.key_id());
  SigningKey from_point = SigningKey::from_public_point(k.public_point());
  EXPECT_FALSE(from_point.has_private());
  EXPECT_EQ(from_point.public_pem(), pub_pem);

  Digest d = digest_of("verify only");
  Bytes sig = k.sign_digest(d);
  EXPECT_TRUE(pub.verify_digest(d, sig));
  EXPECT_TRUE(from_point.verify_digest(d, sig));
  EXPECT_THROW(pub.private_pem(), std::logic_error);
  EXPECT_THROW(pub.sign_digest(d), std::logic_error);
}

TEST(CryptoSigningKey, KeyIdKnownAnswer) {
  // SHA-256 of the 65-byte point G, computed independently (Python hashlib
  // and `openssl dgst`): 698bea63dc44a344663ff1429aea1084...
  PublicPoint g = point_from_hex(kGeneratorHex);
  EXPECT_EQ(hex(key_id_of(g)), "698bea63dc44a344");
  EXPECT_EQ(hex(SigningKey::from_public_point(g).key_id()), "698bea63dc44a344");
  Digest full = sha256(g);
  KeyId id = key_id_of(g);
  EXPECT_EQ(0, std::memcmp(id.data(), full.data(), 8));
}

TEST(CryptoSigningKey, RefusesOtherKeyTypesWithClearError) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-other-keys");
  shell(dir, "openssl ecparam -name secp384r1 -genkey -noout -out p384.pem");
  shell(dir, "openssl ecparam -name secp256k1 -genkey -noout -out k256.pem");
  shell(dir, "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa.pem");
  shell(dir, "openssl genpkey -algorithm ED25519 -out ed.pem");
  shell(dir, "openssl ec -in p384.pem -pubout -out p384pub.pem");
  shell(dir, "openssl pkey -in rsa.pem -pubout -out rsapub.pem");
  for (const char* name : {"p384.pem", "k256.pem", "rsa.pem", "ed.pem"}) {
    std::string msg = message_of([&] { SigningKey::from_private_pem(slurp(dir / name)); });
    EXPECT_NE(msg.find("P-256"), std::string::npos) << name << ": " << msg;
  }
  for (const char* name : {"p384pub.pem", "rsapub.pem"}) {
    std::string msg = message_of([&] { SigningKey::from_public_pem(slurp(dir / name)); });
    EXPECT_NE(msg.find("P-256"), std::string::npos) << name << ": " << msg;
  }
  EXPECT_NE(message_of([&] { SigningKey::from_private_pem(slurp(dir / "p384.pem")); })
                .find("secp384r1"),
            std::string::npos);
}

TEST(CryptoSigningKey, RefusesGarbagePem) {
  SigningKey k = SigningKey::generate();
  std::string good = k.private_pem();
  std::vector<std::string> bad = {
      "",
      "hello",
      "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
      "-----BEGIN EC PRIVATE KEY-----\n!!!!\n-----END EC PRIVATE KEY-----\n",
      good.substr(0, good.size() / 2),
      std::string(100000, 'A'),
  };
  for (const std::string& pem : bad) {
    EXPECT_THROW(SigningKey::from_private_pem(pem), std::runtime_error) << pem.substr(0, 80);
    EXPECT_THROW(SigningKey::from_public_pem(pem), std::runtime_error) << pem.substr(0, 80);
  }
  // Each kind of PEM where the other is expected.
  EXPECT_THROW(SigningKey::from_private_pem(k.public_pem()), std::runtime_error);
  EXPECT_THROW(SigningKey::from_public_pem(good), std::runtime_error);
}

TEST(CryptoSigningKey, AlteredPemNeverLoadsAsAnotherKey) {
  // Change each base64 character of the body: the result must be refused
  // (parse error, wrong curve, or public key not matching the private
  // scalar), or decode to the same key (bits past the end of the data).
  SigningKey k = SigningKey::generate();
  std::string pem = k.private_pem();
  size_t body = pem.find('\n') + 1;
  size_t end = pem.find("-----END");
  int refused = 0;
  for (size_t i = body; i < end; ++i) {
    if (pem[i] == '\n' || pem[i] == '=') continue;
    std::string bad = pem;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    try {
      SigningKey other = SigningKey::from_private_pem(bad);
      EXPECT_EQ(other.public_point(), k.public_point()) << "position " << i;
    } catch (const std::runtime_error&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 150);
}

TEST(CryptoSigningKey, RefusesPublicKeyThatDoesNotMatchPrivateKey) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-mismatch");
  SigningKey a = SigningKey::generate();
  SigningKey b = SigningKey::generate();
  spit(dir / "a.pem", a.private_pem());
  shell(dir, "openssl ec -in a.pem -outform DER -out a.der");
  std::string der = slurp(dir / "a.der");
  ASSERT_EQ(der.size(), 121u);  // SEC1 with parameters and a 65-byte point at the end
  PublicPoint pb = b.public_point();
  der.replace(der.size() - 65, 65, std::string(pb.begin(), pb.end()));
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_GT(PEM_write_bio(bio, "EC PRIVATE KEY", "",
                          reinterpret_cast<const unsigned char*>(der.data()),
                          static_cast<long>(der.size())),
            0);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string spliced(data, static_cast<size_t>(n));
  BIO_free(bio);
  std::string msg = message_of([&] { SigningKey::from_private_pem(spliced); });
  EXPECT_NE(msg.find("does not belong"), std::string::npos) << msg;
  // No key material in the message.
  EXPECT_EQ(msg.find(hex(pb).substr(2, 16)), std::string::npos);
  for (size_t pos = 0; pos < spliced.size();) {
    size_t eol = spliced.find('\n', pos);
    std::string line = spliced.substr(pos, eol - pos);
    if (line.size() > 20 && line[0] != '-') {
      EXPECT_EQ(msg.find(line), std::string::npos);
    }
    pos = eol + 1;
  }
}

TEST(CryptoSigningKey, RefusesEncryptedPemWithoutPrompting) {
  REQUIRE_OPENSSL_CLI();
  TempDir dir("crypto-encrypted");
  shell(dir, "openssl ecparam -name secp256r1 -genkey -noout -out k.pem");
  shell(dir, "openssl ec -in k.pem -aes256 -passout pass:secret -out enc.pem");
  shell(dir, "openssl pkcs8 -topk8 -v2 aes256 -in k.pem -passout pass:secret -out enc8.pem");
  for (const char* name : {"enc.pem", "enc8.pem"}) {
    std::string msg = message_of([&] { SigningKey::from_private_pem(slurp(dir / name)); });
    EXPECT_NE(msg.find("encrypted"), std::string::npos) << name << ": " << msg;
  }
}

// ---------------------------------------------------------------------------
// ECDSA with OpenSSL alone (cross checks with mbedTLS: mbedtls_port_test)

TEST(CryptoEcdsa, SignatureFailsUnderAnotherKeyOrDigest) {
  SigningKey k = SigningKey::generate();
  SigningKey other = SigningKey::generate();
  Digest d = digest_of("manifest");
  Bytes sig = k.sign_digest(d);
  EXPECT_TRUE(k.verify_digest(d, sig));
  EXPECT_FALSE(other.verify_digest(d, sig));
  EXPECT_FALSE(k.verify_digest(digest_of("manifest2"), sig));
}

TEST(CryptoEcdsa, EveryFlippedSignatureBitFails) {
  SigningKey k = SigningKey::generate();
  Digest d = digest_of("flip");
  Bytes sig = k.sign_digest(d);
  for (size_t bit = 0; bit < sig.size() * 8; ++bit) {
    Bytes bad = sig;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(k.verify_digest(d, bad)) << "bit " << bit;
  }
}

TEST(CryptoEcdsa, RefusesLengthsOutside8To72) {
  SigningKey k = SigningKey::generate();
  Digest d = digest_of("len");
  Bytes sig = k.sign_digest(d);
  EXPECT_FALSE(k.verify_digest(d, {}));
  EXPECT_FALSE(k.verify_digest(d, Bytes(sig.begin(), sig.begin() + 7)));
  Bytes longer = sig;
  longer.resize(73, 0);
  EXPECT_FALSE(k.verify_digest(d, longer));
  Bytes trailing = sig;
  trailing.push_back(0);
  EXPECT_FALSE(k.verify_digest(d, trailing));
}

// ---------------------------------------------------------------------------
// AES-256-CCM with OpenSSL alone

struct CcmFixture {
  std::array<uint8_t, 32> key;
  std::array<uint8_t, 13> nonce;
};

CcmFixture ccm_fixture() {
  CcmFixture f{};
  for (size_t i = 0; i < 32; ++i) f.key[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < 13; ++i) f.nonce[i] = static_cast<uint8_t>(0x10 + i);
  return f;
}

TEST(CryptoCcm, FixedKnownAnswer) {
  // Derived with Python's `cryptography` (AESCCM, tag_length=16) and checked
  // against PyCryptodome: key 00..1f, nonce 10..1c, no associated data.
  CcmFixture f = ccm_fixture();
  std::string text = "OTA record 0: the quick brown fox jumps over the lazy dog";
  Bytes pt(text.begin(), text.end());
  CcmSealed s = aes256_ccm_encrypt(f.key, f.nonce, pt);
  EXPECT_EQ(hex(s.ciphertext),
            "52e60dc8a5ca15171544b7ac94160420273cc55945b29dc8bdb5344fb92f206e06a951f2638a008ace"
            "52710325744f9064905ff28a5a26c0aa");
  EXPECT_EQ(hex(s.tag), "499396f7803779c65c202b2eee443115");
  auto back = aes256_ccm_decrypt(f.key, f.nonce, s.ciphertext, s.tag);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, pt);

  CcmSealed empty = aes256_ccm_encrypt(f.key, f.nonce, {});
  EXPECT_TRUE(empty.ciphertext.empty());
  EXPECT_EQ(hex(empty.tag), "104e2a6e5d2dbe8aa3da21006163eea0");
  EXPECT_TRUE(aes256_ccm_decrypt(f.key, f.nonce, {}, empty.tag).has_value());
}

TEST(CryptoCcm, MatchesPythonLibraries) {
  const char* probe =
      "/usr/bin/python3 -c 'from cryptography.hazmat.primitives.ciphers.aead import AESCCM' "
      ">/dev/null 2>&1";
  if (!run(probe)) {
    GTEST_FAIL() << "/usr/bin/python3 lacks the cryptography module (Debian python3-cryptography; "
                    "make deps)";
  }
  // Both libraries are configure-time requirements: checked, never skipped.
  bool have_pycryptodome =
      run("/usr/bin/python3 -c 'from Cryptodome.Cipher import AES' >/dev/null 2>&1");
  ASSERT_TRUE(have_pycryptodome) << "/usr/bin/python3 lacks Cryptodome (Debian python3-pycryptodome; "
                                    "make deps)";
  TempDir dir("crypto-ccm-python");
  // One run of the script: for each size it reads key, nonce and plaintext
  // files and prints "size hex(ciphertext||tag)" per library.
  spit(dir / "ccm.py",
       "import sys\n"
       "from cryptography.hazmat.primitives.ciphers.aead import AESCCM\n"
       "d = sys.argv[1]; both = len(sys.argv) > 3\n"
       "if both:\n"
       "    from Cryptodome.Cipher import AES\n"
       "for size in sys.argv[2].split(','):\n"
       "    f = lambda name: open('%s/%s_%s' % (d, name, size), 'rb').read()\n"
       "    k, n, p = f('key'), f('nonce'), f('pt')\n"
       "    line = size + ' ' + AESCCM(k, tag_length=16).encrypt(n, p, None).hex()\n"
       "    if both:\n"
       "        c, t = AES.new(k, AES.MODE_CCM, nonce=n, mac_len=16).encrypt_and_digest(p)\n"
       "        line += ' ' + (c + t).hex()\n"
       "    print(line)\n");
  const size_t sizes[] = {0, 1, 15, 16, 17, 4096, 4128, 65535};
  std::string size_list;
  for (size_t size : sizes) {
    auto seed = static_cast<uint32_t>(size);
    auto save = [&](const char* name, const Bytes& b) {
      spit(dir / (std::string(name) + "_" + std::to_string(size)), std::string(b.begin(), b.end()));
    };
    save("key", pattern(32, 1000 + seed));
    save("nonce", pattern(13, 2000 + seed));
    save("pt", pattern(size, 3000 + seed));
    size_list += (size_list.empty() ? "" : ",") + std::to_string(size);
  }
  ASSERT_TRUE(run("/usr/bin/python3 " + quote(dir / "ccm.py") + " " + quote(dir.path()) + " " +
                  size_list + (have_pycryptodome ? " both" : "") + " > " +
                  quote(dir / "out.txt")));
  std::istringstream lines(slurp(dir / "out.txt"));
  for (size_t size : sizes) {
    std::string got_size, by_cryptography, by_pycryptodome;
    ASSERT_TRUE(lines >> got_size >> by_cryptography) << "size " << size;
    ASSERT_EQ(got_size, std::to_string(size));
    if (have_pycryptodome) {
      ASSERT_TRUE(lines >> by_pycryptodome);
    }
    auto seed = static_cast<uint32_t>(size);
    Bytes key = pattern(32, 1000 + seed), nonce = pattern(13, 2000 + seed);
    Bytes pt = pattern(size, 3000 + seed);
    CcmSealed s = aes256_ccm_encrypt(std::span<const uint8_t, 32>(key.data(), 32),
                                     std::span<const uint8_t, 13>(nonce.data(), 13), pt);
    EXPECT_EQ(hex(s.ciphertext) + hex(s.tag), by_cryptography) << "size " << size;
    if (have_pycryptodome) {
      EXPECT_EQ(by_pycryptodome, by_cryptography) << "PyCryptodome, size " << size;
    }
  }
}

TEST(CryptoCcm, RefusesMoreThan65535Bytes) {
  CcmFixture f = ccm_fixture();
  Bytes big(65536, 1);
  EXPECT_THROW(aes256_ccm_encrypt(f.key, f.nonce, big), std::invalid_argument);
  std::array<uint8_t, 16> tag{};
  EXPECT_FALSE(aes256_ccm_decrypt(f.key, f.nonce, big, tag).has_value());
}

TEST(CryptoCcm, TamperingFails) {
  CcmFixture f = ccm_fixture();
  for (size_t size : {0, 1, 17, 4128}) {
    Bytes pt = pattern(size, 7);
    CcmSealed s = aes256_ccm_encrypt(f.key, f.nonce, pt);
    auto tag = s.tag;
    tag[5] ^= 0x20;
    EXPECT_FALSE(aes256_ccm_decrypt(f.key, f.nonce, s.ciphertext, tag)) << size;
    if (size > 0) {
      Bytes ct = s.ciphertext;
      ct[size - 1] ^= 1;
      EXPECT_FALSE(aes256_ccm_decrypt(f.key, f.nonce, ct, s.tag)) << size;
      EXPECT_FALSE(aes256_ccm_decrypt(f.key, f.nonce,
                                      std::span<const uint8_t>(s.ciphertext).first(size - 1),
                                      s.tag))
          << size;
    }
    auto nonce = f.nonce;
    nonce[12] ^= 1;
    EXPECT_FALSE(aes256_ccm_decrypt(f.key, nonce, s.ciphertext, s.tag)) << size;
    auto key = f.key;
    key[0] ^= 0x80;
    EXPECT_FALSE(aes256_ccm_decrypt(key, f.nonce, s.ciphertext, s.tag)) << size;
  }
}

// ---------------------------------------------------------------------------
// Key files

class UmaskScope {
 public:
  explicit UmaskScope(mode_t m) : old_(::umask(m)) {}
  ~UmaskScope() { ::umask(old_); }

 private:
  mode_t old_;
};

Bytes secret() { return pattern(32, 99); }

TEST(CryptoSecretFile, WriteCreatesMode0600WhateverTheUmask) {
  TempDir dir("crypto-secret");
  for (mode_t mask : {mode_t{022}, mode_t{0}, mode_t{0277}, mode_t{077}}) {
    UmaskScope scope(mask);
    fs::path p = dir / ("key-" + std::to_string(mask));
    write_secret_file(p, secret());
    EXPECT_EQ(mode_of(p), 0600u) << "umask " << std::oct << mask;
    EXPECT_EQ(read_secret_file(p), secret());
  }
}

TEST(CryptoSecretFile, RefusesToOverwriteUnlessAsked) {
  TempDir dir("crypto-secret-overwrite");
  fs::path p = dir / "k";
  write_secret_file(p, secret());
  Bytes other = pattern(32, 5);
  std::string msg = message_of([&] { write_secret_file(p, other); });
  EXPECT_NE(msg.find("already exists"), std::string::npos) << msg;
  EXPECT_EQ(read_secret_file(p), secret());
  write_secret_file(p, other, /*overwrite=*/true);
  EXPECT_EQ(read_secret_file(p), other);
  EXPECT_EQ(mode_of(p), 0600u);
  // Overwriting a too-open file leaves a 0600 one.
  ASSERT_EQ(::chmod(p.c_str(), 0644), 0);
  write_secret_file(p, secret(), true);
  EXPECT_EQ(mode_of(p), 0600u);
  EXPECT_EQ(read_secret_file(p), secret());
  // No temporary files are left behind.
  size_t entries = 0;
  for ([[maybe_unused]] auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST(CryptoSecretFile, SymlinksAreNotWrittenThrough) {
  TempDir dir("crypto-secret-symlink");
  fs::path target = dir / "target";
  spit(target, "precious");
  fs::path link = dir / "k";
  fs::create_symlink(target, link);
  EXPECT_THROW(write_secret_file(link, secret()), std::runtime_error);
  fs::path dangling = dir / "dangling";
  fs::create_symlink(dir / "nowhere", dangling);
  EXPECT_THROW(write_secret_file(dangling, secret()), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir / "nowhere"));
  // With overwrite, the link itself is replaced; its target is untouched.
  write_secret_file(link, secret(), true);
  EXPECT_FALSE(fs::is_symlink(link));
  EXPECT_EQ(slurp(target), "precious");
  EXPECT_EQ(read_secret_file(link), secret());
}

TEST(CryptoSecretFile, ReadRefusesGroupOrOtherAccess) {
  TempDir dir("crypto-secret-mode");
  fs::path p = dir / "k";
  write_secret_file(p, secret());
  for (mode_t m : {0644, 0640, 0604, 0620, 0602, 0610, 0601, 0660, 0666}) {
    ASSERT_EQ(::chmod(p.c_str(), m), 0);
    std::string msg = message_of([&] { read_secret_file(p); });
    char mode_text[8];
    std::snprintf(mode_text, sizeof mode_text, "%04o", static_cast<unsigned>(m));
    EXPECT_NE(msg.find(mode_text), std::string::npos) << msg;
    EXPECT_NE(msg.find("chmod 600"), std::string::npos) << msg;
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_EQ(msg.find(hex(secret())), std::string::npos) << msg;
  }
  for (mode_t m : {0600, 0400}) {
    ASSERT_EQ(::chmod(p.c_str(), m), 0);
    EXPECT_EQ(read_secret_file(p), secret()) << std::oct << m;
  }
}

TEST(CryptoSecretFile, ClearErrorsForMissingAndOddFiles) {
  TempDir dir("crypto-secret-missing");
  std::string msg = message_of([&] { read_secret_file(dir / "absent"); });
  EXPECT_NE(msg.find("absent"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  fs::create_directory(dir / "d");
  ::chmod((dir / "d").c_str(), 0700);
  msg = message_of([&] { read_secret_file(dir / "d"); });
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  msg = message_of([&] { read_secret_file(dir / "fifo"); });  // must not hang
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
  EXPECT_THROW(write_secret_file(dir / "no-dir" / "k", secret()), std::runtime_error);
}

TEST(CryptoSecretFile, EmptyFileRoundTrips) {
  TempDir dir("crypto-secret-empty");
  write_secret_file(dir / "e", {});
  EXPECT_TRUE(read_secret_file(dir / "e").empty());
}

TEST(CryptoMasterKey, CreatedOnceThenReloaded) {
  TempDir dir("crypto-master");
  fs::path p = dir / "master.key";
  Bytes first = load_or_create_master_key(p);
  EXPECT_EQ(first.size(), 32u);
  EXPECT_EQ(mode_of(p), 0600u);
  std::string on_disk = slurp(p);
  EXPECT_EQ(on_disk, std::string(first.begin(), first.end()));
  Bytes again = load_or_create_master_key(p);
  EXPECT_EQ(again, first);
  EXPECT_EQ(slurp(p), on_disk);
  // Another path, another key.
  EXPECT_NE(load_or_create_master_key(dir / "other.key"), first);
}

TEST(CryptoMasterKey, RefusesWrongSizeOrOpenMode) {
  TempDir dir("crypto-master-bad");
  fs::path p = dir / "master.key";
  write_secret_file(p, pattern(31, 1));
  std::string msg = message_of([&] { load_or_create_master_key(p); });
  EXPECT_NE(msg.find("expected 32"), std::string::npos) << msg;
  EXPECT_EQ(slurp(p).size(), 31u);  // never replaced
  fs::path q = dir / "open.key";
  write_secret_file(q, pattern(32, 2));
  ASSERT_EQ(::chmod(q.c_str(), 0640), 0);
  EXPECT_THROW(load_or_create_master_key(q), std::runtime_error);
  EXPECT_THROW(load_or_create_master_key(dir / "missing-dir" / "master.key"), std::runtime_error);
}

// ---------------------------------------------------------------------------
// Device keys sealed under the master key

TEST(CryptoDeviceKey, SealOpenRoundTrip) {
  Bytes master = random_bytes(32);
  Bytes device_key = random_bytes(32);
  Bytes sealed = seal_device_key(master, "esp32-c3.lab-01", device_key);
  EXPECT_EQ(sealed.size(), 12u + 16u + 32u);
  EXPECT_EQ(std::search(sealed.begin(), sealed.end(), device_key.begin(), device_key.end()),
            sealed.end());
  auto opened = open_device_key(master, "esp32-c3.lab-01", sealed);
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(*opened, device_key);
  // A fresh nonce every time.
  Bytes sealed2 = seal_device_key(master, "esp32-c3.lab-01", device_key);
  EXPECT_NE(sealed2, sealed);
  EXPECT_EQ(open_device_key(master, "esp32-c3.lab-01", sealed2), device_key);
}

TEST(CryptoDeviceKey, OpenFailsForAnotherDeviceMasterOrAnyFlippedBit) {
  Bytes master = random_bytes(32);
  Bytes device_key = random_bytes(32);
  Bytes sealed = seal_device_key(master, "dev-1", device_key);
  for (const char* other : {"dev-2", "dev-10", "dev-", "Dev-1", "dev-1 ", ""}) {
    EXPECT_FALSE(open_device_key(master, other, sealed).has_value()) << other;
  }
  Bytes other_master = master;
  other_master[31] ^= 1;
  EXPECT_FALSE(open_device_key(other_master, "dev-1", sealed).has_value());
  EXPECT_FALSE(open_device_key(random_bytes(32), "dev-1", sealed).has_value());
  for (size_t bit = 0; bit < sealed.size() * 8; ++bit) {
    Bytes bad = sealed;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(open_device_key(master, "dev-1", bad).has_value()) << "bit " << bit;
  }
  EXPECT_FALSE(open_device_key(master, "dev-1", Bytes(sealed.begin(), sealed.end() - 1)));
  Bytes longer = sealed;
  longer.push_back(0);
  EXPECT_FALSE(open_device_key(master, "dev-1", longer));
  EXPECT_FALSE(open_device_key(master, "dev-1", {}));
}

TEST(CryptoDeviceKey, RefusesWrongKeySizes) {
  Bytes master = random_bytes(32);
  EXPECT_THROW(seal_device_key(random_bytes(16), "d", random_bytes(32)), std::invalid_argument);
  EXPECT_THROW(seal_device_key(master, "d", random_bytes(31)), std::invalid_argument);
  EXPECT_THROW(open_device_key(random_bytes(31), "d", Bytes(60)), std::invalid_argument);
}

}  // namespace
}  // namespace ota::server
