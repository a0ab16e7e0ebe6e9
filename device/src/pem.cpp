// PEM "PUBLIC KEY" for P-256 (RFC 7468 §13, RFC 5480) and hex.
//
// The SubjectPublicKeyInfo of an uncompressed P-256 key is always 91 bytes:
//   30 59                      SEQUENCE, 89 bytes
//     30 13                    SEQUENCE (AlgorithmIdentifier), 19 bytes
//       06 07 2a8648ce3d0201   OID 1.2.840.10045.2.1 id-ecPublicKey
//       06 08 2a8648ce3d030107 OID 1.2.840.10045.3.1.7 prime256v1
//     03 42 00                 BIT STRING, 66 bytes, no unused bits
//       04 X(32) Y(32)         the uncompressed point (SEC 1 §2.3.3)
// so the key is checked by comparing the first 26 bytes exactly.
#include "ota/pem.h"

#include <string.h>

namespace ota {
namespace {

constexpr uint8_t kSpkiPrefix[26] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                     0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                     0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
constexpr size_t kPointSize = 65;
constexpr size_t kSpkiSize = sizeof kSpkiPrefix + kPointSize;  // 91

constexpr char kBegin[] = "-----BEGIN PUBLIC KEY-----";
constexpr char kEnd[] = "-----END PUBLIC KEY-----";

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// 0..63 for a base64 character (RFC 4648 §4 alphabet), -1 otherwise.
int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// Decodes the base64 text in [p, p + n), whitespace ignored, into exactly
// cap bytes. Refuses other characters, misplaced or non-canonical padding,
// a length that is not a whole number of 4-char groups, and a decoded
// length other than cap.
bool b64_decode_exact(const char* p, size_t n, uint8_t* out, size_t cap) {
  size_t produced = 0;
  uint32_t group = 0;  // the sextets of the current group
  int chars = 0;       // characters in the current group, '=' included
  int pad = 0;         // '=' in the current group
  bool ended = false;  // a padded group ends the text
  for (size_t i = 0; i < n; ++i) {
    const char c = p[i];
    if (is_space(c)) continue;
    if (ended) return false;
    if (c == '=') {
      if (chars < 2) return false;  // only as the 3rd or 4th of a group
      ++pad;
    } else {
      const int v = b64_value(c);
      if (v < 0 || pad > 0) return false;
      group |= static_cast<uint32_t>(v) << (18 - 6 * chars);
    }
    if (++chars < 4) continue;
    // Canonical: the bits below the last decoded byte are zero.
    if ((pad == 1 && (group & 0xFF) != 0) || (pad == 2 && (group & 0xFFFF) != 0)) return false;
    const size_t bytes = static_cast<size_t>(3 - pad);
    if (cap - produced < bytes) return false;
    for (size_t b = 0; b < bytes; ++b) out[produced++] = static_cast<uint8_t>(group >> (16 - 8 * b));
    ended = pad > 0;
    group = 0;
    chars = 0;
    pad = 0;
  }
  return chars == 0 && produced == cap;
}

// The label line at text[*i]: the exact marker, then optional spaces/tabs
// and a line end (CRLF or LF) or the end of the text.
bool match_line(const char* text, size_t len, size_t* i, const char* marker, size_t marker_len) {
  if (len - *i < marker_len || memcmp(text + *i, marker, marker_len) != 0) return false;
  size_t j = *i + marker_len;
  while (j < len && (text[j] == ' ' || text[j] == '\t')) ++j;
  if (j < len && text[j] == '\r') ++j;
  if (j < len) {
    if (text[j] != '\n') return false;
    ++j;
  }
  *i = j;
  return true;
}

Status parse(const char* pem, size_t len, uint8_t out[65]) {
  size_t i = 0;
  while (i < len && is_space(pem[i])) ++i;
  if (!match_line(pem, len, &i, kBegin, sizeof kBegin - 1)) return kStatusBadArgument;
  // The body runs to the next '-'; base64 never contains one.
  const size_t body = i;
  while (i < len && pem[i] != '-') ++i;
  const size_t body_len = i - body;
  if (!match_line(pem, len, &i, kEnd, sizeof kEnd - 1)) return kStatusBadArgument;
  while (i < len && is_space(pem[i])) ++i;
  if (i != len) return kStatusBadArgument;

  uint8_t der[kSpkiSize];
  if (!b64_decode_exact(pem + body, body_len, der, sizeof der)) return kStatusBadArgument;
  if (memcmp(der, kSpkiPrefix, sizeof kSpkiPrefix) != 0) return kStatusBadArgument;
  const uint8_t* point = der + sizeof kSpkiPrefix;
  if (point[0] != 0x04) return kStatusBadArgument;
  memcpy(out, point, kPointSize);
  return kStatusOk;
}

}  // namespace

Status pem_p256_public_key(const char* pem, size_t len, uint8_t out[65]) {
  if (!out) return kStatusBadArgument;
  memset(out, 0, kPointSize);
  if (!pem) return kStatusBadArgument;
  const Status st = parse(pem, len, out);
  if (st != kStatusOk) memset(out, 0, kPointSize);
  return st;
}

void hex_encode(const uint8_t* in, size_t n, char* out) {
  static const char kDigits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[in[i] >> 4];
    out[2 * i + 1] = kDigits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

bool hex_decode(const char* in, size_t in_len, uint8_t* out, size_t out_len) {
  if (out_len > 0 && !out) return false;
  bool ok = in_len / 2 == out_len && in_len % 2 == 0 && (in || in_len == 0);
  for (size_t i = 0; ok && i < out_len; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      const char c = in[2 * i + static_cast<size_t>(k)];
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else d = -1;
      if (d < 0) {
        ok = false;
        break;
      }
      v = (v << 4) | d;
    }
    if (ok) out[i] = static_cast<uint8_t>(v);
  }
  if (!ok && out) memset(out, 0, out_len);
  return ok;
}

}  // namespace ota
