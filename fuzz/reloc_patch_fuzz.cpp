// libFuzzer target: a firmware-aware patch (transform 1, docs/reloc.md)
// against an OLD image that is itself part of the input, so that mutations
// reach the side-data parser, the segment-table checks and T on arbitrary
// images and maps. The decoder must never crash, never read outside the
// header's old image, never write past new_size.
// Input: one control byte (bits 0-5: feed step - 1; bit 7: recompute the
// patch header's CRC), OLD's length (2 bytes little endian, at most 16 KiB),
// OLD, then the patch. Seeds in fuzz/seeds/reloc_patch are real
// firmware-aware patches of small ESP32 and ESP32-C3 images
// (fuzz/make-reloc-seeds.sh).
#include "patch_feed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  uint32_t old_len = (uint32_t)data[1] | ((uint32_t)data[2] << 8);
  if (old_len > sizeof(fuzz::g_feed.old_image) || old_len > size - 3) return 0;
  memcpy(fuzz::g_feed.old_image, data + 3, old_len);
  fuzz::g_feed.old_len = old_len;
  fuzz::feed_patch(data[0], data + 3 + old_len, size - 3 - old_len);
  return 0;
}
