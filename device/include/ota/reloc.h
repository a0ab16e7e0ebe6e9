// The firmware-aware transform T ("adjust OLD", issue #7, docs/reloc.md):
// rewrites the references of an ESP application image (calls, literal and
// pointer loads, pointer words) as if the code and data they point at had
// moved the way an address map says, so that T(OLD) looks like NEW where
// only addresses changed. Encoder and device run this same code; the device
// applies T to each 4 KiB block of OLD it reads, and no inverse is needed on
// the output.
//
// Every decision depends only on the 4 KiB block of OLD (at a 4 KiB file
// offset) being transformed, plus a few bytes of OLD read through a callback:
// the bytes of a pointer word that straddles the block's ends, and the
// aligned word at a CALL4/8/12 target (its ENTRY opcode check). Instruction
// sweeps restart at each block start; instructions and %hi/%lo groups that
// straddle a block end are left alone.
//
// What is rewritten, by the image's chip id:
//   0 ESP32, 9 ESP32-S3 (Xtensa): every aligned 32-bit word of every segment
//     whose value the map moves (pointer words and L32R literals); then, in
//     code segments, CALL0 and CALL4/8/12 (the latter only onto an ENTRY) and
//     L32R offsets, re-targeted to map(target) - map(pc). J is left alone.
//   5 ESP32-C3 (RV32IMC): aligned words of the non-code segments; in code,
//     JAL, B-type, C.J, C.JAL, C.BEQZ/BNEZ, AUIPC+%lo and LUI+%lo pairs
//     (%lo in ADDI, loads, JALR, stores within 3 instructions), and later
//     %lo uses of the same %hi register (up to 24 instructions).
//   any other chip: identity.
// A reference whose new field does not fit is left unchanged. Wrong guesses
// cost compression only, never correctness, because both sides compute the
// same T.
//
// The address map: caller-owned regions sorted by old_start, not
// overlapping, each [old_start, old_start + length) moving by delta. An
// address in a gap takes the delta of the region before it when both lie in
// the same segment of OLD; an address after an internal-RAM segment (.bss,
// up to 256 KiB) takes the delta of that segment's last region.
//
// No heap, no exceptions, stack below 256 bytes, reads through EspReadFn.
#ifndef OTA_RELOC_H
#define OTA_RELOC_H

#include <stddef.h>
#include <stdint.h>

#include "ota/esp_image.h"
#include "ota/status.h"

namespace ota {

constexpr uint32_t kRelocBlockSize = 4096;
// Version of T; a patch names the version it was made with and a device
// refuses one it does not implement.
constexpr uint8_t kRelocTransformVersion = 1;

enum RelocIsa : uint8_t {
  kRelocIsaNone = 0,    // identity
  kRelocIsaXtensa = 1,  // ESP32, ESP32-S3
  kRelocIsaRv32 = 2,    // ESP32-C3
};

// The ISA T uses for an image of this chip id (kRelocIsaNone when unknown).
RelocIsa reloc_isa_for_chip(uint16_t chip_id);

enum RelocSegmentKind : uint8_t {
  kRelocSegData = 0,  // anything that is not code
  kRelocSegCode = 1,  // flash-mapped code (IROM) or IRAM
};

struct RelocSegment {
  uint32_t file_offset;  // of the segment's data in the image
  uint32_t load_addr;
  uint32_t length;
  uint8_t kind;          // RelocSegmentKind, from load_addr and the chip
};

// The segment table of an ESP application image.
struct RelocImageLayout {
  uint16_t chip_id;
  uint8_t segment_count;
  uint32_t image_size;   // end of the last segment's data
  RelocSegment segments[kEspImageMaxSegments];
};

// Reads the image header and the segment headers through `read` (no data
// is read, no checksum checked: esp_image_check does that). Returns
// kStatusOk, kStatusBadImage (magic, segment count 0 or above 16, a segment
// beyond `limit`), kStatusReadError or kStatusBadArgument.
Status reloc_read_layout(EspReadFn read, void* ctx, uint32_t limit, RelocImageLayout* out);

struct RelocRegion {
  uint32_t old_start;  // load address in OLD
  uint32_t length;
  int32_t delta;       // new address - old address
};

// Derived ".bss tail" ranges: after each internal-RAM segment.
struct RelocTail {
  uint32_t start, end;
  int32_t delta;
};

struct RelocContext {
  const RelocImageLayout* layout;  // OLD's; must outlive the context
  const RelocRegion* regions;      // must outlive the context
  uint32_t region_count;
  RelocIsa isa;
  uint8_t tail_count;
  RelocTail tails[kEspImageMaxSegments];
  // Every address the map can move lies in [hull_lo, hull_hi) (regions,
  // OLD's segments for the gaps, tails): a quick "not an address" for the
  // many words that are none. hull_hi is 64-bit because it may be 2^32.
  uint32_t hull_lo;
  uint64_t hull_hi;
  EspReadFn read;                  // reads OLD (untransformed)
  void* read_ctx;
};

// Checks the map (sorted, non-overlapping, no wrap past 2^32) and derives
// the tails. Returns kStatusOk or kStatusBadArgument. The ISA comes from
// layout->chip_id.
Status reloc_context_init(RelocContext* c, const RelocImageLayout* layout,
                          const RelocRegion* regions, uint32_t region_count, EspReadFn read,
                          void* read_ctx);

// The map at one load address of OLD: true and *new_addr (may lie outside
// 0..2^32-1, hence 64-bit) when the address is mapped, false otherwise.
bool reloc_map(const RelocContext* c, uint32_t old_addr, int64_t* new_addr);

// T(OLD) for the block of OLD at block_file_offset (a multiple of 4096):
// `len` bytes (4096, or fewer for the image's last block), old_block holds
// OLD's bytes there and out receives T's. REQUIRES: old_block and out do not
// overlap (both are read while out is written).
// Reads OLD through c->read only for the few bytes named above, never
// outside [0, layout->image_size). Returns kStatusOk, kStatusReadError, or
// kStatusBadArgument (misaligned offset, len 0 or above 4096, block beyond
// the image).
Status reloc_transform_block(const RelocContext* c, uint32_t block_file_offset,
                             const uint8_t* old_block, uint32_t len, uint8_t* out);

// The chip's internal DRAM range [*lo, *hi) (where .bss lives); false for
// a chip T does not know.
bool reloc_internal_ram(uint16_t chip_id, uint32_t* lo, uint32_t* hi);

// ---- Encoder side (the device never calls these) ----

enum RelocSiteKind : uint8_t {
  kRelocSiteCall = 1,   // Xtensa CALLn (CALL4/8/12 only onto an ENTRY)
  kRelocSiteL32r,       // Xtensa L32R
  kRelocSiteJal,        // RV32 JAL
  kRelocSiteBranch,     // RV32 B-type
  kRelocSiteAuipc,      // RV32 AUIPC + %lo within 3 instructions
  kRelocSiteLui,        // RV32 LUI + %lo within 3 instructions
  kRelocSiteCj,         // RV32 C.J
  kRelocSiteCjal,       // RV32 C.JAL
  kRelocSiteCb,         // RV32 C.BEQZ / C.BNEZ
};

// A reference found in an image: the instruction's file offset, its kind
// and the load address it refers to.
struct RelocSite {
  uint32_t file_offset;
  uint32_t target;
  uint8_t kind;  // RelocSiteKind
};

typedef void (*RelocSiteFn)(void* ctx, const RelocSite* site);

// Calls fn for every reference T knows in the code segments of `image`
// (whose layout is l), found by one linear sweep per segment (not per
// block, unlike T), in file order; CALL targets and L32R addresses must lie
// in a segment. The encoder pairs the sites of OLD and NEW inside matched
// regions to learn how targets moved (docs/reloc.md, "Vote overlay").
// Returns kStatusOk, or kStatusBadArgument when the layout exceeds `size`.
Status reloc_find_sites(const RelocImageLayout* l, const uint8_t* image, uint32_t size,
                        RelocSiteFn fn, void* ctx);

}  // namespace ota

#endif  // OTA_RELOC_H
