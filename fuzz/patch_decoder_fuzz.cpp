// libFuzzer target: arbitrary bytes as a patch against a fixed old image,
// fed in pieces whose sizes come from the input. The decoder must never
// crash, never read outside the old image, never write past new_size.
// Inputs that start with a valid header reach the codec and instruction
// parser: the fuzzer learns the CRC from the seeds `make fuzz` provides.
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
  uint8_t split = data[0];
  data++;
  size--;
  static const ota::PatchIo io = {nullptr, read_old, write_new, nullptr, nullptr, nullptr};
  alignas(4) static uint8_t workspace[48 * 1024];
  ota::PatchDecoder* d = &g_decoder;
  ota::patch_decoder_init(d, &io, workspace, sizeof(workspace));
  g_written = 0;
  size_t off = 0, step = (size_t)(split & 0x3F) + 1;
  while (off < size) {
    size_t n = size - off < step ? size - off : step;
    ota::Status s = ota::patch_decoder_feed(d, data + off, n);
    if (ota::status_is_error(s)) break;
    off += n;
  }
  ota::patch_decoder_finish(d);
  return 0;
}
