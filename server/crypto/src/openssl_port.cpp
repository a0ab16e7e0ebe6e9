// ota::CryptoPort on OpenSSL: host tests and the server's verification of
// what it publishes, with the same contract as device/ports/mbedtls.
//
// SHA-256 keeps its whole state in the caller's Sha256State (OpenSSL's
// SHA256_CTX, 112 bytes), like the mbedTLS port: no allocation, so a state
// the core abandons on an error path leaks nothing, and states behave the
// same under both ports. The SHA256_* functions are deprecated in OpenSSL 3
// in favour of EVP_MD_CTX, which lives on the heap and would need a finish
// (or a release function the port does not have) on every path.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <exception>

#include "openssl_util.h"
#include "ota/server/crypto.h"

namespace ota::server {

namespace {

static_assert(sizeof(SHA256_CTX) <= sizeof(Sha256State::opaque),
              "SHA256_CTX does not fit in ota::Sha256State");
static_assert(alignof(SHA256_CTX) <= alignof(Sha256State),
              "SHA256_CTX needs more alignment than ota::Sha256State");

SHA256_CTX* sha_of(Sha256State* s) { return reinterpret_cast<SHA256_CTX*>(s->opaque); }

int sha256_begin(void*, Sha256State* s) { return SHA256_Init(sha_of(s)) == 1 ? 0 : -1; }

int sha256_update(void*, Sha256State* s, const uint8_t* data, size_t len) {
  if (len == 0) return 0;
  return SHA256_Update(sha_of(s), data, len) == 1 ? 0 : -1;
}

int sha256_finish(void*, Sha256State* s, uint8_t digest[32]) {
  int rc = SHA256_Final(digest, sha_of(s)) == 1 ? 0 : -1;
  OPENSSL_cleanse(s->opaque, sizeof s->opaque);
  if (rc != 0) OPENSSL_cleanse(digest, 32);
  return rc;
}

// The port's functions are called from code built without exceptions:
// nothing may escape them.
int ecdsa_p256_verify(void*, const uint8_t pub[65], const uint8_t digest[32],
                      const uint8_t* sig_der, size_t sig_len) {
  try {
    detail::Pkey key = detail::p256_public_key_from_point(pub);
    if (!key) return -1;
    return detail::p256_verify(key.get(), digest, sig_der, sig_len) ? 0 : -1;
  } catch (...) {
    detail::clear_openssl_errors();
    return -1;
  }
}

int aes256_ccm_decrypt(void*, const uint8_t key[32], const uint8_t nonce[13], const uint8_t* in,
                       size_t len, const uint8_t tag[16], uint8_t* out) {
  try {
    return detail::ccm_decrypt_into(key, nonce, in, len, tag, out) ? 0 : -1;
  } catch (...) {
    if (out != nullptr && len != 0) OPENSSL_cleanse(out, len);
    return -1;
  }
}

}  // namespace

CryptoPort openssl_crypto_port() {
  CryptoPort port{};
  port.ctx = nullptr;
  port.sha256_begin = sha256_begin;
  port.sha256_update = sha256_update;
  port.sha256_finish = sha256_finish;
  port.ecdsa_p256_verify = ecdsa_p256_verify;
  port.aes256_ccm_decrypt = aes256_ccm_decrypt;
  return port;
}

}  // namespace ota::server
