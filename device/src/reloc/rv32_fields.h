// RV32IMC instruction fields that T reads and rewrites (RISC-V unprivileged
// ISA, "RV32I" and "C" chapters): the J/B/CJ/CB offsets, I/S immediates and
// the %lo instruction forms. Shared by T (reloc_rv32.cpp) and the site finder
// (reloc_sites.cpp). Private to device/src/reloc.
#ifndef OTA_RELOC_RV32_FIELDS_H
#define OTA_RELOC_RV32_FIELDS_H

#include <stdint.h>

#include "reloc_internal.h"

namespace ota {
namespace reloc_detail {

inline int32_t j_imm(uint32_t w) {
  return sext((((w >> 31) & 1) << 20) | (((w >> 12) & 0xFF) << 12) | (((w >> 20) & 1) << 11) |
                  (((w >> 21) & 0x3FF) << 1), 21);
}
inline uint32_t j_set(uint32_t w, uint32_t imm) {
  return (w & 0xFFF) | (((imm >> 20) & 1) << 31) | (((imm >> 1) & 0x3FF) << 21) |
         (((imm >> 11) & 1) << 20) | (((imm >> 12) & 0xFF) << 12);
}
inline int32_t b_imm(uint32_t w) {
  return sext((((w >> 31) & 1) << 12) | (((w >> 7) & 1) << 11) | (((w >> 25) & 0x3F) << 5) |
                  (((w >> 8) & 0xF) << 1), 13);
}
inline uint32_t b_set(uint32_t w, uint32_t imm) {
  return (w & 0x01FFF07F) | (((imm >> 12) & 1) << 31) | (((imm >> 5) & 0x3F) << 25) |
         (((imm >> 1) & 0xF) << 8) | (((imm >> 11) & 1) << 7);
}
inline int32_t cj_imm(uint32_t h) {
  return sext((((h >> 12) & 1) << 11) | (((h >> 11) & 1) << 4) | (((h >> 9) & 3) << 8) |
                  (((h >> 8) & 1) << 10) | (((h >> 7) & 1) << 6) | (((h >> 6) & 1) << 7) |
                  (((h >> 3) & 7) << 1) | (((h >> 2) & 1) << 5), 12);
}
inline uint32_t cj_set(uint32_t h, uint32_t imm) {
  return (h & 0xE003) | (((imm >> 11) & 1) << 12) | (((imm >> 4) & 1) << 11) |
         (((imm >> 8) & 3) << 9) | (((imm >> 10) & 1) << 8) | (((imm >> 6) & 1) << 7) |
         (((imm >> 7) & 1) << 6) | (((imm >> 1) & 7) << 3) | (((imm >> 5) & 1) << 2);
}
inline int32_t cb_imm(uint32_t h) {
  return sext((((h >> 12) & 1) << 8) | (((h >> 10) & 3) << 3) | (((h >> 5) & 3) << 6) |
                  (((h >> 3) & 3) << 1) | (((h >> 2) & 1) << 5), 9);
}
inline uint32_t cb_set(uint32_t h, uint32_t imm) {
  return (h & 0xE383) | (((imm >> 8) & 1) << 12) | (((imm >> 3) & 3) << 10) |
         (((imm >> 6) & 3) << 5) | (((imm >> 1) & 3) << 3) | (((imm >> 5) & 1) << 2);
}
inline int32_t i_imm(uint32_t w) { return sext(w >> 20, 12); }
inline int32_t s_imm(uint32_t w) { return sext(((w >> 25) << 5) | ((w >> 7) & 0x1F), 12); }
inline uint32_t i_set(uint32_t w, uint32_t imm) { return (w & 0x000FFFFF) | ((imm & 0xFFF) << 20); }
inline uint32_t s_set(uint32_t w, uint32_t imm) {
  imm &= 0xFFF;
  return (w & 0x01FFF07F) | ((imm >> 5) << 25) | ((imm & 0x1F) << 7);
}

inline uint32_t rd_of(uint32_t w) { return (w >> 7) & 0x1F; }

// %lo kind of a 4-byte instruction using rs1 == rd: 'i', 's' or 0.
inline char pair_lo(uint32_t w2, uint32_t rd) {
  if ((w2 & 3) != 3 || ((w2 >> 15) & 0x1F) != rd) return 0;
  uint32_t op = w2 & 0x7F;
  if (op == 0x13 && ((w2 >> 12) & 7) == 0) return 'i';
  if (op == 0x03 || op == 0x67 || op == 0x07) return 'i';
  if (op == 0x23 || op == 0x27) return 's';
  return 0;
}
inline int32_t lo_imm(uint32_t w, char kind) { return kind == 'i' ? i_imm(w) : s_imm(w); }
inline uint32_t lo_set(uint32_t w, char kind, uint32_t imm) {
  return kind == 'i' ? i_set(w, imm) : s_set(w, imm);
}

}  // namespace reloc_detail
}  // namespace ota

#endif  // OTA_RELOC_RV32_FIELDS_H
