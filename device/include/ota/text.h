// Small text helpers shared by the device core and its ports (no stdio:
// the device formats only decimal numbers into paths and headers).
#ifndef OTA_TEXT_H
#define OTA_TEXT_H

#include <stddef.h>
#include <stdint.h>

namespace ota {

// Writes v in decimal, NUL-terminated, into out (at most 10 digits + NUL);
// returns the number of digits.
inline size_t format_u32(uint32_t v, char out[11]) {
  char digits[10];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = 0;
  return n;
}

}  // namespace ota

#endif  // OTA_TEXT_H
