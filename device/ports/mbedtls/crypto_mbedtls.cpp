// CryptoPort with mbedTLS. See crypto_mbedtls.h for the contract and
// docs/protocol.md for the primitives.
//
// Device code: C headers only, compiled with -fno-exceptions -fno-rtti.
#include "crypto_mbedtls.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <mbedtls/version.h>

#include <mbedtls/bignum.h>
#include <mbedtls/ccm.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>

// ---------------------------------------------------------------------------
// mbedTLS 2.28 / 3.x shim. Everything version-dependent is in this block.
//
// - SHA-256: 2.28 names the int-returning functions mbedtls_sha256_*_ret()
//   (include/mbedtls/sha256.h of 2.28: mbedtls_sha256_starts_ret,
//   _update_ret, _finish_ret; the plain names are deprecated void functions,
//   gone under MBEDTLS_DEPRECATED_REMOVED). 3.x removed the _ret names and
//   made the plain ones return int (3.x include/mbedtls/sha256.h:
//   "int mbedtls_sha256_starts(mbedtls_sha256_context *ctx, int is224)").
// - ECDSA: we verify with mbedtls_ecdsa_verify(grp, hash, hlen, Q, r, s),
//   whose signature is the same in 2.28 and 3.x (include/mbedtls/ecdsa.h of
//   both), on a group, point and two bignums we own. That avoids
//   mbedtls_ecdsa_read_signature(), which needs the public key loaded into
//   the fields of an mbedtls_ecdsa_context (ctx->grp / ctx->Q in 2.28,
//   ctx->MBEDTLS_PRIVATE(grp) / MBEDTLS_PRIVATE(Q) in 3.x, see
//   include/mbedtls/private_access.h). We parse the DER ourselves (below), which
//   also makes the port as strict as OpenSSL about the encoding.
// - CCM: mbedtls_ccm_setkey / mbedtls_ccm_auth_decrypt keep their 2.28
//   signatures in 3.x (3.x include/mbedtls/ccm.h); both compare the tag in
//   constant time and zeroize the output on MBEDTLS_ERR_CCM_AUTH_FAILED.
// - mbedtls_ecp_group_load, mbedtls_ecp_point_read_binary,
//   mbedtls_ecp_check_pubkey and mbedtls_mpi_read_binary are unchanged
//   between 2.28 and 3.x (include/mbedtls/ecp.h, bignum.h).
// - 4.x (TF-PSA-Crypto) moves these legacy APIs out of the public headers
//   (include/mbedtls/private/...); a 4.x port would use the PSA API.
#if !defined(MBEDTLS_VERSION_MAJOR) || !defined(MBEDTLS_VERSION_NUMBER)
#error "mbedtls/version.h did not define MBEDTLS_VERSION_MAJOR / MBEDTLS_VERSION_NUMBER"
#elif MBEDTLS_VERSION_MAJOR >= 4
#error "mbedTLS 4.x: the legacy sha256/ccm/ecdsa APIs are private there; this port needs PSA"
#elif MBEDTLS_VERSION_MAJOR == 3
#define OTA_SHA256_STARTS(ctx) mbedtls_sha256_starts((ctx), 0)
#define OTA_SHA256_UPDATE(ctx, p, n) mbedtls_sha256_update((ctx), (p), (n))
#define OTA_SHA256_FINISH(ctx, out) mbedtls_sha256_finish((ctx), (out))
#elif MBEDTLS_VERSION_NUMBER >= 0x02070000
#define OTA_SHA256_STARTS(ctx) mbedtls_sha256_starts_ret((ctx), 0)
#define OTA_SHA256_UPDATE(ctx, p, n) mbedtls_sha256_update_ret((ctx), (p), (n))
#define OTA_SHA256_FINISH(ctx, out) mbedtls_sha256_finish_ret((ctx), (out))
#else
#error "mbedTLS older than 2.7 is not supported"
#endif

// The configuration must provide what docs/protocol.md uses. (2.28 reads its
// config through every header; 3.x through mbedtls/build_info.h.)
#if !defined(MBEDTLS_SHA256_C)
#error "mbedTLS config: MBEDTLS_SHA256_C is required"
#endif
#if !defined(MBEDTLS_CCM_C) || !defined(MBEDTLS_AES_C)
#error "mbedTLS config: MBEDTLS_CCM_C and MBEDTLS_AES_C are required"
#endif
#if !defined(MBEDTLS_ECDSA_C) || !defined(MBEDTLS_ECP_DP_SECP256R1_ENABLED)
#error "mbedTLS config: MBEDTLS_ECDSA_C and MBEDTLS_ECP_DP_SECP256R1_ENABLED are required"
#endif

namespace ota {
namespace {

// The SHA-256 context lives in the caller's Sha256State (no allocation).
// It is a plain C struct; mbedtls_sha256_init() gives it its value and only
// mbedTLS touches it through the pointer. With MBEDTLS_SHA256_ALT (ESP-IDF's
// hardware SHA) the context is the port's own struct, which must fit too.
static_assert(sizeof(mbedtls_sha256_context) <= sizeof(Sha256State::opaque),
              "mbedtls_sha256_context does not fit in ota::Sha256State");
static_assert(alignof(mbedtls_sha256_context) <= alignof(Sha256State),
              "mbedtls_sha256_context needs more alignment than ota::Sha256State");

mbedtls_sha256_context* sha_of(Sha256State* s) {
  return reinterpret_cast<mbedtls_sha256_context*>(s->opaque);
}

int sha256_begin(void* /*ctx*/, Sha256State* s) {
  mbedtls_sha256_context* c = sha_of(s);
  mbedtls_sha256_init(c);
  int rc = OTA_SHA256_STARTS(c);
  if (rc != 0) mbedtls_sha256_free(c);
  return rc;
}

int sha256_update(void* /*ctx*/, Sha256State* s, const uint8_t* data, size_t len) {
  if (len == 0) return 0;  // data may be null
  return OTA_SHA256_UPDATE(sha_of(s), data, len);
}

int sha256_finish(void* /*ctx*/, Sha256State* s, uint8_t digest[32]) {
  mbedtls_sha256_context* c = sha_of(s);
  int rc = OTA_SHA256_FINISH(c, digest);
  mbedtls_sha256_free(c);  // zeroizes the state
  if (rc != 0) mbedtls_platform_zeroize(digest, 32);
  return rc;
}

// One DER INTEGER holding a positive value below 2^256 (r or s of P-256),
// minimally encoded: short-form length 1..33, no sign bit set, no leading
// zero byte unless the next byte has its top bit set. Advances *p.
bool der_read_uint256(const uint8_t** p, const uint8_t* end, const uint8_t** value,
                      size_t* value_len) {
  const uint8_t* q = *p;
  if (end - q < 2 || q[0] != 0x02) return false;
  size_t n = q[1];
  q += 2;
  if (n < 1 || n > 33 || static_cast<size_t>(end - q) < n) return false;
  if (q[0] & 0x80) return false;                          // negative
  if (n > 1 && q[0] == 0x00 && !(q[1] & 0x80)) return false;  // not minimal
  if (n == 33 && q[0] != 0x00) return false;              // above 2^256
  *value = q;
  *value_len = n;
  *p = q + n;
  return true;
}

// Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } in strict DER, the
// whole buffer and nothing else. For P-256 every length fits the short form.
bool der_read_signature(const uint8_t* sig, size_t len, const uint8_t** r, size_t* r_len,
                        const uint8_t** s, size_t* s_len) {
  if (len < 8 || len > 72) return false;
  if (sig[0] != 0x30 || sig[1] != len - 2) return false;
  const uint8_t* p = sig + 2;
  const uint8_t* end = sig + len;
  if (!der_read_uint256(&p, end, r, r_len)) return false;
  if (!der_read_uint256(&p, end, s, s_len)) return false;
  return p == end;
}

// mbedTLS allocates the bignums of the group, the point and r/s (and the
// temporaries of the verification) on its own heap; all freed here.
int ecdsa_p256_verify(void* /*ctx*/, const uint8_t pub[65], const uint8_t digest[32],
                      const uint8_t* sig_der, size_t sig_len) {
  const uint8_t *r_bytes = nullptr, *s_bytes = nullptr;
  size_t r_len = 0, s_len = 0;
  if (sig_der == nullptr || !der_read_signature(sig_der, sig_len, &r_bytes, &r_len, &s_bytes,
                                                &s_len)) {
    return -1;
  }
  if (pub[0] != 0x04) return -1;  // uncompressed points only

  mbedtls_ecp_group grp;
  mbedtls_ecp_point q;
  mbedtls_mpi r, s;
  mbedtls_ecp_group_init(&grp);
  mbedtls_ecp_point_init(&q);
  mbedtls_mpi_init(&r);
  mbedtls_mpi_init(&s);

  int rc = mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1);
  if (rc == 0) rc = mbedtls_ecp_point_read_binary(&grp, &q, pub, 65);
  // read_binary does not check the curve equation; a point off the curve
  // is refused here (ecp.h: "see mbedtls_ecp_check_pubkey() for that").
  if (rc == 0) rc = mbedtls_ecp_check_pubkey(&grp, &q);
  if (rc == 0) rc = mbedtls_mpi_read_binary(&r, r_bytes, r_len);
  if (rc == 0) rc = mbedtls_mpi_read_binary(&s, s_bytes, s_len);
  // Checks 1 <= r, s < n itself.
  if (rc == 0) rc = mbedtls_ecdsa_verify(&grp, digest, 32, &q, &r, &s);

  mbedtls_mpi_free(&s);
  mbedtls_mpi_free(&r);
  mbedtls_ecp_point_free(&q);
  mbedtls_ecp_group_free(&grp);
  return rc;
}

// mbedtls_ccm_auth_decrypt checks the tag in constant time and zeroizes
// `out` when it does not match (ccm.c in 2.28 and 3.x). It works in place
// (in == out): each block is read before it is written. We wipe `out` on
// every other failure as well. mbedtls_ccm_setkey allocates the AES context
// inside mbedtls_cipher (2.28; 3.x unless MBEDTLS_BLOCK_CIPHER_C);
// mbedtls_ccm_free releases and zeroizes it.
int aes256_ccm_decrypt(void* /*ctx*/, const uint8_t key[32], const uint8_t nonce[13],
                       const uint8_t* in, size_t len, const uint8_t tag[16], uint8_t* out) {
  if (len > 65535) {  // L = 2 with a 13-byte nonce
    if (out != nullptr) mbedtls_platform_zeroize(out, len);
    return -1;
  }
  mbedtls_ccm_context ccm;
  mbedtls_ccm_init(&ccm);
  int rc = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 256);
  if (rc == 0) {
    rc = mbedtls_ccm_auth_decrypt(&ccm, len, nonce, 13, nullptr, 0, in, out, tag, 16);
  }
  mbedtls_ccm_free(&ccm);
  if (rc != 0 && out != nullptr && len != 0) mbedtls_platform_zeroize(out, len);
  return rc;
}

}  // namespace

CryptoPort mbedtls_crypto_port() {
  CryptoPort port;
  port.ctx = nullptr;
  port.sha256_begin = sha256_begin;
  port.sha256_update = sha256_update;
  port.sha256_finish = sha256_finish;
  port.ecdsa_p256_verify = ecdsa_p256_verify;
  port.aes256_ccm_decrypt = aes256_ccm_decrypt;
  return port;
}

}  // namespace ota
