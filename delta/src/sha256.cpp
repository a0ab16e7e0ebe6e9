#include "ota/delta/sha256.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace ota::delta {

Digest sha256(std::span<const uint8_t> data) {
  Digest d{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != d.size())
    throw std::runtime_error("SHA-256 failed");
  return d;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

}  // namespace ota::delta
