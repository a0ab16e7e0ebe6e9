// Shared by the pieces of T (reloc.h): one block being transformed, the map,
// and OLD's bytes around the block. Private to device/src/reloc.
#ifndef OTA_RELOC_INTERNAL_H
#define OTA_RELOC_INTERNAL_H

#include <stdint.h>

#include "ota/reloc.h"

namespace ota {
namespace reloc_detail {

constexpr uint32_t kMask32 = 0xFFFFFFFFu;

// One block being transformed: OLD's bytes in [base, base + len) are
// old_block, T's are being written to out. Reads outside the block go
// through the context's callback; the first failure is kept in `status`.
struct Block {
  const RelocContext* c;
  uint32_t base;
  uint32_t len;
  const uint8_t* old_block;
  uint8_t* out;
  Status status;
  uint32_t hint[2];  // regions the last two lookups landed in, newest first (guesses)
};

inline uint32_t get16(const uint8_t* p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
inline uint32_t get24(const uint8_t* p) { return get16(p) | ((uint32_t)p[2] << 16); }
inline uint32_t get32(const uint8_t* p) { return get24(p) | ((uint32_t)p[3] << 24); }
inline void put16(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
inline void put24(uint8_t* p, uint32_t v) {
  put16(p, v);
  p[2] = (uint8_t)(v >> 16);
}
inline void put32(uint8_t* p, uint32_t v) {
  put24(p, v);
  p[3] = (uint8_t)(v >> 24);
}
// Sign-extends the low `bits` bits of v.
inline int32_t sext(uint32_t v, unsigned bits) {
  uint32_t m = 1u << (bits - 1);
  v &= (bits == 32) ? kMask32 : ((1u << bits) - 1);
  return (int32_t)((v ^ m) - m);
}

// reloc_map for the block's sweeps: the same answer, but it first tries the
// regions the last two lookups landed in (a sweep alternates between its own
// pc, mostly in one region, and targets, often near each other).
bool map_addr(Block* b, uint32_t va, int64_t* new_addr);

// The segment of OLD holding load address va (first in table order), or null.
const RelocSegment* segment_of_addr(const RelocImageLayout* l, uint32_t va);

// Reads OLD's bytes [off, off + n) (n <= 4): from the block where they lie
// in it, else through the callback. False (and b->status set) on failure.
bool read_old(Block* b, uint32_t off, uint32_t n, uint8_t* dst);

// The word of OLD at file offset `off`, as the pointer pass leaves it; the
// word must be an aligned word of segment s (covered by the pointer pass
// when `rewritten` segments include s).
bool pointer_pass_word(Block* b, uint32_t off, uint32_t* value);

void transform_xtensa(Block* b);
void transform_rv32(Block* b);

// Calls fn(b, seg, start, end) for each code segment's part inside the block.
template <typename Fn>
void for_each_code_piece(Block* b, Fn fn) {
  const RelocImageLayout* l = b->c->layout;
  for (uint32_t i = 0; i < l->segment_count; ++i) {
    const RelocSegment& s = l->segments[i];
    if (s.kind != kRelocSegCode) continue;
    uint32_t bs = s.file_offset > b->base ? s.file_offset : b->base;
    uint32_t se = s.file_offset + s.length, be = b->base + b->len;
    uint32_t e = se < be ? se : be;
    if (bs < e) fn(b, s, bs, e);
  }
}

}  // namespace reloc_detail
}  // namespace ota

#endif  // OTA_RELOC_INTERNAL_H
