// SHA-256 on the host (OpenSSL), and a PatchIo hash adaptor for the device
// decoder when it runs on the host.
#ifndef OTA_DELTA_SHA256_H
#define OTA_DELTA_SHA256_H

#include <array>
#include <cstdint>
#include <span>
#include <string>

namespace ota::delta {

using Digest = std::array<uint8_t, 32>;

Digest sha256(std::span<const uint8_t> data);
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace ota::delta

#endif  // OTA_DELTA_SHA256_H
