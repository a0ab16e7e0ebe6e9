// Small helpers shared by the services (private).
#ifndef OTA_SERVER_SERVICE_UTIL_H
#define OTA_SERVER_SERVICE_UTIL_H

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ota/delta/sha256.h"

namespace ota::server {

inline int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string hex(std::span<const uint8_t> b) { return delta::to_hex(b); }

// REQUIRES: s is lowercase hex of even length (as hex() writes it).
inline std::vector<uint8_t> unhex(const std::string& s) {
  auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = static_cast<uint8_t>(nib(s[2 * i]) << 4 | nib(s[2 * i + 1]));
  return out;
}

}  // namespace ota::server

#endif  // OTA_SERVER_SERVICE_UTIL_H
