// Streaming patch decoder: header -> (old image check) -> payload -> codec ->
// instruction records -> new image. See ota/patch_decoder.h for the contract
// and docs/format.md for the bytes.
#include "ota/patch_decoder.h"

#include <string.h>

#include "ota/reloc.h"

namespace ota {

namespace {

enum Phase : uint8_t {
  kPhaseHeader = 0,
  kPhasePayload = 1,
  kPhaseComplete = 2,  // all payload consumed and verified
  kPhaseFailed = 3,
  kPhaseSide = 4,      // transform side data
};

static_assert(kTransformRelocVersion == kRelocTransformVersion, "format and T agree");

// Workspace areas of kTransformReloc, from reloc_off: OLD's segment table,
// the regions (12 bytes each), then (not part of a checkpoint) the context
// in an 8-byte-aligned slot, the T(OLD) block and the raw block.
constexpr uint32_t kLayoutBytes = (uint32_t)((sizeof(RelocImageLayout) + 3u) & ~(size_t)3u);
constexpr uint32_t kContextSlot = (uint32_t)sizeof(RelocContext) + 8u;
static_assert(sizeof(RelocRegion) == kRelocRegionBytes, "region size");
static_assert(kLayoutBytes + kContextSlot <= kRelocFixedBytes, "fixed reloc area");

RelocImageLayout* reloc_layout_of(PatchDecoder* d) {
  return (RelocImageLayout*)(d->workspace + d->reloc_off);
}
RelocRegion* reloc_regions_of(PatchDecoder* d) {
  return (RelocRegion*)(d->workspace + d->reloc_off + kLayoutBytes);
}
uint32_t reloc_tail_off(const PatchDecoder* d) {
  return d->reloc_off + kLayoutBytes + patch_reloc_map_bytes(patch_reloc_max_regions(d->header));
}
RelocContext* reloc_context_of(PatchDecoder* d) {
  uintptr_t p = (uintptr_t)(d->workspace + reloc_tail_off(d));
  p = (p + 7u) & ~(uintptr_t)7u;
  return (RelocContext*)p;
}
uint8_t* reloc_cache_of(PatchDecoder* d) {
  return d->workspace + reloc_tail_off(d) + kContextSlot;
}

// Where the transform's areas start: after the codec's (4-byte aligned).
uint32_t reloc_off_for(const PatchHeader& h) {
  return patch_codec_workspace_size(h) - kRelocFixedBytes - kRelocCacheBytes -
         patch_reloc_map_bytes(patch_reloc_max_regions(h));
}

int reloc_read_old(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  PatchDecoder* d = (PatchDecoder*)ctx;
  if ((uint64_t)offset + len > d->header.old_size) return -1;
  return d->io->read_old(d->io->ctx, offset, buf, len);
}

// Fields of one instruction record, in stream order (docs/format.md).
enum RecordPhase : uint8_t {
  kRecAddLen = 0,
  kRecInsertLen = 1,
  kRecSeek = 2,
  kRecAddBytes = 3,
  kRecInsertBytes = 4,
};

constexpr uint8_t kMaxVarintShift = 28;  // 5 bytes carry 32 bits

// Ends a running hash whose result is not needed. Every begin gets its
// finish, on failure paths too: a port may hold hardware (ESP32's SHA
// engine) from begin to finish.
void abandon_hash(PatchDecoder* d) {
  if (!d->hash_open) return;
  uint8_t scratch[kSha256Size];
  d->io->sha256_finish(d->io->ctx, scratch);
  d->hash_open = 0;
}

Status fail(PatchDecoder* d, Status s) {
  d->status = s;
  d->phase = kPhaseFailed;
  abandon_hash(d);
  return s;
}

int hash_begin(PatchDecoder* d) {
  int rc = d->io->sha256_begin(d->io->ctx);
  d->hash_open = rc == 0;
  return rc;
}

int hash_finish(PatchDecoder* d, uint8_t digest[kSha256Size]) {
  d->hash_open = 0;
  return d->io->sha256_finish(d->io->ctx, digest);
}

bool has_hash(const PatchIo* io) {
  return io->sha256_begin && io->sha256_update && io->sha256_finish;
}

// Constant-time: the comparison time does not depend on where digests differ.
bool digest_equal(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;
  for (size_t i = 0; i < kSha256Size; ++i) diff |= (uint8_t)(a[i] ^ b[i]);
  return diff == 0;
}

Status flush_out(PatchDecoder* d) {
  if (d->out_len == 0) return kStatusOk;
  if (d->io->write_new(d->io->ctx, d->out_buf, d->out_len) != 0) return kStatusWriteError;
  if (has_hash(d->io) && d->io->sha256_update(d->io->ctx, d->out_buf, d->out_len) != 0)
    return kStatusHashError;
  d->out_len = 0;
  return kStatusOk;
}

Status emit(PatchDecoder* d, uint8_t byte) {
  d->out_buf[d->out_len++] = byte;
  ++d->new_pos;
  if (d->out_len == kPatchIoBufferSize) return flush_out(d);
  return kStatusOk;
}

// Hashes the whole old image through read_old and compares with the header,
// before anything is written. Uses old_buf as scratch.
Status verify_old_image(PatchDecoder* d) {
  const PatchIo* io = d->io;
  if (hash_begin(d) != 0) return kStatusHashError;
  for (uint32_t off = 0; off < d->header.old_size;) {
    uint32_t n = d->header.old_size - off;
    if (n > kPatchIoBufferSize) n = kPatchIoBufferSize;
    if (io->read_old(io->ctx, off, d->old_buf, n) != 0) return kStatusReadError;
    if (io->sha256_update(io->ctx, d->old_buf, n) != 0) return kStatusHashError;
    off += n;
  }
  uint8_t digest[kSha256Size];
  if (hash_finish(d, digest) != 0) return kStatusHashError;
  if (!digest_equal(digest, d->header.old_sha256)) return kStatusOldHashMismatch;
  // The same hash context now follows the new image.
  if (hash_begin(d) != 0) return kStatusHashError;
  return kStatusOk;
}

Status accept_header(PatchDecoder* d) {
  Status s = patch_header_parse(d->header_buf, &d->header);
  if (s != kStatusOk) return s;
  const PatchHeader& h = d->header;
  if (d->expect_new_sha256 &&
      (!digest_equal(h.old_sha256, d->expect_old_sha256) ||
       !digest_equal(h.new_sha256, d->expect_new_sha256) || h.new_size != d->expect_new_size))
    return kStatusPayloadMismatch;
  if (patch_codec_workspace_size(h) > d->workspace_size) return kStatusWorkspaceTooSmall;
  d->header_ok = 1;
  if (has_hash(d->io)) {
    s = verify_old_image(d);
    if (s != kStatusOk) return s;
  }
  if (h.codec == kCodecLzma) {
    if (lzma_init(&d->lzma, h.lzma_lc, h.lzma_lp, h.lzma_pb, h.dict_size, d->workspace,
                  d->workspace_size, h.stream_size) != kLzmaOk)
      return kStatusBadCodecParams;
  }
  d->old_buf_len = 0;
  if (h.transform == kTransformReloc) {
    d->reloc_off = reloc_off_for(h);
    d->side_prev_end = 0;
    d->side_prev_delta = 0;
  }
  return kStatusOk;
}

// Sets up T once the whole map is in: OLD's segment table read through
// read_old, the chip named by the side data, every region inside one
// segment of OLD or inside the chip's internal RAM (where .bss lies beyond
// the segments), and the context T checks itself.
Status reloc_setup(PatchDecoder* d) {
  RelocImageLayout* l = reloc_layout_of(d);
  Status s = reloc_read_layout(reloc_read_old, d, d->header.old_size, l);
  if (s == kStatusReadError) return s;
  if (s != kStatusOk) return kStatusTransformMismatch;
  if (l->chip_id != d->side_chip || reloc_isa_for_chip(l->chip_id) == kRelocIsaNone ||
      l->image_size > d->header.old_size)
    return kStatusTransformMismatch;
  const RelocRegion* r = reloc_regions_of(d);
  uint32_t ram_lo = 0, ram_hi = 0;
  reloc_internal_ram(l->chip_id, &ram_lo, &ram_hi);
  for (uint32_t i = 0; i < d->region_count; ++i) {
    bool inside = r[i].old_start >= ram_lo &&
                  (uint64_t)r[i].old_start + r[i].length <= (uint64_t)ram_hi;
    for (uint32_t k = 0; k < l->segment_count && !inside; ++k) {
      const RelocSegment& g = l->segments[k];
      inside = r[i].old_start >= g.load_addr &&
               (uint64_t)r[i].old_start + r[i].length <= (uint64_t)g.load_addr + g.length;
    }
    if (!inside) return kStatusTransformMismatch;
  }
  if (reloc_context_init(reloc_context_of(d), l, r, d->region_count, reloc_read_old, d) !=
      kStatusOk)
    return kStatusTransformMismatch;
  d->cache_valid = 0;
  d->reloc_ready = 1;
  return kStatusOk;
}

// One byte of side data: chip id (2 bytes LE), then zig-zag varints.
Status side_byte(PatchDecoder* d, uint8_t b) {
  uint32_t at = d->side_done++;
  if (at < 2) {
    d->side_chip = (uint16_t)(d->side_chip | ((uint16_t)b << (8 * at)));
    return kStatusOk;
  }
  // A field once the map is complete: bytes left over.
  if (d->side_field > 0 && d->regions_done == d->region_count) return kStatusSideDataCorrupt;
  if (d->side_shift > 28) return kStatusSideDataCorrupt;  // 5 bytes carry 35 bits
  d->side_value |= (uint64_t)(b & 0x7F) << d->side_shift;
  if (b & 0x80) {
    d->side_shift = (uint8_t)(d->side_shift + 7);
    return kStatusOk;
  }
  uint64_t z = d->side_value;
  int64_t v = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
  d->side_value = 0;
  d->side_shift = 0;
  uint32_t f = d->side_field++;
  if (f == 0) {
    // Each region takes at least 3 bytes after the count.
    if (v <= 0 || (uint64_t)v * 3u > d->header.side_size - d->side_done) return kStatusSideDataCorrupt;
    // The header's map_capacity is what the workspace check covered.
    if ((uint64_t)v > patch_reloc_max_regions(d->header)) return kStatusSideDataCorrupt;
    d->region_count = (uint32_t)v;
    return kStatusOk;
  }
  switch ((f - 1) % 3) {
    case 0: {
      int64_t start = d->side_prev_end + v;
      if (start < 0 || start > (int64_t)UINT32_MAX) return kStatusSideDataCorrupt;
      d->side_start = (uint32_t)start;
      return kStatusOk;
    }
    case 1:
      if (v <= 0 || (uint64_t)d->side_start + (uint64_t)v > (uint64_t)UINT32_MAX + 1u)
        return kStatusSideDataCorrupt;
      d->side_len = (uint32_t)v;
      return kStatusOk;
    default: {
      int64_t delta = d->side_prev_delta + v;
      if (delta < INT32_MIN || delta > INT32_MAX) return kStatusSideDataCorrupt;
      RelocRegion* r = reloc_regions_of(d) + d->regions_done++;
      r->old_start = d->side_start;
      r->length = d->side_len;
      r->delta = (int32_t)delta;
      d->side_prev_end = (int64_t)d->side_start + d->side_len;
      d->side_prev_delta = delta;
      return kStatusOk;
    }
  }
}

Status feed_side(PatchDecoder* d, const uint8_t* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    Status s = side_byte(d, data[i]);
    if (s != kStatusOk) return s;
  }
  if (d->side_done == d->header.side_size) {
    // The map must end exactly with the side data.
    if (d->side_field == 0 || d->side_shift != 0 || d->regions_done != d->region_count)
      return kStatusSideDataCorrupt;
    return reloc_setup(d);
  }
  return kStatusOk;
}

// T(OLD) of the 4 KiB block holding old_pos, into the cache.
Status reloc_fill(PatchDecoder* d, uint32_t pos) {
  uint32_t block = pos & ~(kRelocBlockSize - 1u);
  if (d->cache_valid && d->cache_block == block) return kStatusOk;
  d->cache_valid = 0;
  uint8_t* out = reloc_cache_of(d);
  uint8_t* raw = out + kRelocBlockSize;
  uint32_t n = d->header.old_size - block;
  if (n > kRelocBlockSize) n = kRelocBlockSize;
  if (d->io->read_old(d->io->ctx, block, raw, n) != 0) return kStatusReadError;
  const RelocImageLayout* l = reloc_layout_of(d);
  uint32_t t = 0;
  if (block < l->image_size) {
    t = l->image_size - block;
    if (t > n) t = n;
    Status s = reloc_transform_block(reloc_context_of(d), block, raw, t, out);
    if (s != kStatusOk) return s == kStatusReadError ? s : kStatusTransformMismatch;
  }
  memcpy(out + t, raw + t, n - t);
  d->cache_block = block;
  d->cache_len = n;
  d->cache_valid = 1;
  return kStatusOk;
}

// Reads one LEB128 byte into the current varint; sets *complete at its end.
Status varint_byte(PatchDecoder* d, uint8_t b, bool* complete) {
  if (d->varint_shift == kMaxVarintShift && (b & 0xF0) != 0) return kStatusInstructionCorrupt;
  d->varint_value |= (uint32_t)(b & 0x7F) << d->varint_shift;
  if (b & 0x80) {
    d->varint_shift = (uint8_t)(d->varint_shift + 7);
    *complete = false;
    return kStatusOk;
  }
  *complete = true;
  return kStatusOk;
}

// Ensures old_buf holds the byte at old_pos (old_pos is already checked to
// lie in the old image).
Status load_old(PatchDecoder* d) {
  uint32_t pos = (uint32_t)d->old_pos;
  if (d->header.transform == kTransformReloc) return reloc_fill(d, pos);
  if (d->old_buf_len != 0 && pos >= d->old_buf_at && pos - d->old_buf_at < d->old_buf_len)
    return kStatusOk;
  uint32_t n = d->header.old_size - pos;
  if (n > d->add_left) n = d->add_left;
  if (n > kPatchIoBufferSize) n = kPatchIoBufferSize;
  if (d->io->read_old(d->io->ctx, pos, d->old_buf, n) != 0) return kStatusReadError;
  d->old_buf_at = pos;
  d->old_buf_len = n;
  return kStatusOk;
}

// Called once the three varints of a record are known: checks the record
// against the image sizes before any of its bytes is applied.
Status begin_record_data(PatchDecoder* d) {
  const PatchHeader& h = d->header;
  uint64_t end_new = (uint64_t)d->new_pos + d->add_left + d->insert_left;
  if (end_new > h.new_size) return kStatusNewOverflow;
  if (d->add_left != 0 &&
      (d->old_pos < 0 || (uint64_t)d->old_pos + d->add_left > (uint64_t)h.old_size))
    return kStatusOldOutOfRange;
  d->rec_phase = d->add_left ? kRecAddBytes : d->insert_left ? kRecInsertBytes : kRecAddLen;
  return kStatusOk;
}

// Consumes decoded instruction bytes.
Status parse_instructions(PatchDecoder* d, const uint8_t* p, size_t n) {
  d->stream_done += (uint32_t)n;
  size_t i = 0;
  while (i < n) {
    switch (d->rec_phase) {
      case kRecAddLen:
        // A record may only start while output is still owed.
        if (d->varint_shift == 0 && d->varint_value == 0 && d->new_pos == d->header.new_size)
          return kStatusInstructionCorrupt;
        [[fallthrough]];
      case kRecInsertLen:
      case kRecSeek: {
        bool complete = false;
        Status s = varint_byte(d, p[i++], &complete);
        if (s != kStatusOk) return s;
        if (!complete) break;
        uint32_t v = d->varint_value;
        d->varint_value = 0;
        d->varint_shift = 0;
        if (d->rec_phase == kRecAddLen) {
          d->add_left = v;
          d->rec_phase = kRecInsertLen;
        } else if (d->rec_phase == kRecInsertLen) {
          d->insert_left = v;
          d->rec_phase = kRecSeek;
        } else {
          // Zigzag: 0, -1, 1, -2, ... The seek applies after the record's data.
          d->pending_seek = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
          s = begin_record_data(d);
          if (s != kStatusOk) return s;
          if (d->rec_phase == kRecAddLen) {
            d->old_pos += d->pending_seek;
          }
        }
        break;
      }
      case kRecAddBytes: {
        Status s = load_old(d);
        if (s != kStatusOk) return s;
        const uint8_t* old;
        uint32_t avail;
        if (d->header.transform == kTransformReloc) {
          uint32_t at = (uint32_t)d->old_pos - d->cache_block;
          avail = d->cache_len - at;
          old = reloc_cache_of(d) + at;
        } else {
          avail = d->old_buf_len - ((uint32_t)d->old_pos - d->old_buf_at);
          old = d->old_buf + ((uint32_t)d->old_pos - d->old_buf_at);
        }
        size_t take = n - i;
        if (take > d->add_left) take = d->add_left;
        if (take > avail) take = avail;
        for (size_t k = 0; k < take; ++k) {
          s = emit(d, (uint8_t)(old[k] + p[i + k]));
          if (s != kStatusOk) return s;
        }
        i += take;
        d->old_pos += (int64_t)take;
        d->add_left -= (uint32_t)take;
        if (d->add_left == 0) {
          if (d->insert_left) {
            d->rec_phase = kRecInsertBytes;
          } else {
            d->old_pos += d->pending_seek;
            d->rec_phase = kRecAddLen;
          }
        }
        break;
      }
      case kRecInsertBytes: {
        size_t take = n - i;
        if (take > d->insert_left) take = d->insert_left;
        for (size_t k = 0; k < take; ++k) {
          Status s = emit(d, p[i + k]);
          if (s != kStatusOk) return s;
        }
        i += take;
        d->insert_left -= (uint32_t)take;
        if (d->insert_left == 0) {
          d->old_pos += d->pending_seek;
          d->rec_phase = kRecAddLen;
        }
        break;
      }
      default:
        return kStatusInstructionCorrupt;
    }
  }
  return kStatusOk;
}

// Runs once every payload byte was consumed: the stream must have ended on a
// record boundary with exactly new_size bytes out and the right digest.
Status complete(PatchDecoder* d) {
  const PatchHeader& h = d->header;
  if (d->stream_done != h.stream_size) return kStatusTruncated;
  if (d->rec_phase != kRecAddLen || d->varint_shift != 0 || d->varint_value != 0)
    return kStatusTruncated;
  if (d->new_pos != h.new_size) return kStatusSizeMismatch;
  Status s = flush_out(d);
  if (s != kStatusOk) return s;
  if (has_hash(d->io)) {
    uint8_t digest[kSha256Size];
    if (hash_finish(d, digest) != 0) return kStatusHashError;
    if (!digest_equal(digest, h.new_sha256)) return kStatusNewHashMismatch;
  }
  return kStatusDone;
}

Status feed_payload(PatchDecoder* d, const uint8_t* data, size_t n) {
  const PatchHeader& h = d->header;
  if (h.codec == kCodecNone) {
    Status s = parse_instructions(d, data, n);
    d->payload_done += (uint32_t)n;
    return s;
  }
  // LZMA: decode into stream_buf and hand each piece to the parser.
  for (;;) {
    size_t in_len = n;
    size_t out_len = kPatchIoBufferSize;
    LzmaResult r = lzma_decode(&d->lzma, data, &in_len, d->stream_buf, &out_len);
    if (r < 0) return kStatusCodecCorrupt;
    data += in_len;
    n -= in_len;
    d->payload_done += (uint32_t)in_len;
    if (out_len) {
      Status s = parse_instructions(d, d->stream_buf, out_len);
      if (s != kStatusOk) return s;
    }
    if (r == kLzmaStreamEnd) {
      // The codec ended: every payload byte must have been part of it.
      if (n != 0 || d->payload_done != h.payload_size) return kStatusCodecCorrupt;
      return kStatusOk;
    }
    if (in_len == 0 && out_len == 0) {
      // Needs more input. If the payload is exhausted the codec is corrupt.
      if (n != 0) return kStatusCodecCorrupt;
      if (d->payload_done == h.payload_size) return kStatusCodecCorrupt;
      return kStatusOk;
    }
  }
}

}  // namespace

Status patch_decoder_init(PatchDecoder* d, const PatchIo* io, void* workspace,
                          uint32_t workspace_size) {
  if (!d) return kStatusBadArgument;
  memset(d, 0, sizeof(*d));
  d->phase = kPhaseFailed;
  d->status = kStatusBadArgument;
  if (!io || !io->read_old || !io->write_new) return kStatusBadArgument;
  bool any_hash = io->sha256_begin || io->sha256_update || io->sha256_finish;
  if (any_hash && !has_hash(io)) return kStatusBadArgument;
  if (workspace_size && (!workspace || ((uintptr_t)workspace & 3u) != 0)) return kStatusBadArgument;
  d->io = io;
  d->workspace = (uint8_t*)workspace;
  d->workspace_size = workspace_size;
  d->status = kStatusOk;
  d->phase = kPhaseHeader;
  return kStatusOk;
}

uint32_t patch_decoder_workspace_used(const PatchDecoder* d) {
  if (!d || !d->header_ok) return 0;
  if (d->header.transform == kTransformReloc) {
    // The codec's area, OLD's segment table and the regions; the context
    // and the cache are rebuilt on rebind.
    return d->reloc_off + kLayoutBytes + d->region_count * kRelocRegionBytes;  // the rest is rebuilt
  }
  if (d->header.codec != kCodecLzma) return 0;
  return lzma_workspace_used(&d->lzma);
}

Status patch_decoder_rebind(PatchDecoder* d, const PatchIo* io, void* workspace,
                            uint32_t workspace_size) {
  if (!d) return kStatusBadArgument;
  d->io = io;
  d->workspace = (uint8_t*)workspace;
  d->workspace_size = workspace_size;
  d->expect_old_sha256 = nullptr;
  d->expect_new_sha256 = nullptr;
  bool live = d->phase == kPhaseHeader || d->phase == kPhasePayload || d->phase == kPhaseComplete ||
              d->phase == kPhaseSide;
  bool ok = io && io->read_old && io->write_new && !has_hash(io) && !io->sha256_begin &&
            !d->hash_open && live && !status_is_error(d->status) &&
            d->header_len <= kPatchHeaderSize && d->out_len <= kPatchIoBufferSize &&
            d->old_buf_len <= kPatchIoBufferSize &&
            (workspace_size == 0 || (workspace && ((uintptr_t)workspace & 3u) == 0));
  if (ok && d->header_ok) {
    ok = patch_codec_workspace_size(d->header) <= workspace_size && d->new_pos <= d->header.new_size;
    if (ok && d->header.codec == kCodecLzma)
      ok = lzma_rebind(&d->lzma, workspace, workspace_size) == kLzmaOk;
    if (ok && d->header.transform == kTransformReloc) {
      d->cache_valid = 0;
      ok = d->regions_done <= d->region_count && d->side_done <= d->header.side_size &&
           d->region_count <= patch_reloc_max_regions(d->header) &&
           d->reloc_off == reloc_off_for(d->header) &&
           (uint64_t)reloc_tail_off(d) + kContextSlot + kRelocCacheBytes <= workspace_size;
      if (ok && d->reloc_ready) {
        d->reloc_ready = 0;
        ok = reloc_setup(d) == kStatusOk;
      }
    }
  }
  if (!ok) {
    d->phase = kPhaseFailed;
    d->status = kStatusBadArgument;
    return kStatusBadArgument;
  }
  return kStatusOk;
}

void patch_decoder_expect(PatchDecoder* d, const uint8_t old_sha256[32],
                          const uint8_t new_sha256[32], uint32_t new_size) {
  if (!d || !old_sha256 || !new_sha256) return;
  d->expect_old_sha256 = old_sha256;
  d->expect_new_sha256 = new_sha256;
  d->expect_new_size = new_size;
}

Status patch_decoder_feed(PatchDecoder* d, const uint8_t* data, size_t n) {
  if (!d) return kStatusBadArgument;
  if (d->phase == kPhaseFailed) return kStatusAfterError;
  if (n == 0) return d->status;
  if (!data) return fail(d, kStatusBadArgument);
  if (d->phase == kPhaseComplete) return fail(d, kStatusTrailingData);

  if (d->phase == kPhaseHeader) {
    size_t take = kPatchHeaderSize - d->header_len;
    if (take > n) take = n;
    memcpy(d->header_buf + d->header_len, data, take);
    d->header_len += (uint32_t)take;
    data += take;
    n -= take;
    if (d->header_len < kPatchHeaderSize) return kStatusOk;
    Status s = accept_header(d);
    if (s != kStatusOk) return fail(d, s);
    d->phase = d->header.side_size ? kPhaseSide : kPhasePayload;
  }

  if (d->phase == kPhaseSide) {
    uint32_t left = d->header.side_size - d->side_done;
    size_t take = n < left ? n : left;
    Status s = feed_side(d, data, take);
    if (s != kStatusOk) return fail(d, s);
    data += take;
    n -= take;
    if (d->side_done < d->header.side_size) return kStatusOk;
    d->phase = kPhasePayload;
  }

  if (d->phase == kPhasePayload) {
    uint32_t left = d->header.payload_size - d->payload_done;
    size_t take = n < left ? n : left;
    if (take) {
      Status s = feed_payload(d, data, take);
      if (s != kStatusOk) return fail(d, s);
      data += take;
      n -= take;
    }
    if (d->payload_done == d->header.payload_size) {
      Status s = complete(d);
      if (s != kStatusDone) return fail(d, s);
      d->phase = kPhaseComplete;
      d->status = kStatusDone;
    }
    if (n != 0) return fail(d, kStatusTrailingData);
  }
  return d->status;
}

Status patch_decoder_finish(PatchDecoder* d) {
  if (!d) return kStatusBadArgument;
  if (d->phase == kPhaseFailed) return d->status;
  if (d->phase == kPhaseComplete) return kStatusDone;
  return fail(d, kStatusTruncated);
}

const PatchHeader* patch_decoder_header(const PatchDecoder* d) {
  return (d && d->header_ok) ? &d->header : nullptr;
}

}  // namespace ota
