// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as zlib's crc32().
// Table-free so that it costs the device no RAM and little flash; it only
// covers the 104 header bytes.
#ifndef OTA_CRC32_H
#define OTA_CRC32_H

#include <stddef.h>
#include <stdint.h>

namespace ota {

// Continues a CRC: crc32_update(crc32_update(0, a, n), b, m) == CRC of a|b.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t len);

}  // namespace ota

#endif  // OTA_CRC32_H
