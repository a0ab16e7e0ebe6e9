// Server crypto with OpenSSL 3: random bytes, SHA-256, ECDSA P-256 signing
// keys, AES-256-CCM records and AES-256-GCM sealing of device keys.
// docs/protocol.md is the contract.
#include "ota/server/crypto.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <climits>
#include <cstring>
#include <stdexcept>

#include "openssl_util.h"

namespace ota::server {

namespace detail {

void throw_openssl(const std::string& what) {
  std::string msg = what;
  const char* sep = ": ";
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    msg += sep;
    msg += buf;
    sep = "; ";
  }
  throw std::runtime_error(msg);
}

void clear_openssl_errors() { ERR_clear_error(); }

Pkey p256_public_key_from_point(const unsigned char point[65]) {
  if (point[0] != 0x04) return nullptr;
  ParamBld bld(OSSL_PARAM_BLD_new());
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point, 65)) {
    throw_openssl("building P-256 key parameters failed");
  }
  Params params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) {
    throw_openssl("creating an EC key context failed");
  }
  EVP_PKEY* raw = nullptr;
  // Decoding the point checks that it is on the curve.
  if (EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    clear_openssl_errors();
    return nullptr;
  }
  Pkey key(raw);
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    clear_openssl_errors();
    return nullptr;
  }
  return key;
}

bool p256_verify(EVP_PKEY* key, const unsigned char digest[32], const unsigned char* sig,
                 size_t sig_len) {
  if (sig == nullptr || sig_len < 8 || sig_len > 72) return false;
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
  // OpenSSL re-encodes the parsed signature and compares: non-canonical DER
  // and trailing bytes are refused (crypto/ec/ecdsa_ossl.c).
  bool ok = ctx && EVP_PKEY_verify_init(ctx.get()) == 1 &&
            EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
            EVP_PKEY_verify(ctx.get(), sig, sig_len, digest, 32) == 1;
  clear_openssl_errors();
  return ok;
}

}  // namespace detail

using namespace detail;

namespace {

constexpr size_t kMaxPemSize = 64 * 1024;

Bio pem_source(const std::string& pem, const char* what) {
  if (pem.size() > kMaxPemSize) {
    throw std::runtime_error(std::string(what) + ": PEM text too large (" +
                             std::to_string(pem.size()) + " bytes)");
  }
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) throw_openssl(std::string(what) + ": out of memory");
  return bio;
}

// Never prompt for a passphrase (OpenSSL would read the terminal).
int refuse_passphrase(char*, int, int, void*) { return -1; }

// Refuses anything but an EC key on the named curve P-256.
void require_p256(EVP_PKEY* key, const char* what) {
  if (!EVP_PKEY_is_a(key, "EC")) {
    const char* type = EVP_PKEY_get0_type_name(key);
    throw std::runtime_error(std::string(what) + " is a " + (type ? type : "non-EC") +
                             " key; signing keys must be ECDSA P-256 "
                             "(openssl ecparam -name secp256r1 -genkey -noout)");
  }
  char name[80] = {0};
  size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &len) != 1) {
    clear_openssl_errors();
    throw std::runtime_error(std::string(what) +
                             " is an EC key without a named curve; signing keys must be "
                             "ECDSA P-256 (secp256r1, prime256v1)");
  }
  int nid = OBJ_txt2nid(name);
  if (nid == NID_undef) nid = EC_curve_nist2nid(name);
  if (nid != NID_X9_62_prime256v1) {
    throw std::runtime_error(std::string(what) + " is on curve " + name +
                             "; signing keys must be ECDSA P-256 (secp256r1, prime256v1)");
  }
}

// Points are exported uncompressed (as `openssl ecparam -genkey` writes them)
// even when the key was read from a file that used the compressed form.
void use_uncompressed_points(EVP_PKEY* key) {
  if (EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
    throw_openssl("setting the EC point format failed");
  }
}

std::string drain(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  if (n < 0 || (n > 0 && data == nullptr)) throw std::runtime_error("reading a memory BIO failed");
  return std::string(data, static_cast<size_t>(n));
}

void require_size(size_t got, size_t want, const char* what) {
  if (got != want) {
    throw std::invalid_argument(std::string(what) + " must be " + std::to_string(want) +
                                " bytes, got " + std::to_string(got));
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Random bytes and SHA-256

Bytes random_bytes(size_t n) {
  if (n > static_cast<size_t>(INT_MAX)) throw std::invalid_argument("random_bytes: too many bytes");
  Bytes out(n);
  if (n != 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    throw_openssl("RAND_bytes failed");
  }
  return out;
}

Digest sha256(std::span<const uint8_t> data) {
  Digest d{};
  unsigned int len = 0;
  static const unsigned char kEmpty = 0;
  const unsigned char* p = data.empty() ? &kEmpty : data.data();
  if (EVP_Digest(p, data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 || len != 32) {
    throw_openssl("SHA-256 failed");
  }
  return d;
}

KeyId key_id_of(const PublicPoint& point) {
  Digest d = sha256(point);
  KeyId id{};
  std::memcpy(id.data(), d.data(), id.size());
  return id;
}

// ---------------------------------------------------------------------------
// SigningKey

struct SigningKey::Impl {
  Pkey key;
  bool has_private = false;
};

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

SigningKey SigningKey::generate() {
  Pkey key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) throw_openssl("generating a P-256 key failed");
  use_uncompressed_points(key.get());
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  impl->has_private = true;
  return SigningKey(std::move(impl));
}

SigningKey SigningKey::from_private_pem(const std::string& pem) {
  if (pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos ||
      pem.find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    throw std::runtime_error(
        "private key: encrypted PEM is not supported; keep the key unencrypted in a 0600 file");
  }
  Bio bio = pem_source(pem, "private key");
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) {
    throw_openssl(
        "private key: not a PEM private key (expected \"EC PRIVATE KEY\" or \"PRIVATE KEY\")");
  }
  require_p256(key.get(), "private key");
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) throw_openssl("private key: out of memory");
  if (EVP_PKEY_pairwise_check(check.get()) != 1) {
    throw_openssl("private key: the public key in the file does not belong to the private key");
  }
  use_uncompressed_points(key.get());
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  impl->has_private = true;
  return SigningKey(std::move(impl));
}

SigningKey SigningKey::from_public_pem(const std::string& pem) {
  Bio bio = pem_source(pem, "public key");
  Pkey key(PEM_read_bio_PUBKEY(bio.get(), nullptr, refuse_passphrase, nullptr));
  if (!key) throw_openssl("public key: not a PEM \"PUBLIC KEY\"");
  require_p256(key.get(), "public key");
  PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check) throw_openssl("public key: out of memory");
  if (EVP_PKEY_public_check(check.get()) != 1) {
    throw_openssl("public key: not a valid P-256 point");
  }
  use_uncompressed_points(key.get());
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return SigningKey(std::move(impl));
}

SigningKey SigningKey::from_public_point(const PublicPoint& point) {
  Pkey key = p256_public_key_from_point(point.data());
  if (!key) {
    throw std::runtime_error(
        "public key: not an uncompressed P-256 point on the curve (04 || X || Y, 65 bytes)");
  }
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(key);
  return SigningKey(std::move(impl));
}

std::string SigningKey::private_pem() const {
  if (!impl_->has_private) throw std::logic_error("signing key has no private part");
  // Secure-heap memory BIO: its buffer is cleansed when freed.
  Bio bio(BIO_new(BIO_s_secmem()));
  if (!bio) throw_openssl("private key: out of memory");
  // "Traditional" = SEC1 "EC PRIVATE KEY", byte for byte what
  // `openssl ecparam -name secp256r1 -genkey -noout` writes.
  if (PEM_write_bio_PrivateKey_traditional(bio.get(), impl_->key.get(), nullptr, nullptr, 0,
                                           nullptr, nullptr) != 1) {
    throw_openssl("private key: writing PEM failed");
  }
  return drain(bio.get());
}

std::string SigningKey::public_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio) throw_openssl("public key: out of memory");
  if (PEM_write_bio_PUBKEY(bio.get(), impl_->key.get()) != 1) {
    throw_openssl("public key: writing PEM failed");
  }
  return drain(bio.get());
}

PublicPoint SigningKey::public_point() const {
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  PublicPoint p{};
  p[0] = 0x04;
  bool ok = EVP_PKEY_get_bn_param(impl_->key.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
            EVP_PKEY_get_bn_param(impl_->key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
            BN_bn2binpad(x, p.data() + 1, 32) == 32 && BN_bn2binpad(y, p.data() + 33, 32) == 32;
  BN_free(x);
  BN_free(y);
  if (!ok) throw_openssl("public key: reading the point failed");
  return p;
}

KeyId SigningKey::key_id() const { return key_id_of(public_point()); }

bool SigningKey::has_private() const { return impl_->has_private; }

Bytes SigningKey::sign_digest(const Digest& digest) const {
  if (!impl_->has_private) throw std::logic_error("signing key has no private part");
  PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, impl_->key.get(), nullptr));
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1) {
    throw_openssl("ECDSA: preparing to sign failed");
  }
  size_t len = 0;
  if (EVP_PKEY_sign(ctx.get(), nullptr, &len, digest.data(), digest.size()) != 1) {
    throw_openssl("ECDSA: signing failed");
  }
  Bytes sig(len);
  if (EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1) {
    throw_openssl("ECDSA: signing failed");
  }
  sig.resize(len);
  if (sig.size() < 8 || sig.size() > 72) {
    throw std::runtime_error("ECDSA: unexpected signature length " + std::to_string(sig.size()));
  }
  return sig;
}

bool SigningKey::verify_digest(const Digest& digest, std::span<const uint8_t> der) const {
  return p256_verify(impl_->key.get(), digest.data(), der.data(), der.size());
}

// ---------------------------------------------------------------------------
// AES-256-CCM (13-byte nonce, 16-byte tag, no associated data)
//
// OpenSSL's CCM sequence: cipher, IV length and tag length first, then key
// and nonce, then the total length (update with null in and out), then the
// data in one update. The tag is checked inside that update on decryption,
// in constant time (CRYPTO_memcmp), and the output is cleansed on mismatch.

CcmSealed aes256_ccm_encrypt(std::span<const uint8_t, 32> key, std::span<const uint8_t, 13> nonce,
                             std::span<const uint8_t> plaintext) {
  if (plaintext.size() > 65535) {
    throw std::invalid_argument("AES-CCM with a 13-byte nonce holds at most 65535 bytes, got " +
                                std::to_string(plaintext.size()));
  }
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  CcmSealed out{};
  out.ciphertext.resize(plaintext.size());
  // OpenSSL wants non-null data pointers even for an empty message.
  unsigned char dummy_out = 0;
  static const unsigned char kDummyIn = 0;
  const unsigned char* in = plaintext.empty() ? &kDummyIn : plaintext.data();
  unsigned char* dst = plaintext.empty() ? &dummy_out : out.ciphertext.data();
  const int len = static_cast<int>(plaintext.size());
  int outl = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_ccm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, 13, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &outl, nullptr, len) != 1 ||
      EVP_EncryptUpdate(ctx.get(), dst, &outl, in, len) != 1 || outl != len ||
      EVP_EncryptFinal_ex(ctx.get(), dst + outl, &outl) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, 16, out.tag.data()) != 1) {
    throw_openssl("AES-256-CCM encryption failed");
  }
  return out;
}

namespace detail {

// Shared by aes256_ccm_decrypt and the OpenSSL CryptoPort. `out` may equal
// `in`. Returns false (and cleanses out) when the tag does not match.
bool ccm_decrypt_into(const unsigned char* key, const unsigned char* nonce,
                      const unsigned char* in, size_t len, const unsigned char* tag,
                      unsigned char* out) {
  if (len > 65535) {
    if (out != nullptr && len != 0) OPENSSL_cleanse(out, len);
    return false;
  }
  unsigned char dummy = 0;
  const unsigned char* src = len == 0 ? &dummy : in;
  unsigned char* dst = len == 0 ? &dummy : out;
  const int n = static_cast<int>(len);
  int outl = 0;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_ccm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, 13, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, 16,
                                const_cast<unsigned char*>(tag)) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key, nonce) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &outl, nullptr, n) == 1 &&
            EVP_DecryptUpdate(ctx.get(), dst, &outl, src, n) == 1 && outl == n;
  clear_openssl_errors();
  if (!ok && len != 0 && out != nullptr) OPENSSL_cleanse(out, len);
  return ok;
}

}  // namespace detail

std::optional<Bytes> aes256_ccm_decrypt(std::span<const uint8_t, 32> key,
                                        std::span<const uint8_t, 13> nonce,
                                        std::span<const uint8_t> ciphertext,
                                        std::span<const uint8_t, 16> tag) {
  if (ciphertext.size() > 65535) return std::nullopt;
  Bytes out(ciphertext.size());
  if (!ccm_decrypt_into(key.data(), nonce.data(), ciphertext.data(), ciphertext.size(),
                        tag.data(), out.data())) {
    return std::nullopt;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Device keys sealed with AES-256-GCM under the master key:
// nonce(12) | tag(16) | ciphertext(32), associated data = the device id.

namespace {
constexpr size_t kGcmNonce = 12, kGcmTag = 16, kDeviceKey = 32;
constexpr size_t kSealedSize = kGcmNonce + kGcmTag + kDeviceKey;
}  // namespace

Bytes seal_device_key(std::span<const uint8_t> master_key, const std::string& device_id,
                      std::span<const uint8_t> device_key) {
  require_size(master_key.size(), 32, "master key");
  require_size(device_key.size(), kDeviceKey, "device key");
  if (device_id.size() > static_cast<size_t>(INT_MAX)) throw std::invalid_argument("device id");
  Bytes sealed(kSealedSize);
  Bytes nonce = random_bytes(kGcmNonce);
  std::memcpy(sealed.data(), nonce.data(), kGcmNonce);
  unsigned char* tag = sealed.data() + kGcmNonce;
  unsigned char* ct = tag + kGcmTag;
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int outl = 0;
  bool ok = ctx &&
            EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, kGcmNonce, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, master_key.data(), nonce.data()) == 1;
  if (ok && !device_id.empty()) {
    ok = EVP_EncryptUpdate(ctx.get(), nullptr, &outl,
                           reinterpret_cast<const unsigned char*>(device_id.data()),
                           static_cast<int>(device_id.size())) == 1;
  }
  ok = ok &&
       EVP_EncryptUpdate(ctx.get(), ct, &outl, device_key.data(),
                         static_cast<int>(device_key.size())) == 1 &&
       outl == static_cast<int>(kDeviceKey) && EVP_EncryptFinal_ex(ctx.get(), ct + outl, &outl) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, kGcmTag, tag) == 1;
  if (!ok) throw_openssl("sealing a device key failed");
  return sealed;
}

std::optional<Bytes> open_device_key(std::span<const uint8_t> master_key,
                                     const std::string& device_id,
                                     std::span<const uint8_t> sealed) {
  require_size(master_key.size(), 32, "master key");
  if (sealed.size() != kSealedSize || device_id.size() > static_cast<size_t>(INT_MAX)) {
    return std::nullopt;
  }
  const unsigned char* nonce = sealed.data();
  const unsigned char* tag = nonce + kGcmNonce;
  const unsigned char* ct = tag + kGcmTag;
  Bytes key(kDeviceKey);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int outl = 0;
  bool ok = ctx &&
            EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, kGcmNonce, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, master_key.data(), nonce) == 1;
  if (ok && !device_id.empty()) {
    ok = EVP_DecryptUpdate(ctx.get(), nullptr, &outl,
                           reinterpret_cast<const unsigned char*>(device_id.data()),
                           static_cast<int>(device_id.size())) == 1;
  }
  ok = ok &&
       EVP_DecryptUpdate(ctx.get(), key.data(), &outl, ct, static_cast<int>(kDeviceKey)) == 1 &&
       outl == static_cast<int>(kDeviceKey) &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, kGcmTag,
                           const_cast<unsigned char*>(tag)) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), key.data() + outl, &outl) == 1;  // checks the tag
  clear_openssl_errors();
  if (!ok) {
    OPENSSL_cleanse(key.data(), key.size());
    return std::nullopt;
  }
  return key;
}

}  // namespace ota::server
