// T on Xtensa (ESP32 LX6, ESP32-S3 LX7): CALLn and L32R (reloc.h); the
// encodings are in xtensa_fields.h. CALL4/8/12 count only when they land on
// an ENTRY.
#include "reloc_internal.h"
#include "xtensa_fields.h"

namespace ota {
namespace reloc_detail {

namespace {

// OLD's byte at file offset f as the pointer pass leaves it (s holds f).
bool pointer_pass_byte(Block* b, const RelocSegment& s, uint32_t f, uint8_t* out) {
  uint32_t start = s.file_offset + ((0u - s.load_addr) & 3u);
  uint32_t seg_end = s.file_offset + s.length;
  if (f >= start && (f - start) % 4 == 0 && seg_end - f >= 4) {
    uint32_t v;
    if (!pointer_pass_word(b, f, &v)) return false;
    *out = (uint8_t)v;
    return true;
  }
  return read_old(b, f, 1, out);
}

void sweep_piece(Block* b, const RelocSegment& s, uint32_t bs, uint32_t be) {
  const RelocContext* c = b->c;
  uint8_t* out = b->out;
  for (uint32_t p = bs; p + 2 < be && b->status == kStatusOk;) {
    uint8_t* q = out + (p - b->base);  // after the pointer pass, before any rewrite here
    uint32_t b0 = q[0];
    uint32_t pc = s.load_addr + (p - s.file_offset);
    if (xt_is_call(b0)) {
      uint32_t w = get24(q);
      uint32_t n = xt_call_n(b0);
      uint32_t t = xt_call_target(pc, w);
      const RelocSegment* ts = segment_of_addr(c->layout, t);
      bool ok = ts != nullptr;
      if (ok && n != 0) {
        uint8_t e = 0;
        if (!pointer_pass_byte(b, *ts, ts->file_offset + (t - ts->load_addr), &e)) return;
        ok = e == kXtensaEntryOpcode;
      }
      int64_t pc2, t2;
      if (ok && map_addr(b, pc, &pc2) && map_addr(b, t, &t2) && (t2 & 3) == 0) {
        int64_t off = (t2 - ((pc2 & ~(int64_t)3) + 4)) / 4;
        if (off >= -(1 << 17) && off < (1 << 17)) {
          uint32_t nw = (w & 0x3F) | (((uint32_t)off & 0x3FFFF) << 6);
          if (nw != w) put24(q, nw);
        }
      }
    } else if (xt_is_l32r(b0)) {
      uint32_t w = get24(q);
      uint32_t t = xt_l32r_target(pc, w);
      int64_t pc2, t2;
      if (segment_of_addr(c->layout, t) && map_addr(b, pc, &pc2) && map_addr(b, t, &t2) &&
          pc2 - pc != t2 - t && (t2 & 3) == 0) {
        int64_t k = (t2 - ((pc2 + 3) & ~(int64_t)3)) / 4;
        if (k >= -(1 << 16) && k < 0) {
          uint32_t nw = (w & 0xFF) | (((uint32_t)k & 0xFFFF) << 8);
          if (nw != w) put24(q, nw);
        }
      }
    }
    p += xt_length(b0);
  }
}

}  // namespace

void transform_xtensa(Block* b) { for_each_code_piece(b, sweep_piece); }

}  // namespace reloc_detail
}  // namespace ota
