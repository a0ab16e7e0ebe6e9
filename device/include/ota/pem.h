// Key text the device reads at provisioning: the server's P-256 public key
// as PEM, and hex strings. No heap.
#ifndef OTA_PEM_H
#define OTA_PEM_H

#include <stddef.h>
#include <stdint.h>

#include "ota/status.h"

namespace ota {

// The uncompressed P-256 point from a PEM "PUBLIC KEY" (SubjectPublicKeyInfo, id-ecPublicKey, prime256v1), as `openssl ec -pubout` writes it (the provisioning bundle's server_pub.pem). kStatusOk or kStatusBadArgument.
//
// Accepted: optional whitespace, "-----BEGIN PUBLIC KEY-----", base64 lines
// (LF or CRLF; spaces and tabs ignored; canonical padding), "-----END PUBLIC
// KEY-----", optional whitespace; exactly len bytes (no NUL needed). The
// DER must be the 91-byte SubjectPublicKeyInfo of an uncompressed P-256
// point: its fixed 26-byte prefix, then 0x04 || X || Y. Whether the point
// is on the curve is left to the signature check (the crypto port). On
// failure out is zeroed.
Status pem_p256_public_key(const char* pem, size_t len, uint8_t out[65]);

// Hex helpers: lowercase encode (out gets 2n chars + NUL); decode accepts upper/lower case, exact length.
// hex_decode is true when in_len == 2 * out_len and every char is a hex
// digit; on false out is zeroed.
void hex_encode(const uint8_t* in, size_t n, char* out);
bool hex_decode(const char* in, size_t in_len, uint8_t* out, size_t out_len);

}  // namespace ota

#endif  // OTA_PEM_H
