// The encoder's site finder (reloc.h, reloc_find_sites): every reference T
// knows in the code segments of a whole image. Decodes with the same field
// helpers as T; what it reports only steers the encoder's vote overlay, so
// it sweeps each segment once instead of per block.
#include "reloc_internal.h"
#include "rv32_fields.h"
#include "xtensa_fields.h"

namespace ota {

using namespace reloc_detail;

namespace {

constexpr uint32_t kPairLookahead = 3;  // as T's %hi/%lo pairing

struct Sweep {
  const RelocImageLayout* l;
  const uint8_t* image;
  RelocSiteFn fn;
  void* ctx;
};

void emit(const Sweep& s, uint32_t p, uint8_t kind, uint32_t target) {
  RelocSite site{p, target, kind};
  s.fn(s.ctx, &site);
}

void xtensa_segment(const Sweep& sw, const RelocSegment& s) {
  uint32_t end = s.file_offset + s.length;
  for (uint32_t p = s.file_offset; p + 2 < end;) {
    const uint8_t* q = sw.image + p;
    uint32_t b0 = q[0], pc = s.load_addr + (p - s.file_offset);
    if (xt_is_call(b0)) {
      uint32_t t = xt_call_target(pc, get24(q));
      const RelocSegment* ts = segment_of_addr(sw.l, t);
      if (ts && (xt_call_n(b0) == 0 ||
                 sw.image[ts->file_offset + (t - ts->load_addr)] == kXtensaEntryOpcode))
        emit(sw, p, kRelocSiteCall, t);
    } else if (xt_is_l32r(b0)) {
      uint32_t t = xt_l32r_target(pc, get24(q));
      if (segment_of_addr(sw.l, t)) emit(sw, p, kRelocSiteL32r, t);
    }
    p += xt_length(b0);
  }
}

// The instruction at p (2 or 4 bytes) when it lies before end.
bool rv_decode(const uint8_t* image, uint32_t p, uint32_t end, uint32_t* w, uint32_t* len) {
  if (p + 1 >= end) return false;
  uint32_t h = get16(image + p);
  if ((h & 3) != 3) {
    *w = h;
    *len = 2;
    return true;
  }
  if (p + 3 >= end) return false;
  *w = get32(image + p);
  *len = 4;
  return true;
}

void rv_hi_pair(const Sweep& sw, const RelocSegment& s, uint32_t p, uint32_t w, uint32_t next,
                uint32_t end) {
  uint32_t op = w & 0x7F, rd = rd_of(w);
  if (rd == 0) return;
  uint32_t w2, len2;
  for (uint32_t j = 0; j < kPairLookahead && rv_decode(sw.image, next, end, &w2, &len2);
       ++j, next += len2) {
    if (len2 != 4) continue;
    char kind2 = pair_lo(w2, rd);
    if (kind2) {
      uint32_t pc = s.load_addr + (p - s.file_offset);
      uint32_t t = (op == 0x17 ? pc : 0) + (w & 0xFFFFF000u) + (uint32_t)lo_imm(w2, kind2);
      emit(sw, p, op == 0x17 ? kRelocSiteAuipc : kRelocSiteLui, t);
      return;
    }
    uint32_t op2 = w2 & 0x7F;
    if (rd_of(w2) == rd && op2 != 0x23 && op2 != 0x27 && op2 != 0x63) return;
  }
}

void rv32_segment(const Sweep& sw, const RelocSegment& s) {
  uint32_t end = s.file_offset + s.length, w, len;
  for (uint32_t p = s.file_offset; rv_decode(sw.image, p, end, &w, &len); p += len) {
    uint32_t pc = s.load_addr + (p - s.file_offset);
    if (len == 4) {
      uint32_t op = w & 0x7F;
      if (op == 0x6F) emit(sw, p, kRelocSiteJal, pc + (uint32_t)j_imm(w));
      else if (op == 0x63) emit(sw, p, kRelocSiteBranch, pc + (uint32_t)b_imm(w));
      else if (op == 0x17 || op == 0x37) rv_hi_pair(sw, s, p, w, p + 4, end);
      continue;
    }
    if ((w & 3) != 1) continue;
    uint32_t f3 = w >> 13;
    if (f3 == 1 || f3 == 5)
      emit(sw, p, f3 == 5 ? kRelocSiteCj : kRelocSiteCjal, pc + (uint32_t)cj_imm(w));
    else if (f3 == 6 || f3 == 7)
      emit(sw, p, kRelocSiteCb, pc + (uint32_t)cb_imm(w));
  }
}

}  // namespace

Status reloc_find_sites(const RelocImageLayout* l, const uint8_t* image, uint32_t size,
                        RelocSiteFn fn, void* ctx) {
  if (!l || !image || !fn || l->image_size > size || l->segment_count > kEspImageMaxSegments)
    return kStatusBadArgument;
  RelocIsa isa = reloc_isa_for_chip(l->chip_id);
  Sweep sw{l, image, fn, ctx};
  for (uint32_t k = 0; k < l->segment_count; ++k) {
    const RelocSegment& s = l->segments[k];
    if (s.kind != kRelocSegCode) continue;
    if (isa == kRelocIsaXtensa) xtensa_segment(sw, s);
    else if (isa == kRelocIsaRv32) rv32_segment(sw, s);
  }
  return kStatusOk;
}

}  // namespace ota
