// Raw LZMA1 compression with liblzma, in the exact form the device decoder
// reads: LZMA_FILTER_LZMA1EXT, no header, no end marker.
#ifndef OTA_DELTA_LZMA_COMPRESS_H
#define OTA_DELTA_LZMA_COMPRESS_H

#include <cstdint>
#include <span>
#include <vector>

namespace ota::delta {

struct LzmaParams {
  uint32_t dict_size;
  uint8_t lc, lp, pb;
};

// Throws std::runtime_error when liblzma refuses the parameters.
std::vector<uint8_t> lzma_compress_raw(std::span<const uint8_t> data, const LzmaParams& params);

}  // namespace ota::delta

#endif  // OTA_DELTA_LZMA_COMPRESS_H
