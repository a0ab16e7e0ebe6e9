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
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota/crc32.h"
#include "ota/patch_decoder.h"

namespace {

uint8_t g_old[16 * 1024];
uint32_t g_old_len;
uint32_t g_written;
ota::PatchDecoder g_decoder;

int read_old(void*, uint32_t offset, uint8_t* buf, uint32_t len) {
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_decoder);
  if (!h || (uint64_t)offset + len > h->old_size) abort();  // outside the header's image: a bug
  if ((uint64_t)offset + len > g_old_len) return -1;         // our fake flash is smaller
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
  if (size < 3) return 0;
  uint8_t control = data[0];
  uint32_t old_len = (uint32_t)data[1] | ((uint32_t)data[2] << 8);
  data += 3;
  size -= 3;
  if (old_len > sizeof(g_old) || old_len > size) return 0;
  memcpy(g_old, data, old_len);
  g_old_len = old_len;
  data += old_len;
  size -= old_len;
  static uint8_t patch[1 << 16];
  if (size > sizeof(patch)) return 0;
  memcpy(patch, data, size);
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
    ota::Status s = ota::patch_decoder_feed(d, patch + off, n);
    if (ota::status_is_error(s)) break;
    off += n;
  }
  ota::patch_decoder_finish(d);
  return 0;
}
