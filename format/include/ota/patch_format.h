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
// Version 1 defines none; the ids are reserved for firmware-aware modes.
enum Transform : uint8_t {
  kTransformNone = 0,
};

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

// Workspace bytes a device needs to decode this patch's codec (LZMA
// probability table + dictionary); 0 for kCodecNone.
// REQUIRES: h was accepted by patch_header_parse.
uint32_t patch_codec_workspace_size(const PatchHeader& h);

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
