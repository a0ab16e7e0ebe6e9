// Makes version-1 patches (docs/format.md): match, lay the records out as one
// sequential instruction stream, compress it, prepend the header.
#ifndef OTA_DELTA_PATCH_ENCODER_H
#define OTA_DELTA_PATCH_ENCODER_H

#include <cstdint>
#include <span>
#include <vector>

#include "ota/delta/matcher.h"
#include "ota/patch_format.h"

namespace ota::delta {

// The default keeps a device's RAM for applying the patch within 32 KiB
// (docs/format.md, "Device RAM").
constexpr uint32_t kDefaultDictSize = 16 * 1024;

struct EncodeOptions {
  Codec codec = kCodecLzma;
  uint32_t dict_size = kDefaultDictSize;  // LZMA dictionary (device RAM)
  uint8_t lc = 1, lp = 0, pb = 0;          // LZMA literal/position context bits
  MatchOptions match;
  // An add shorter than this whose OLD bytes lie outside the 4 KiB block
  // the previous add read last becomes literal bytes of NEW
  // (squash_excursions). 0 keeps every add.
  uint32_t min_excursion = 16;
};

// Short excursions: an add of fewer than `min_len` bytes that reads OLD
// outside the 4 KiB block (at a 4 KiB offset) where the previous kept add
// ended is merged into the record before it, as inserted bytes; the old
// cursor moves as before. Such adds cost three varints for a few bytes, and
// a firmware-aware device refills its T(OLD) block cache for each
// (docs/reloc.md, "Device CPU"). The records still cover NEW exactly.
std::vector<Record> squash_excursions(const std::vector<Record>& records, uint32_t min_len);

// Serializes records to the instruction stream the device parses.
// REQUIRES: records cover new_image exactly and stay inside old_image.
std::vector<uint8_t> build_instruction_stream(std::span<const uint8_t> old_image,
                                              std::span<const uint8_t> new_image,
                                              const std::vector<Record>& records);

// The whole patch. Throws std::invalid_argument for options out of range
// and std::runtime_error if compression fails.
std::vector<uint8_t> make_patch(std::span<const uint8_t> old_image,
                                std::span<const uint8_t> new_image,
                                const EncodeOptions& options = {});

// The same from records already matched (match_images(old, new, options.match)),
// for callers that need the records for something else too.
std::vector<uint8_t> make_patch_from_records(std::span<const uint8_t> old_image,
                                             std::span<const uint8_t> new_image,
                                             const std::vector<Record>& records,
                                             const EncodeOptions& options = {});

}  // namespace ota::delta

#endif  // OTA_DELTA_PATCH_ENCODER_H
