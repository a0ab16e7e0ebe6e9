// libFuzzer target: arbitrary bytes as a patch against a fixed old image,
// fed in pieces whose sizes come from the input. The decoder must never
// crash, never read outside the old image, never write past new_size.
// Input: one control byte (bits 0-5: feed step - 1; bit 7: recompute the
// header CRC, so mutations of header fields reach the checks behind the
// CRC), then the patch. Seeds in fuzz/seeds/patch_decoder are real patches
// against the old image below (fuzz/make-seeds.sh).
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota/crc32.h"
#include "ota/patch_decoder.h"

namespace {

uint8_t g_old[4096];
uint32_t g_written;
ota::PatchDecoder g_decoder;

// Port calls before the header is accepted, reads outside the header's old
// image and writes past its new_size are decoder bugs: abort so the fuzzer
// reports them.
int read_old(void*, uint32_t offset, uint8_t* buf, uint32_t len) {
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_decoder);
  if (!h || (uint64_t)offset + len > h->old_size) abort();
  if ((uint64_t)offset + len > sizeof(g_old)) return -1;  // our fake flash is smaller
  memcpy(buf, g_old + offset, len);
  return 0;
}

int write_new(void*, const uint8_t*, uint32_t len) {
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_decoder);
  g_written += len;
  if (!h || g_written > h->new_size) abort();
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (size_t i = 0; i < sizeof(g_old); ++i) g_old[i] = (uint8_t)(i * 31 + (i >> 7));
  if (size < 1) return 0;
  uint8_t control = data[0];
  static uint8_t patch[1 << 16];
  if (size - 1 > sizeof(patch)) return 0;
  memcpy(patch, data + 1, size - 1);
  data = patch;
  size--;
  if ((control & 0x80) && size >= ota::kPatchHeaderSize)
    ota::store_le32(patch + 104, ota::crc32_update(0, patch, 104));
  static const ota::PatchIo io = {nullptr, read_old, write_new, nullptr, nullptr, nullptr};
  alignas(4) static uint8_t workspace[48 * 1024];
  ota::PatchDecoder* d = &g_decoder;
  ota::patch_decoder_init(d, &io, workspace, sizeof(workspace));
  g_written = 0;
  size_t off = 0, step = (size_t)(control & 0x3F) + 1;
  while (off < size) {
    size_t n = size - off < step ? size - off : step;
    ota::Status s = ota::patch_decoder_feed(d, data + off, n);
    if (ota::status_is_error(s)) break;
    off += n;
  }
  ota::patch_decoder_finish(d);
  return 0;
}
