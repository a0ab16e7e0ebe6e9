// libFuzzer target: arbitrary bytes as a patch against a fixed old image,
// fed in pieces whose sizes come from the input. The decoder must never
// crash, never read outside the old image, never write past new_size.
// Input: one control byte (bits 0-5: feed step - 1; bit 7: recompute the
// header CRC, so mutations of header fields reach the checks behind the
// CRC), then the patch. Seeds in fuzz/seeds/patch_decoder are real patches
// against the old image below (fuzz/make-seeds.sh).
#include "patch_feed.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  for (uint32_t i = 0; i < 4096; ++i) fuzz::g_feed.old_image[i] = (uint8_t)(i * 31 + (i >> 7));
  fuzz::g_feed.old_len = 4096;
  fuzz::feed_patch(data[0], data + 1, size - 1);
  return 0;
}
