// Synthetic firmware for tests and `make demo` when the real corpus is
// absent: bytes that look like firmware, a "next release" of them, and a
// valid ESP32 application image around them (header, segments with the app
// descriptor, checksum, appended SHA-256).
#ifndef OTA_FWGEN_H
#define OTA_FWGEN_H

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace ota::fwgen {

// Bytes that look like firmware: code-like runs, tables, strings, padding.
std::vector<uint8_t> synthetic_image(std::mt19937& rng, size_t size);

// A "next release" of `base`: edits, insertions, deletions and shifted
// 32-bit pointers, like a rebuild with small source changes.
std::vector<uint8_t> mutate_image(std::mt19937& rng, const std::vector<uint8_t>& base, int edits);

// A valid ESP32 application image (header, a DROM segment starting with
// the app descriptor, an IROM segment holding `code`, an IRAM segment;
// checksum and appended SHA-256), for chip 0 (ESP32) or 5 (ESP32-C3), with
// load addresses in that chip's memory map.
std::vector<uint8_t> synthetic_esp32_app(const std::string& version, const std::string& project,
                                         const std::vector<uint8_t>& code, uint16_t chip_id = 0);

}  // namespace ota::fwgen

#endif  // OTA_FWGEN_H
