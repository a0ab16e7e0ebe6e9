// Measures and checks an ESP32 application image in place, read through a
// callback: the device reads its own OTA slot through the flash port and
// never holds the image in RAM.
//
// The layout (ESP-IDF bootloader_support esp_app_format.h and
// esp_image_format.h; esptool's firmware image format), little-endian:
//   0   esp_image_header_t, 24 bytes: magic 0xE9, segment count, SPI mode,
//       SPI speed/size, entry address (4), WP pin, pin drive (3), chip id (2),
//       min chip revision (1), min/max full revision (2 + 2), reserved (4),
//       hash_appended (1);
//   24  segments, each an 8-byte header (load address, data length) and its
//       data; the first segment of an application starts with esp_app_desc_t;
//   ..  zero padding to the next 16-byte boundary minus one, then the
//       checksum byte: 0xEF XOR every segment data byte;
//   ..  when hash_appended is 1, SHA-256 of every byte before it (32 bytes).
//
// No heap, no exceptions; reads of at most 256 bytes; SHA-256 through the
// CryptoPort.
#ifndef OTA_ESP_IMAGE_H
#define OTA_ESP_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "ota/crypto_port.h"
#include "ota/status.h"

namespace ota {

constexpr uint32_t kEspImageMaxSegments = 16;  // ESP_IMAGE_MAX_SEGMENTS

struct EspImageInfo {
  uint32_t size;          // bytes of the whole image: header, segments, padding + checksum byte, appended SHA-256 if any
  uint16_t chip_id;       // esp_image_header_t.chip_id (0 ESP32, 5 ESP32-C3, 9 ESP32-S3, ...)
  uint8_t segment_count;
  uint8_t hash_appended;
  uint32_t entry_addr;
  uint8_t has_app_desc;   // esp_app_desc_t found (magic 0xABCD5432 at the start of the first segment's data)
  uint32_t secure_version;
  char version[33];       // esp_app_desc_t.version, NUL-terminated (empty without app desc)
  char project_name[33];
};

// Reads len (1..256) bytes at offset into buf; returns 0 on success.
typedef int (*EspReadFn)(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len);

// Walks the header and segment headers within [0, limit), computes the size,
// verifies the XOR checksum byte (0xEF seed) over all segment data, and when
// `crypto` is non-null and a hash is appended, verifies the appended SHA-256
// over everything before it. Bytes from info->size up to `limit` are not
// looked at (a flash slot is larger than the image it holds).
//
// Refused as kStatusBadImage, with no read outside [0, limit) whatever the
// bytes: magic other than 0xE9; segment count 0 or above 16; chip id 0xFFFF;
// hash_appended other than 0 or 1; a segment length that is not a multiple
// of 4; any part of the image (checksum byte and appended digest included)
// beyond `limit`; a checksum or digest mismatch.
//
// has_app_desc is set when the first segment holds at least the 256 bytes
// of esp_app_desc_t and begins with its magic; version and project_name are
// then its strings up to the first NUL, with any byte outside printable
// ASCII replaced by '?'.
//
// Returns kStatusOk (and fills *info if non-null), kStatusBadImage,
// kStatusReadError when `read` fails, kStatusHashError when the crypto port
// fails, or kStatusBadArgument when `read` is null. On failure *info is
// zeroed. Every SHA-256 begun is finished, on failure paths too.
Status esp_image_check(EspReadFn read, void* ctx, uint32_t limit, const CryptoPort* crypto,
                       EspImageInfo* info);

}  // namespace ota

#endif  // OTA_ESP_IMAGE_H
