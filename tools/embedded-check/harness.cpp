// Link harness for the embedded cross-check (tools/embedded-check): calls the
// device core's public API the way firmware would, with every object in
// static memory, so that linking it with -nostdlib proves the core needs no
// heap, no exceptions and no C++ runtime. It is linked, never run.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/lzma_decoder.h"
#include "ota/patch_decoder.h"
#include "ota/status.h"

namespace {

// Stand-ins for the flash partitions and the network: external-linkage
// arrays (see below) whose contents the compiler cannot know, so nothing
// folds away.
constexpr uint32_t kOldSize = 4096;
constexpr uint32_t kWorkspaceSize = 32 * 1024;  // DESIGN.md §5 default budget

alignas(4) uint8_t g_workspace[kWorkspaceSize];
ota::PatchDecoder g_decoder;
ota::LzmaDecoder g_lzma;
uint8_t g_lzma_out[256];
uint32_t g_written;
uint32_t g_checksum;

int read_old(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  const uint8_t* old_image = static_cast<const uint8_t*>(ctx);
  if (offset > kOldSize || len > kOldSize - offset) return 1;
  memcpy(buf, old_image + offset, len);
  return 0;
}

int write_new(void*, const uint8_t* buf, uint32_t len) {
  for (uint32_t i = 0; i < len; ++i) g_checksum = g_checksum * 31u + buf[i];
  g_written += len;
  return 0;
}

}  // namespace

extern "C" {
uint8_t ota_harness_old_image[kOldSize];
uint8_t ota_harness_patch[1024];
volatile uint32_t ota_harness_patch_len;
volatile uint32_t ota_harness_chunk;
volatile uint32_t ota_harness_sink;

int ota_embedded_harness(void);
}

int ota_embedded_harness(void) {
  // The patch decoder, fed in network-sized chunks, hashes skipped.
  static const ota::PatchIo io = {ota_harness_old_image, read_old, write_new, nullptr, nullptr,
                                  nullptr};
  ota::Status s = ota::patch_decoder_init(&g_decoder, &io, g_workspace, kWorkspaceSize);
  const uint32_t len = ota_harness_patch_len;
  const uint32_t total = len < sizeof ota_harness_patch ? len : sizeof ota_harness_patch;
  const uint32_t chunk = ota_harness_chunk ? ota_harness_chunk : 1;
  for (uint32_t at = 0; !ota::status_is_error(s) && at < total; at += chunk) {
    const uint32_t n = total - at < chunk ? total - at : chunk;
    s = ota::patch_decoder_feed(&g_decoder, ota_harness_patch + at, n);
  }
  if (!ota::status_is_error(s)) s = ota::patch_decoder_finish(&g_decoder);
  const ota::PatchHeader* h = ota::patch_decoder_header(&g_decoder);
  ota_harness_sink = h ? h->new_size : 0u;
  ota_harness_sink = static_cast<uint32_t>(strlen(ota::status_message(s)));

  // The raw LZMA decoder on its own.
  const uint32_t need = ota::lzma_workspace_size(3, 0, 4096);
  if (need <= kWorkspaceSize &&
      ota::lzma_init(&g_lzma, 3, 0, 2, 4096, g_workspace, kWorkspaceSize, sizeof g_lzma_out) ==
          ota::kLzmaOk) {
    size_t in_len = total;
    size_t out_len = sizeof g_lzma_out;
    ota::LzmaResult r =
        ota::lzma_decode(&g_lzma, ota_harness_patch, &in_len, g_lzma_out, &out_len);
    ota_harness_sink = static_cast<uint32_t>(r) + g_lzma_out[0];
  }
  return static_cast<int>(s) + static_cast<int>(g_written + g_checksum);
}
