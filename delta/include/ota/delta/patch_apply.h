// Applies a patch on the host with the device core's own decoder, so the
// server and the tools verify patches exactly as devices will apply them.
#ifndef OTA_DELTA_PATCH_APPLY_H
#define OTA_DELTA_PATCH_APPLY_H

#include <cstdint>
#include <span>
#include <vector>

#include "ota/patch_decoder.h"

namespace ota::delta {

struct ApplyResult {
  Status status = kStatusOk;  // kStatusDone on success
  PatchHeader header{};       // valid when header_ok
  bool header_ok = false;
};

// Decodes `patch` against `old_image` into *out with hash checks on, feeding
// the decoder `chunk` bytes at a time (0 = all at once). `ram_budget` is the
// workspace the simulated device offers. *out holds what was written even on
// failure (callers must not keep it).
ApplyResult apply_patch(std::span<const uint8_t> old_image, std::span<const uint8_t> patch,
                        std::vector<uint8_t>* out, uint32_t ram_budget = 1u << 26,
                        size_t chunk = 0);

}  // namespace ota::delta

#endif  // OTA_DELTA_PATCH_APPLY_H
