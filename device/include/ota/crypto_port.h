// The device core's crypto port: the only way the core hashes, verifies a
// signature or decrypts. Implemented with mbedTLS on devices and in the
// simulator (device/ports/mbedtls), and by OpenSSL in host tests.
//
// Every function returns 0 on success and non-zero on failure; the core maps
// failures to its own status codes. All functions are synchronous. The core
// finishes every SHA-256 it begins, on failure paths too, so a port may hold
// a hardware engine from begin to finish.
#ifndef OTA_CRYPTO_PORT_H
#define OTA_CRYPTO_PORT_H

#include <stddef.h>
#include <stdint.h>

namespace ota {

// Storage for one running SHA-256, owned by the caller (the core keeps
// several at once: record chain, payload digest, image digest). The port
// keeps its whole state inside (mbedTLS's context fits); it must not
// allocate.
struct Sha256State {
  alignas(8) uint8_t opaque[128];
};

struct CryptoPort {
  void* ctx;
  int (*sha256_begin)(void* ctx, Sha256State* s);
  int (*sha256_update)(void* ctx, Sha256State* s, const uint8_t* data, size_t len);
  int (*sha256_finish)(void* ctx, Sha256State* s, uint8_t digest[32]);
  // 0 when `sig_der` (ASN.1 DER ECDSA signature) is valid for `digest`
  // (a SHA-256) under the P-256 public key `pub` (uncompressed point,
  // 04 || X || Y).
  int (*ecdsa_p256_verify)(void* ctx, const uint8_t pub[65], const uint8_t digest[32],
                           const uint8_t* sig_der, size_t sig_len);
  // AES-256-CCM with a 13-byte nonce, 16-byte tag and no associated data.
  // Decrypts len bytes of `in` into `out` (in == out allowed) and returns 0
  // only if the tag matches, compared in constant time; on failure `out` is
  // wiped. len <= 65535.
  int (*aes256_ccm_decrypt)(void* ctx, const uint8_t key[32], const uint8_t nonce[13],
                            const uint8_t* in, size_t len, const uint8_t tag[16], uint8_t* out);
};

}  // namespace ota

#endif  // OTA_CRYPTO_PORT_H
