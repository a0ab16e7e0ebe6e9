// T's common part (reloc.h): the segment table, the address map, the
// pointer-word pass and the per-block entry point.
#include <string.h>

#include "reloc_internal.h"

namespace ota {

using namespace reloc_detail;

namespace {

struct ChipRanges {
  uint32_t code_lo, code_hi;  // flash-mapped code (IROM)
  uint32_t iram_lo, iram_hi;
  uint32_t ram_lo, ram_hi;    // internal DRAM: .bss tails
};

// esptool's targets (esp32.py, esp32c3.py, esp32s3.py); the ESP32 and C3
// ranges are the research prototype's, so encoder and golden outputs agree.
bool chip_ranges(uint16_t chip, ChipRanges* r) {
  switch (chip) {
    case 0: *r = {0x400C2000u, 0x40C00000u, 0x40080000u, 0x400A0000u, 0x3FFAE000u, 0x40000000u}; return true;
    case 5: *r = {0x42000000u, 0x42800000u, 0x40380000u, 0x403E0000u, 0x3FC80000u, 0x3FCE0000u}; return true;
    case 9: *r = {0x42000000u, 0x44000000u, 0x40370000u, 0x403E0000u, 0x3FC88000u, 0x3FD00000u}; return true;
    default: return false;
  }
}

bool in(uint32_t v, uint32_t lo, uint32_t hi) { return v >= lo && v < hi; }

// Index of the last region with old_start <= va, or -1.
int32_t last_region_at_or_before(const RelocContext* c, uint32_t va) {
  uint32_t lo = 0, hi = c->region_count;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->regions[mid].old_start <= va) lo = mid + 1;
    else hi = mid;
  }
  return (int32_t)lo - 1;
}

// *region: the index of the region holding va when there is one (else
// unchanged).
bool lookup_delta(const RelocContext* c, uint32_t va, int32_t* delta, uint32_t* region) {
  if (va < c->hull_lo || va >= c->hull_hi) return false;
  int32_t i = last_region_at_or_before(c, va);
  if (i >= 0) {
    const RelocRegion& r = c->regions[i];
    if (va - r.old_start < r.length) {
      *delta = r.delta;
      *region = (uint32_t)i;
      return true;
    }
    // A gap: the region before it counts when both lie in one segment.
    const RelocImageLayout* l = c->layout;
    for (uint32_t k = 0; k < l->segment_count; ++k) {
      const RelocSegment& s = l->segments[k];
      if (va - s.load_addr < s.length && r.old_start - s.load_addr < s.length) {
        *delta = r.delta;
        return true;
      }
    }
  }
  for (uint32_t k = 0; k < c->tail_count; ++k) {
    if (in(va, c->tails[k].start, c->tails[k].end)) {
      *delta = c->tails[k].delta;
      return true;
    }
  }
  return false;
}

// The pointer pass over one segment's aligned words that overlap the block.
void pointer_pass_segment(Block* b, const RelocSegment& s) {
  uint32_t start = s.file_offset + ((0u - s.load_addr) & 3u);
  uint32_t seg_end = s.file_offset + s.length;
  if (seg_end < start + 4) return;
  uint32_t words = (seg_end - start) / 4;
  uint32_t words_end = start + 4 * words;
  // Words overlapping [base, base + len): off in (base - 4, base + len).
  uint32_t lo = start;
  if (b->base > lo + 3) lo = start + ((b->base - 3 - start + 3) / 4) * 4;
  uint32_t block_end = b->base + b->len;
  for (uint32_t off = lo; off < words_end && off < block_end; off += 4) {
    uint32_t v;
    if (!pointer_pass_word(b, off, &v)) return;
    if (off >= b->base && off + 4 <= block_end) {
      put32(b->out + (off - b->base), v);
      continue;
    }
    for (uint32_t k = 0; k < 4; ++k) {  // a word straddling the block's ends
      uint32_t f = off + k;
      if (f >= b->base && f < block_end) b->out[f - b->base] = (uint8_t)(v >> (8 * k));
    }
  }
}

}  // namespace

namespace reloc_detail {

const RelocSegment* segment_of_addr(const RelocImageLayout* l, uint32_t va) {
  for (uint32_t k = 0; k < l->segment_count; ++k) {
    const RelocSegment& s = l->segments[k];
    if (va - s.load_addr < s.length) return &s;
  }
  return nullptr;
}

bool read_old(Block* b, uint32_t off, uint32_t n, uint8_t* dst) {
  uint32_t end = b->base + b->len;
  if (off >= b->base && off + n <= end) {
    memcpy(dst, b->old_block + (off - b->base), n);
    return true;
  }
  for (uint32_t k = 0; k < n; ++k) {
    uint32_t f = off + k;
    if (f >= b->base && f < end) {
      dst[k] = b->old_block[f - b->base];
      continue;
    }
    if (f >= b->c->layout->image_size || !b->c->read ||
        b->c->read(b->c->read_ctx, f, dst + k, 1) != 0) {
      if (b->status == kStatusOk) b->status = kStatusReadError;
      return false;
    }
  }
  return true;
}

bool pointer_pass_word(Block* b, uint32_t off, uint32_t* value) {
  uint32_t v;
  if (off >= b->base && off - b->base + 4 <= b->len) {
    v = get32(b->old_block + (off - b->base));
  } else {
    uint8_t w[4];
    if (!read_old(b, off, 4, w)) return false;
    v = get32(w);
  }
  int64_t m;
  if (map_addr(b, v, &m)) v = (uint32_t)m;
  *value = v;
  return true;
}

bool map_addr(Block* b, uint32_t va, int64_t* new_addr) {
  const RelocContext* c = b->c;
  for (uint32_t k = 0; k < 2; ++k) {
    if (b->hint[k] >= c->region_count) continue;
    // Regions do not overlap, so a hit here is what the search would find.
    const RelocRegion& r = c->regions[b->hint[k]];
    if (va - r.old_start < r.length) {
      *new_addr = (int64_t)va + r.delta;
      if (k == 1) {  // newest first
        uint32_t h = b->hint[1];
        b->hint[1] = b->hint[0];
        b->hint[0] = h;
      }
      return true;
    }
  }
  int32_t d;
  uint32_t region = c->region_count;
  if (!lookup_delta(c, va, &d, &region)) return false;
  if (region < c->region_count) {
    b->hint[1] = b->hint[0];
    b->hint[0] = region;
  }
  *new_addr = (int64_t)va + d;
  return true;
}

}  // namespace reloc_detail

RelocIsa reloc_isa_for_chip(uint16_t chip_id) {
  switch (chip_id) {
    case 0:
    case 9: return kRelocIsaXtensa;
    case 5: return kRelocIsaRv32;
    default: return kRelocIsaNone;
  }
}

bool reloc_internal_ram(uint16_t chip_id, uint32_t* lo, uint32_t* hi) {
  ChipRanges r;
  if (!chip_ranges(chip_id, &r)) return false;
  *lo = r.ram_lo;
  *hi = r.ram_hi;
  return true;
}

Status reloc_read_layout(EspReadFn read, void* ctx, uint32_t limit, RelocImageLayout* out) {
  if (!read || !out) return kStatusBadArgument;
  memset(out, 0, sizeof(*out));
  uint8_t h[24];
  if (limit < 24) return kStatusBadImage;
  if (read(ctx, 0, h, 24) != 0) return kStatusReadError;
  if (h[0] != 0xE9 || h[1] == 0 || h[1] > kEspImageMaxSegments) return kStatusBadImage;
  uint16_t chip = (uint16_t)get16(h + 12);
  ChipRanges r;
  bool known = chip_ranges(chip, &r);
  uint32_t off = 24;
  for (uint32_t i = 0; i < h[1]; ++i) {
    uint8_t sh[8];
    if (limit - off < 8) return kStatusBadImage;
    if (read(ctx, off, sh, 8) != 0) return kStatusReadError;
    RelocSegment& s = out->segments[i];
    s.file_offset = off + 8;
    s.load_addr = get32(sh);
    s.length = get32(sh + 4);
    if (s.length > limit - s.file_offset) return kStatusBadImage;
    s.kind = (known && (in(s.load_addr, r.code_lo, r.code_hi) || in(s.load_addr, r.iram_lo, r.iram_hi)))
                 ? kRelocSegCode : kRelocSegData;
    off = s.file_offset + s.length;
  }
  out->chip_id = chip;
  out->segment_count = h[1];
  out->image_size = off;
  return kStatusOk;
}

Status reloc_context_init(RelocContext* c, const RelocImageLayout* layout,
                          const RelocRegion* regions, uint32_t region_count, EspReadFn read,
                          void* read_ctx) {
  if (!c || !layout || (region_count && !regions) || layout->segment_count > kEspImageMaxSegments)
    return kStatusBadArgument;
  memset(c, 0, sizeof(*c));
  for (uint32_t i = 0; i < region_count; ++i) {
    const RelocRegion& r = regions[i];
    if (r.length == 0 || r.length > 0xFFFFFFFFu - r.old_start + 1u) return kStatusBadArgument;
    if (i > 0) {
      const RelocRegion& p = regions[i - 1];
      if (r.old_start < p.old_start || r.old_start - p.old_start < p.length) return kStatusBadArgument;
    }
  }
  c->layout = layout;
  c->regions = regions;
  c->region_count = region_count;
  c->isa = reloc_isa_for_chip(layout->chip_id);
  c->read = read;
  c->read_ctx = read_ctx;
  if (region_count == 0) return kStatusOk;  // nothing maps: an empty hull
  // The hull: regions, then OLD's segments (gaps), then the tails below.
  uint64_t lo = regions[0].old_start, hi = (uint64_t)regions[region_count - 1].old_start +
                                            regions[region_count - 1].length;
  for (uint32_t k = 0; k < layout->segment_count; ++k) {
    const RelocSegment& s = layout->segments[k];
    if (s.length == 0) continue;
    if (s.load_addr < lo) lo = s.load_addr;
    if ((uint64_t)s.load_addr + s.length > hi) hi = (uint64_t)s.load_addr + s.length;
  }
  c->hull_lo = (uint32_t)lo;
  c->hull_hi = hi;
  ChipRanges r;
  if (!chip_ranges(layout->chip_id, &r)) return kStatusOk;
  // .bss tails: after each internal-RAM segment, the delta of its last region.
  for (uint32_t k = 0; k < layout->segment_count; ++k) {
    const RelocSegment& s = layout->segments[k];
    if (!in(s.load_addr, r.ram_lo, r.ram_hi) || s.length == 0) continue;
    uint32_t end = s.load_addr + s.length;
    int32_t i = last_region_at_or_before(c, end - 1);
    if (i < 0 || regions[i].old_start < s.load_addr) continue;
    RelocTail& t = c->tails[c->tail_count++];
    t.start = end;
    t.end = (r.ram_hi - end > 0x40000u) ? end + 0x40000u : r.ram_hi;
    t.delta = regions[i].delta;
    if (t.start < c->hull_lo) c->hull_lo = t.start;
    if (t.end > c->hull_hi) c->hull_hi = t.end;
  }
  return kStatusOk;
}

bool reloc_map(const RelocContext* c, uint32_t old_addr, int64_t* new_addr) {
  int32_t d;
  uint32_t region;
  if (!lookup_delta(c, old_addr, &d, &region)) return false;
  *new_addr = (int64_t)old_addr + d;
  return true;
}

Status reloc_transform_block(const RelocContext* c, uint32_t block_file_offset,
                             const uint8_t* old_block, uint32_t len, uint8_t* out) {
  if (!c || !c->layout || !old_block || !out || len == 0 || len > kRelocBlockSize ||
      block_file_offset % kRelocBlockSize != 0 || block_file_offset >= c->layout->image_size ||
      len > c->layout->image_size - block_file_offset)
    return kStatusBadArgument;
  memcpy(out, old_block, len);
  if (c->isa == kRelocIsaNone) return kStatusOk;
  Block b{c, block_file_offset, len, old_block, out, kStatusOk, {c->region_count, c->region_count}};
  const RelocImageLayout* l = c->layout;
  // Pointer words: every segment on Xtensa (L32R literals live in code),
  // data segments only on RISC-V (instruction words look like addresses).
  for (uint32_t k = 0; k < l->segment_count && b.status == kStatusOk; ++k) {
    const RelocSegment& s = l->segments[k];
    if (c->isa == kRelocIsaRv32 && s.kind == kRelocSegCode) continue;
    pointer_pass_segment(&b, s);
  }
  if (b.status != kStatusOk) return b.status;
  if (c->isa == kRelocIsaXtensa) transform_xtensa(&b);
  else transform_rv32(&b);
  return b.status;
}

}  // namespace ota
