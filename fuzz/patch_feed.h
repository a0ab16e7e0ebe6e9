// Shared by the patch decoder's fuzz targets: the decoder fed a patch in
// pieces against an OLD image held here, with ports that abort on what
// would be a decoder bug (a port call before the header is accepted, a read
// outside the header's old image, a write past its new_size).
#ifndef OTA_FUZZ_PATCH_FEED_H
#define OTA_FUZZ_PATCH_FEED_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ota/crc32.h"
#include "ota/patch_decoder.h"

namespace fuzz {

struct PatchFeed {
  uint8_t old_image[16 * 1024];
  uint32_t old_len = 0;  // bytes of old_image the fake flash holds
  uint32_t written = 0;
  ota::PatchDecoder decoder;
};

inline PatchFeed g_feed;

inline int feed_read_old(void*, uint32_t offset, uint8_t* buf, uint32_t len) {
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_feed.decoder);
  if (!h || (uint64_t)offset + len > h->old_size) abort();
  if ((uint64_t)offset + len > g_feed.old_len) return -1;  // the fake flash is smaller
  memcpy(buf, g_feed.old_image + offset, len);
  return 0;
}

inline int feed_write_new(void*, const uint8_t*, uint32_t len) {
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_feed.decoder);
  g_feed.written += len;
  if (!h || g_feed.written > h->new_size) abort();
  return 0;
}

// Feeds `size` bytes of patch (at most 64 KiB) against g_feed.old_image, in
// pieces of (control & 0x3F) + 1 bytes; control bit 7 recomputes the header
// CRC first, so that mutations of header fields reach the checks behind it.
inline void feed_patch(uint8_t control, const uint8_t* data, size_t size) {
  static uint8_t patch[1 << 16];
  if (size > sizeof(patch)) return;
  memcpy(patch, data, size);
  if ((control & 0x80) && size >= ota::kPatchHeaderSize)
    ota::store_le32(patch + 104, ota::crc32_update(0, patch, 104));
  static const ota::PatchIo io = {nullptr, feed_read_old, feed_write_new, nullptr, nullptr, nullptr};
  alignas(4) static uint8_t workspace[48 * 1024];
  ota::PatchDecoder* d = &g_feed.decoder;
  ota::patch_decoder_init(d, &io, workspace, sizeof(workspace));
  g_feed.written = 0;
  size_t off = 0, step = (size_t)(control & 0x3F) + 1;
  while (off < size) {
    size_t n = size - off < step ? size - off : step;
    ota::Status s = ota::patch_decoder_feed(d, patch + off, n);
    if (ota::status_is_error(s)) break;
    off += n;
  }
  ota::patch_decoder_finish(d);
}

}  // namespace fuzz

#endif  // OTA_FUZZ_PATCH_FEED_H
