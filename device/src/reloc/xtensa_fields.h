// Xtensa instruction fields that T reads (Xtensa ISA reference; LLVM's MC
// tests): 24-bit instructions, little-endian, unaligned; op0 = byte0 & 0xF,
// op0 8..13 are 16-bit. Shared by T (reloc_xtensa.cpp) and the site finder
// (reloc_sites.cpp). Private to device/src/reloc.
#ifndef OTA_RELOC_XTENSA_FIELDS_H
#define OTA_RELOC_XTENSA_FIELDS_H

#include <stdint.h>

#include "reloc_internal.h"

namespace ota {
namespace reloc_detail {

constexpr uint8_t kXtensaEntryOpcode = 0x36;  // first byte of ENTRY

// Bytes of the instruction whose first byte is b0 (linear sweep).
inline uint32_t xt_length(uint32_t b0) {
  uint32_t op0 = b0 & 0xF;
  return (op0 >= 8 && op0 <= 13) ? 2 : 3;
}
// CALLn (op0 5): n = bits 5:4, offset = sext(bits 23:6, 18),
// target = (pc & ~3) + (offset << 2) + 4.
inline bool xt_is_call(uint32_t b0) { return (b0 & 0xF) == 5; }
inline uint32_t xt_call_n(uint32_t b0) { return (b0 >> 4) & 3; }
inline uint32_t xt_call_target(uint32_t pc, uint32_t w) {
  return (pc & ~3u) + ((uint32_t)sext(w >> 6, 18) << 2) + 4;
}
// L32R (op0 1): imm16 = bits 23:8, one-extended, so always backwards:
// address = ((pc + 3) & ~3) + ((0xFFFF0000 | imm16) << 2).
inline bool xt_is_l32r(uint32_t b0) { return (b0 & 0xF) == 1; }
inline uint32_t xt_l32r_target(uint32_t pc, uint32_t w) {
  return ((pc + 3) & ~3u) + (((w >> 8) | 0xFFFF0000u) << 2);
}

}  // namespace reloc_detail
}  // namespace ota

#endif  // OTA_RELOC_XTENSA_FIELDS_H
