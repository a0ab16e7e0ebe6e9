// The device's patch decoder: fed patch bytes as the network delivers them
// (any split), it reads the old image at random through a port and writes
// the new image strictly in order through the same port.
//
// Contract, in the spirit of zlib's inflate():
//   PatchDecoder d;                      // caller-owned, fixed size
//   patch_decoder_init(&d, &io, workspace, workspace_size);
//   while (bytes arrive) {
//     Status s = patch_decoder_feed(&d, bytes, n);
//     if (status_is_error(s)) -> abort: nothing more is written
//   }
//   Status s = patch_decoder_finish(&d);  // kStatusDone: image verified
//
// Guarantees:
// - Nothing is written before the header is accepted, the codec fits the
//   workspace (the device's RAM budget) and, when a hash port is given, the
//   old image's SHA-256 equals the header's.
// - Never writes past new_size, never reads outside [0, old_size).
// - kStatusDone only when every byte of the patch was consumed, exactly
//   new_size bytes were written and (with a hash port) their SHA-256 equals
//   the header's.
// - After an error, feed() returns kStatusAfterError and does nothing;
//   finish() returns the first error again.
#ifndef OTA_PATCH_DECODER_H
#define OTA_PATCH_DECODER_H

#include <stddef.h>
#include <stdint.h>

#include "ota/patch_format.h"
#include "ota/status.h"
#include "ota/lzma_decoder.h"

namespace ota {

// The decoder's whole view of the world. Return 0 on success, non-zero on
// failure. All calls are synchronous.
struct PatchIo {
  void* ctx;
  // Reads len bytes of the old image at offset (offset + len <= old_size).
  int (*read_old)(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len);
  // Appends len bytes to the new image (called in order, total new_size).
  int (*write_new)(void* ctx, const uint8_t* buf, uint32_t len);
  // Optional SHA-256 (all three null to skip hash checks, e.g. when the
  // caller verifies the image itself). One digest at a time; every begin is
  // followed by exactly one finish, on failure paths too.
  int (*sha256_begin)(void* ctx);
  int (*sha256_update)(void* ctx, const uint8_t* buf, uint32_t len);
  int (*sha256_finish)(void* ctx, uint8_t digest[32]);
};

// Bytes of the decoder's own I/O buffers (old-image reads, new-image writes,
// decoded instructions). Part of the RAM figure in docs/format.md.
constexpr uint32_t kPatchIoBufferSize = 256;

struct PatchDecoder {
  const PatchIo* io;
  uint8_t* workspace;
  uint32_t workspace_size;
  Status status;       // sticky error or kStatusDone
  uint8_t phase;
  PatchHeader header;
  uint8_t header_buf[kPatchHeaderSize];
  uint32_t header_len;
  uint8_t header_ok;      // header parsed and fits the workspace
  uint8_t hash_open;      // a sha256_begin awaits its finish
  // Optional binding to a verified manifest (patch_decoder_expect).
  const uint8_t* expect_old_sha256;
  const uint8_t* expect_new_sha256;
  uint32_t expect_new_size;
  uint32_t payload_done;  // payload bytes consumed
  uint32_t stream_done;   // instruction bytes decoded
  LzmaDecoder lzma;
  // Instruction parser.
  uint8_t rec_phase;      // which record field is being read
  uint8_t varint_shift;
  uint32_t varint_value;
  uint32_t add_left;      // diff bytes left in the current record
  uint32_t insert_left;   // literal bytes left in the current record
  int64_t pending_seek;   // applied to old_pos after the record's data
  int64_t old_pos;
  uint32_t new_pos;       // bytes emitted to write_new (and buffered)
  // Buffers.
  uint8_t old_buf[kPatchIoBufferSize];
  uint32_t old_buf_len;
  uint32_t old_buf_at;
  uint8_t out_buf[kPatchIoBufferSize];
  uint32_t out_len;
  uint8_t stream_buf[kPatchIoBufferSize];
  // Firmware-aware transform (kTransformReloc): side data parser and the
  // T(OLD) block cache. The map, OLD's segment table, the context and the
  // cache live in the workspace after the codec's part (reloc_off).
  uint32_t reloc_off;      // workspace offset of the transform's areas
  uint32_t side_done;      // side data bytes consumed
  uint32_t region_count;   // from the side data
  uint32_t regions_done;
  uint32_t side_field;     // varint fields of the map read so far
  uint8_t side_shift;
  uint8_t reloc_ready;     // side data parsed, layout read, context set up
  uint8_t cache_valid;     // cache holds T(OLD) of cache_block
  uint16_t side_chip;
  uint64_t side_value;
  int64_t side_prev_end;
  int64_t side_prev_delta;
  uint32_t side_start, side_len;
  uint32_t cache_block;    // file offset of the cached block
  uint32_t cache_len;      // bytes of OLD the cache holds
};

// Total RAM a device spends to apply a patch with this header: the decoder
// struct plus the codec workspace (LZMA probabilities and dictionary). Stack
// use is bounded and small (see docs/format.md); TLS is not included.
inline uint32_t patch_decoder_ram(const PatchHeader& h) {
  return (uint32_t)sizeof(PatchDecoder) + patch_codec_workspace_size(h);
}

// REQUIRES: io outlives d; workspace is 4-byte aligned (may be null when
// workspace_size is 0, which only admits kCodecNone patches).
Status patch_decoder_init(PatchDecoder* d, const PatchIo* io, void* workspace,
                          uint32_t workspace_size);

// Binds the patch to a verified manifest: once the header arrives, its old
// and new SHA-256 and new size must equal these (kStatusPayloadMismatch
// otherwise), checked before anything is read or written. The digests are
// not copied: they must outlive d. Call after init, before the first feed.
void patch_decoder_expect(PatchDecoder* d, const uint8_t old_sha256[32],
                          const uint8_t new_sha256[32], uint32_t new_size);

// Consumes all n bytes or fails. Returns kStatusOk (more expected),
// kStatusDone (the patch is complete and verified; any further byte is
// kStatusTrailingData) or an error.
Status patch_decoder_feed(PatchDecoder* d, const uint8_t* data, size_t n);

// Call when the transport has no more bytes, and on every other way out
// (e.g. the envelope refused a record): kStatusDone if the patch was
// complete, kStatusTruncated if not, or the first error seen. It also ends
// a running hash, so that a port holding hardware releases it.
Status patch_decoder_finish(PatchDecoder* d);

// Checkpoints (ota/agent.h persists a decoder to resume after a reset). A
// checkpoint is the PatchDecoder struct itself plus the first
// patch_decoder_workspace_used() bytes of its workspace, taken between two
// feed calls of a decoder that uses no hash port. It is only meaningful to
// the same build of the core (the struct layout), which the agent records.
uint32_t patch_decoder_workspace_used(const PatchDecoder* d);

// After the struct was copied back from a checkpoint and the used workspace
// restored into `workspace`: re-points it at io and workspace (call
// patch_decoder_expect again afterwards). kStatusBadArgument when the
// restored state is not a live, hash-free decoder that fits the workspace.
Status patch_decoder_rebind(PatchDecoder* d, const PatchIo* io, void* workspace,
                            uint32_t workspace_size);

// The parsed header once it was accepted (valid, fits the workspace), even
// if a later check failed; null before that.
const PatchHeader* patch_decoder_header(const PatchDecoder* d);

}  // namespace ota

#endif  // OTA_PATCH_DECODER_H
