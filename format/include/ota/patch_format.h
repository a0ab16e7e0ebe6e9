// Patch container, format version 1: constants, the fixed header, and its
// parse/serialize functions. docs/format.md is the byte-by-byte authority;
// this header mirrors it.
//
// Shared by the device core (which parses) and the host encoder (which
// writes). C headers only: it must build with freestanding cross compilers.
#ifndef OTA_PATCH_FORMAT_H
#define OTA_PATCH_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "ota/status.h"

namespace ota {

constexpr uint8_t kPatchMagic[4] = {'O', 'T', 'A', 'D'};
constexpr uint8_t kPatchFormatVersion = 1;
constexpr size_t kPatchHeaderSize = 108;
constexpr size_t kSha256Size = 32;

// Codec of the instruction stream. A device refuses any value it does not
// implement (kStatusUnsupportedCodec).
enum Codec : uint8_t {
  kCodecNone = 0,  // payload is the instruction stream itself
  kCodecLzma = 1,  // raw LZMA1 (no .lzma/.xz container), lc/lp/pb/dict in header
};

// Transform applied to the old image before the instructions read it.
// A device refuses an id or version it does not implement
// (kStatusUnsupportedTransform), before it reads or writes anything.
enum Transform : uint8_t {
  kTransformNone = 0,
  // Firmware-aware "adjust OLD" (ota/reloc.h, docs/reloc.md): every read of
  // OLD sees T(OLD) under the address map carried in the side data.
  kTransformReloc = 1,
};
// The version of T a kTransformReloc patch names (= ota::kRelocTransformVersion).
constexpr uint8_t kTransformRelocVersion = 1;
// Side data of kTransformReloc: chip id (2 bytes LE), then the map as
// zig-zag varints (count; per region: start - previous end, length,
// delta - previous delta). At least 3 bytes, at most kRelocSideMax.
constexpr uint32_t kRelocSideMin = 3;
constexpr uint32_t kRelocSideMax = 1u << 20;
// RAM a kTransformReloc decoder needs beyond the codec: the T(OLD) block
// cache and its raw read buffer (2 x 4 KiB), OLD's segment table and the
// transform context, plus 12 bytes per region of the map's capacity.
constexpr uint32_t kRelocCacheBytes = 2u * 4096u;
constexpr uint32_t kRelocFixedBytes = 768u;  // RelocImageLayout + RelocContext, rounded up
constexpr uint32_t kRelocRegionBytes = 12u;

// LZMA parameter limits this format accepts. lc + lp is capped so the
// probability table stays small on a device (at most 1846 + 768 * 16 entries).
constexpr uint8_t kLzmaMaxLc = 4;
constexpr uint8_t kLzmaMaxLp = 4;
constexpr uint8_t kLzmaMaxLcPlusLp = 4;
constexpr uint8_t kLzmaMaxPb = 4;
constexpr uint32_t kLzmaMinDict = 4096;
constexpr uint32_t kLzmaMaxDict = 1u << 24;  // 16 MiB: far above any device budget

struct PatchHeader {
  uint8_t format_version;
  uint8_t codec;
  uint8_t transform;
  uint8_t transform_version;
  uint32_t flags;        // no flag is defined in version 1: must be 0
  uint8_t lzma_lc;       // 0 unless codec == kCodecLzma
  uint8_t lzma_lp;
  uint8_t lzma_pb;
  uint8_t map_capacity;  // byte 15: 0, or with kTransformReloc 1..255, the
                         // map's RAM in units of 16 regions
  uint32_t dict_size;    // LZMA dictionary bytes the decoder must hold
  uint32_t old_size;     // bytes of the base image the patch applies to
  uint32_t new_size;     // bytes of the image the patch produces
  uint32_t stream_size;  // bytes of the decoded instruction stream
  uint32_t payload_size; // bytes of codec payload that follow the side data
  uint32_t side_size;    // bytes of transform side data after the header
  uint8_t old_sha256[kSha256Size];
  uint8_t new_sha256[kSha256Size];
};

// Writes the 108-byte header (CRC included) into out.
// REQUIRES: out has kPatchHeaderSize bytes.
void patch_header_write(const PatchHeader& h, uint8_t* out);

// Parses and validates a 108-byte header: magic, CRC, version, codec,
// transform, flags, parameter ranges, and the consistency between fields.
// Returns kStatusOk, or the first reason it is refused.
Status patch_header_parse(const uint8_t* in, PatchHeader* h);

// Workspace bytes a device needs to decode this patch (LZMA probability
// table + dictionary; with kTransformReloc also the block cache and the
// segment table, kRelocCacheBytes + kRelocFixedBytes, and the map's
// regions, 12 x 16 x map_capacity); 0 for a plain kCodecNone patch.
// REQUIRES: h was accepted by patch_header_parse.
uint32_t patch_codec_workspace_size(const PatchHeader& h);

// Workspace for a map of `regions` regions (kTransformReloc only).
inline uint32_t patch_reloc_map_bytes(uint32_t regions) { return regions * kRelocRegionBytes; }
// The regions the decoder reserves RAM for: 16 per unit of map_capacity
// (header byte 15); the side data's map must not have more.
constexpr uint32_t kRelocCapacityUnit = 16;
inline uint32_t patch_reloc_max_regions(const PatchHeader& h) {
  return h.transform == kTransformReloc ? kRelocCapacityUnit * h.map_capacity : 0u;
}

// Little-endian helpers shared by the format's writers and readers.
inline uint32_t load_le32(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
inline void store_le32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

}  // namespace ota

#endif  // OTA_PATCH_FORMAT_H
