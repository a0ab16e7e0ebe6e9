#include "ota/patch_format.h"

#include <string.h>

#include "ota/crc32.h"

namespace ota {

namespace {

// Byte offsets of the header fields (docs/format.md, "Header").
enum : size_t {
  kOffMagic = 0,
  kOffVersion = 4,
  kOffCodec = 5,
  kOffTransform = 6,
  kOffTransformVersion = 7,
  kOffFlags = 8,
  kOffLc = 12,
  kOffLp = 13,
  kOffPb = 14,
  kOffReserved = 15,
  kOffDict = 16,
  kOffOldSize = 20,
  kOffNewSize = 24,
  kOffStreamSize = 28,
  kOffPayloadSize = 32,
  kOffSideSize = 36,
  kOffOldSha = 40,
  kOffNewSha = 72,
  kOffCrc = 104,
};
static_assert(kOffCrc + 4 == kPatchHeaderSize, "header layout");

Status check_codec(const PatchHeader& h) {
  switch (h.codec) {
    case kCodecNone:
      if (h.lzma_lc || h.lzma_lp || h.lzma_pb || h.dict_size) return kStatusBadCodecParams;
      if (h.payload_size != h.stream_size) return kStatusBadSizes;
      return kStatusOk;
    case kCodecLzma:
      if (h.lzma_lc > kLzmaMaxLc || h.lzma_lp > kLzmaMaxLp || h.lzma_pb > kLzmaMaxPb ||
          h.lzma_lc + h.lzma_lp > kLzmaMaxLcPlusLp)
        return kStatusBadCodecParams;
      if (h.dict_size < kLzmaMinDict || h.dict_size > kLzmaMaxDict) return kStatusBadCodecParams;
      // Every LZMA stream has at least the 5 range-coder init bytes.
      if (h.payload_size < 5) return kStatusBadSizes;
      return kStatusOk;
    default:
      return kStatusUnsupportedCodec;
  }
}

}  // namespace

void patch_header_write(const PatchHeader& h, uint8_t* out) {
  memset(out, 0, kPatchHeaderSize);
  memcpy(out + kOffMagic, kPatchMagic, 4);
  out[kOffVersion] = h.format_version;
  out[kOffCodec] = h.codec;
  out[kOffTransform] = h.transform;
  out[kOffTransformVersion] = h.transform_version;
  store_le32(out + kOffFlags, h.flags);
  out[kOffLc] = h.lzma_lc;
  out[kOffLp] = h.lzma_lp;
  out[kOffPb] = h.lzma_pb;
  out[kOffReserved] = h.map_capacity;
  store_le32(out + kOffDict, h.dict_size);
  store_le32(out + kOffOldSize, h.old_size);
  store_le32(out + kOffNewSize, h.new_size);
  store_le32(out + kOffStreamSize, h.stream_size);
  store_le32(out + kOffPayloadSize, h.payload_size);
  store_le32(out + kOffSideSize, h.side_size);
  memcpy(out + kOffOldSha, h.old_sha256, kSha256Size);
  memcpy(out + kOffNewSha, h.new_sha256, kSha256Size);
  store_le32(out + kOffCrc, crc32_update(0, out, kOffCrc));
}

Status patch_header_parse(const uint8_t* in, PatchHeader* h) {
  if (memcmp(in + kOffMagic, kPatchMagic, 4) != 0) return kStatusBadMagic;
  if (crc32_update(0, in, kOffCrc) != load_le32(in + kOffCrc)) return kStatusHeaderCorrupt;
  PatchHeader p;
  p.format_version = in[kOffVersion];
  p.codec = in[kOffCodec];
  p.transform = in[kOffTransform];
  p.transform_version = in[kOffTransformVersion];
  p.flags = load_le32(in + kOffFlags);
  p.lzma_lc = in[kOffLc];
  p.lzma_lp = in[kOffLp];
  p.lzma_pb = in[kOffPb];
  p.map_capacity = in[kOffReserved];
  p.dict_size = load_le32(in + kOffDict);
  p.old_size = load_le32(in + kOffOldSize);
  p.new_size = load_le32(in + kOffNewSize);
  p.stream_size = load_le32(in + kOffStreamSize);
  p.payload_size = load_le32(in + kOffPayloadSize);
  p.side_size = load_le32(in + kOffSideSize);
  memcpy(p.old_sha256, in + kOffOldSha, kSha256Size);
  memcpy(p.new_sha256, in + kOffNewSha, kSha256Size);

  if (p.format_version != kPatchFormatVersion) return kStatusUnsupportedVersion;
  if (p.flags != 0) return kStatusUnsupportedFlags;
  // Byte 15 is reserved (0) except under kTransformReloc (map_capacity).
  if (in[kOffReserved] != 0 && p.transform != kTransformReloc) return kStatusUnsupportedFlags;
  if (p.transform == kTransformNone) {
    if (p.transform_version != 0) return kStatusUnsupportedTransform;
    if (p.map_capacity != 0) return kStatusUnsupportedFlags;
    // No transform, no side data.
    if (p.side_size != 0) return kStatusBadSizes;
  } else if (p.transform == kTransformReloc) {
    if (p.transform_version != kTransformRelocVersion) return kStatusUnsupportedTransform;
    if (p.side_size < kRelocSideMin || p.side_size > kRelocSideMax) return kStatusBadSizes;
    if (p.map_capacity == 0) return kStatusBadSizes;
  } else {
    return kStatusUnsupportedTransform;
  }
  Status s = check_codec(p);
  if (s != kStatusOk) return s;
  // An empty new image needs no instructions; any other needs at least one.
  if ((p.new_size == 0) != (p.stream_size == 0)) return kStatusBadSizes;
  *h = p;
  return kStatusOk;
}

uint32_t patch_codec_workspace_size(const PatchHeader& h) {
  uint32_t n = 0;
  if (h.codec == kCodecLzma) {
    // LZMA probability model: 1846 fixed + 0x300 per literal context, 16-bit each.
    uint32_t probs = 1846u + (0x300u << (h.lzma_lc + h.lzma_lp));
    n = probs * 2u + h.dict_size;
  }
  if (h.transform == kTransformReloc)
    n = ((n + 3u) & ~3u) +  // the transform's areas start 4-byte aligned
        kRelocFixedBytes + kRelocCacheBytes + patch_reloc_map_bytes(patch_reloc_max_regions(h));
  return n;
}

}  // namespace ota
