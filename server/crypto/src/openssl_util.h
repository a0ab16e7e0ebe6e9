// Private helpers shared by the server crypto sources: owning handles for
// OpenSSL objects and the error path.
#ifndef OTA_SERVER_CRYPTO_OPENSSL_UTIL_H
#define OTA_SERVER_CRYPTO_OPENSSL_UTIL_H

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>

namespace ota::server::detail {

struct BioFree {
  void operator()(BIO* p) const { BIO_free_all(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};

using Bio = std::unique_ptr<BIO, BioFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree>;
using Params = std::unique_ptr<OSSL_PARAM, ParamFree>;

// Throws std::runtime_error("what: <OpenSSL reasons>") and empties the
// thread's OpenSSL error queue. The reasons are OpenSSL's reason strings
// (library and reason), never data: no key bytes reach a message.
[[noreturn]] void throw_openssl(const std::string& what);

// Empties the thread's OpenSSL error queue (after an expected failure, such
// as a signature that does not verify).
void clear_openssl_errors();

// A P-256 public key from an uncompressed point; null when the point is not
// 04 || X || Y on the curve. Leaves no OpenSSL errors queued.
Pkey p256_public_key_from_point(const unsigned char point[65]);

// true only for a valid DER ECDSA signature over the 32-byte digest.
// Leaves no OpenSSL errors queued.
bool p256_verify(EVP_PKEY* key, const unsigned char digest[32], const unsigned char* sig,
                 size_t sig_len);

// AES-256-CCM decryption (13-byte nonce, 16-byte tag, no associated data)
// of len <= 65535 bytes; `out` may equal `in`. false when the tag does not
// match (checked in constant time by OpenSSL); `out` is cleansed then.
bool ccm_decrypt_into(const unsigned char* key, const unsigned char* nonce,
                      const unsigned char* in, size_t len, const unsigned char* tag,
                      unsigned char* out);

}  // namespace ota::server::detail

#endif  // OTA_SERVER_CRYPTO_OPENSSL_UTIL_H
