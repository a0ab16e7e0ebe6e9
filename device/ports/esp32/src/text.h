// Bounded string building for the ESP32 ports (URLs, headers), without
// stdio: the ports format nothing else, and this keeps them free of printf
// format/type pitfalls (uint32_t is `unsigned long` on ESP-IDF 5 toolchains).
#ifndef OTA_ESP32_TEXT_H
#define OTA_ESP32_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "ota/text.h"

namespace ota {
namespace esp32 {
namespace text {

// Appends s to dst (capacity cap, NUL-terminated, *len bytes used).
// False when it does not fit; dst then holds a truncated, terminated string.
inline bool append(char* dst, size_t cap, size_t* len, const char* s) {
  while (s && *s) {
    if (*len + 1 >= cap) {
      dst[*len] = 0;
      return false;
    }
    dst[(*len)++] = *s++;
  }
  dst[*len] = 0;
  return true;
}

inline bool append_u32(char* dst, size_t cap, size_t* len, uint32_t v) {
  char out[11];
  format_u32(v, out);
  return append(dst, cap, len, out);
}

inline bool starts_with(const char* s, const char* prefix) {
  while (*prefix) {
    char c = *s++;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != *prefix++) return false;
  }
  return true;
}

}  // namespace text
}  // namespace esp32
}  // namespace ota

#endif  // OTA_ESP32_TEXT_H
