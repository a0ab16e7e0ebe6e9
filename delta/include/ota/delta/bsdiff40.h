// The classic BSDIFF40 patch (bsdiff 4.x: three bzip2 blocks), written from
// our own records so users can cross-check our matcher with Debian's bspatch.
#ifndef OTA_DELTA_BSDIFF40_H
#define OTA_DELTA_BSDIFF40_H

#include <cstdint>
#include <span>
#include <vector>

#include "ota/delta/matcher.h"

namespace ota::delta {

std::vector<uint8_t> make_bsdiff40(std::span<const uint8_t> old_image,
                                   std::span<const uint8_t> new_image,
                                   const MatchOptions& options = {});

}  // namespace ota::delta

#endif  // OTA_DELTA_BSDIFF40_H
