// T on RV32IMC (ESP32-C3) (reloc.h).
//
// Encodings (RISC-V unprivileged ISA, "RV32I" and "C" chapters):
//   JAL 0x6F imm[20|10:1|11|19:12] in bits 31:12; B-type 0x63;
//   AUIPC 0x17 / LUI 0x37 imm[31:12]; their %lo in an I-type (ADDI with
//   funct3 0, loads 0x03/0x07, JALR 0x67) or S-type (stores 0x23/0x27)
//   instruction whose rs1 is the %hi's rd;
//   C.J (funct3 5) / C.JAL (funct3 1) and C.BEQZ/C.BNEZ (funct3 6/7) in
//   quadrant 1.
// Two passes over each code piece of the block, in instruction order:
// (1) every site re-targeted to map(target) - map(pc) (LUI pairs: map(abs));
// (2) every later %lo use of a LUI/AUIPC register within 24 instructions.
// Instructions are decoded from OLD (old_block), rewrites read and write out.
#include "reloc_internal.h"
#include "rv32_fields.h"

namespace ota {
namespace reloc_detail {

namespace {

constexpr uint32_t kPairLookahead = 3;
constexpr uint32_t kMultiLoWindow = 24;

struct Piece {
  Block* b;
  const RelocSegment* s;
  uint32_t start, end;  // file offsets
};

struct Insn {
  uint32_t p;    // file offset
  uint32_t len;  // 2 or 4
  uint32_t w;    // as in OLD
};

// The instruction at p of the piece's linear sweep; false past the end (a
// 4-byte instruction straddling the end ends the sweep).
bool decode(const Piece& pc, uint32_t p, Insn* in) {
  if (p + 1 >= pc.end) return false;
  const uint8_t* q = pc.b->old_block + (p - pc.b->base);
  uint32_t h = get16(q);
  in->p = p;
  if ((h & 3) == 3) {
    if (p + 3 >= pc.end) return false;
    in->len = 4;
    in->w = get32(q);
  } else {
    in->len = 2;
    in->w = h;
  }
  return true;
}

uint8_t* at(const Piece& pc, uint32_t p) { return pc.b->out + (p - pc.b->base); }
uint32_t pc_of(const Piece& pc, uint32_t p) { return pc.s->load_addr + (p - pc.s->file_offset); }

// Writes the %hi/%lo pair so that it forms `value` (mod 2^32).
void write_pair(const Piece& pc, uint32_t p, uint32_t p2, char kind2, uint32_t value) {
  uint32_t hi = ((value + 0x800u) >> 12) & 0xFFFFF;
  uint32_t lo = (uint32_t)sext(value, 12);
  put32(at(pc, p), (get32(at(pc, p)) & 0xFFF) | (hi << 12));
  put32(at(pc, p2), lo_set(get32(at(pc, p2)), kind2, lo));
}

// Pass 1 for the U-type instruction `in`: finds its %lo within 3
// instructions and rewrites the pair.
void adjust_hi_pair(const Piece& pc, const Insn& in) {
  uint32_t w = in.w, op = w & 0x7F, rd = rd_of(w);
  if (rd == 0) return;
  Insn n;
  uint32_t p = in.p + in.len;
  for (uint32_t j = 0; j < kPairLookahead && decode(pc, p, &n); ++j, p += n.len) {
    if (n.len != 4) continue;
    char kind2 = pair_lo(n.w, rd);
    if (kind2) {
      uint32_t pc0 = pc_of(pc, in.p);
      uint32_t t = (op == 0x17 ? pc0 : 0) + (w & 0xFFFFF000u) + (uint32_t)lo_imm(n.w, kind2);
      int64_t t2, pc2;
      if (!map_addr(pc.b, t, &t2)) return;
      if (op == 0x37) {
        if (t2 != t) write_pair(pc, in.p, n.p, kind2, (uint32_t)t2);
        return;
      }
      if (!map_addr(pc.b, pc0, &pc2)) return;
      int64_t rel = t2 - pc2;
      if (rel != (int64_t)t - pc0) write_pair(pc, in.p, n.p, kind2, (uint32_t)rel);
      return;
    }
    uint32_t op2 = n.w & 0x7F;
    if (rd_of(n.w) == rd && op2 != 0x23 && op2 != 0x27 && op2 != 0x63) return;
  }
}

// Pass 1 for a PC-relative control transfer.
void adjust_branch(const Piece& pc, const Insn& in) {
  uint32_t pc0 = pc_of(pc, in.p);
  int32_t imm;
  int64_t range;
  if (in.len == 4) {
    uint32_t op = in.w & 0x7F;
    if (op == 0x6F) { imm = j_imm(in.w); range = 1 << 20; }
    else if (op == 0x63) { imm = b_imm(in.w); range = 1 << 12; }
    else return;
  } else {
    if ((in.w & 3) != 1) return;
    uint32_t f3 = in.w >> 13;
    if (f3 == 1 || f3 == 5) { imm = cj_imm(in.w); range = 1 << 11; }
    else if (f3 == 6 || f3 == 7) { imm = cb_imm(in.w); range = 1 << 8; }
    else return;
  }
  uint32_t t = pc0 + (uint32_t)imm;
  int64_t pc2, t2;
  if (!map_addr(pc.b, pc0, &pc2) || !map_addr(pc.b, t, &t2)) return;
  int64_t rel = t2 - pc2;
  if (rel == (int64_t)t - pc0 || (rel & 1) || rel < -range || rel >= range) return;
  uint8_t* q = at(pc, in.p);
  if (in.len == 4) {
    uint32_t op = in.w & 0x7F;
    put32(q, op == 0x6F ? j_set(get32(q), (uint32_t)rel) : b_set(get32(q), (uint32_t)rel));
  } else {
    uint32_t f3 = in.w >> 13;
    put16(q, (f3 == 1 || f3 == 5) ? cj_set(get16(q), (uint32_t)rel) : cb_set(get16(q), (uint32_t)rel));
  }
}

// Pass 2 for the U-type instruction `in`: its later %lo uses.
void adjust_multi_lo(const Piece& pc, const Insn& in) {
  uint32_t w = in.w, op = w & 0x7F, rd = rd_of(w);
  if (rd == 0) return;
  uint32_t pc0 = pc_of(pc, in.p);
  uint32_t base_old = (op == 0x17 ? pc0 : 0) + (w & 0xFFFFF000u);
  int64_t pc2 = 0;
  if (op == 0x17 && !map_addr(pc.b, pc0, &pc2)) return;
  uint32_t base_new = (uint32_t)pc2 + (get32(at(pc, in.p)) & 0xFFFFF000u);
  Insn n;
  uint32_t p = in.p + in.len;
  for (uint32_t j = 0; j < kMultiLoWindow && decode(pc, p, &n); ++j, p += n.len) {
    uint32_t w2 = n.w;
    if (n.len == 2) {
      uint32_t f3 = w2 >> 13;
      if ((w2 & 3) == 1 && (f3 == 1 || f3 == 5 || f3 == 6 || f3 == 7)) return;
      if ((w2 & 3) == 2 && f3 == 4 && rd_of(w2) == rd) return;
      continue;
    }
    char kind2 = pair_lo(w2, rd);
    if (kind2) {
      uint32_t t = base_old + (uint32_t)lo_imm(w2, kind2);
      int64_t t2;
      if (map_addr(pc.b, t, &t2)) {
        uint8_t* q = at(pc, n.p);
        uint32_t w2n = get32(q);
        int32_t want = (int32_t)((uint32_t)t2 - base_new);
        if (want >= -2048 && want < 2048 && want != lo_imm(w2n, kind2))
          put32(q, lo_set(w2n, kind2, (uint32_t)want));
      }
    }
    uint32_t op2 = w2 & 0x7F;
    if (op2 == 0x6F || op2 == 0x67 || op2 == 0x63) return;
    if (rd_of(w2) == rd && op2 != 0x23 && op2 != 0x27 && op2 != 0x63) return;
  }
}

void rv_piece(Block* b, const RelocSegment& s, uint32_t bs, uint32_t be) {
  Piece pc{b, &s, bs, be};
  Insn in;
  for (uint32_t p = bs; decode(pc, p, &in); p += in.len) {
    uint32_t op = in.w & 0x7F;
    if (in.len == 4 && (op == 0x17 || op == 0x37)) adjust_hi_pair(pc, in);
    else adjust_branch(pc, in);
  }
  for (uint32_t p = bs; decode(pc, p, &in); p += in.len) {
    uint32_t op = in.w & 0x7F;
    if (in.len == 4 && (op == 0x17 || op == 0x37)) adjust_multi_lo(pc, in);
  }
}

}  // namespace

void transform_rv32(Block* b) { for_each_code_piece(b, rv_piece); }

}  // namespace reloc_detail
}  // namespace ota
