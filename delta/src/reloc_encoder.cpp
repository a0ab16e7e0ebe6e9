#include "ota/delta/reloc_encoder.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "ota/delta/lzma_compress.h"
#include "ota/delta/reloc_votes.h"
#include "ota/delta/sha256.h"

namespace ota::delta {

namespace {

struct Mem {
  std::span<const uint8_t> bytes;
};

int read_mem(void* ctx, uint32_t off, uint8_t* buf, uint32_t len) {
  auto* m = static_cast<Mem*>(ctx);
  if (off > m->bytes.size() || len > m->bytes.size() - off) return -1;
  std::memcpy(buf, m->bytes.data() + off, len);
  return 0;
}

// Load address of file offset `off` and the bytes left in its segment.
bool file_to_addr(const RelocImageLayout& l, uint64_t off, uint32_t* addr, uint64_t* left) {
  for (uint32_t k = 0; k < l.segment_count; ++k) {
    const RelocSegment& s = l.segments[k];
    if (off >= s.file_offset && off < uint64_t(s.file_offset) + s.length) {
      *addr = s.load_addr + uint32_t(off - s.file_offset);
      *left = uint64_t(s.file_offset) + s.length - off;
      return true;
    }
  }
  return false;
}

int segment_index(const RelocImageLayout& l, uint32_t va) {
  for (uint32_t k = 0; k < l.segment_count; ++k)
    if (va - l.segments[k].load_addr < l.segments[k].length) return int(k);
  return -1;
}

void put_varint(std::vector<uint8_t>& out, int64_t v) {
  uint64_t z = (uint64_t(v) << 1) ^ uint64_t(v >> 63);
  while (z >= 0x80) {
    out.push_back(uint8_t(z | 0x80));
    z >>= 7;
  }
  out.push_back(uint8_t(z));
}

}  // namespace

std::optional<RelocImageLayout> reloc_layout(std::span<const uint8_t> image) {
  if (image.size() > UINT32_MAX) return std::nullopt;
  Mem m{image};
  RelocImageLayout l;
  if (reloc_read_layout(read_mem, &m, uint32_t(image.size()), &l) != kStatusOk) return std::nullopt;
  return l;
}

bool reloc_applicable(const RelocImageLayout& a, const RelocImageLayout& b) {
  return a.chip_id == b.chip_id && reloc_isa_for_chip(a.chip_id) != kRelocIsaNone;
}

std::vector<RelocRegion> estimate_reloc_map(const RelocImageLayout& ol, const RelocImageLayout& nl,
                                            const std::vector<Record>& records, uint32_t min_len) {
  struct Raw {
    uint32_t start, length;
    int64_t delta;
  };
  std::vector<Raw> raw;
  int64_t old_pos = 0, new_pos = 0;
  for (const Record& r : records) {
    if (r.add_len >= min_len) {
      int64_t o = old_pos, n = new_pos, left = r.add_len;
      while (left > 0) {
        uint32_t oa, na;
        uint64_t orem, nrem;
        int64_t step = 1;
        if (o >= 0 && file_to_addr(ol, uint64_t(o), &oa, &orem) &&
            file_to_addr(nl, uint64_t(n), &na, &nrem)) {
          step = std::min<int64_t>({left, int64_t(orem), int64_t(nrem)});
          if (step >= min_len / 2) raw.push_back({oa, uint32_t(step), int64_t(na) - int64_t(oa)});
        }
        o += step;
        n += step;
        left -= step;
      }
    }
    new_pos += int64_t(r.add_len) + r.insert_len;
    old_pos += int64_t(r.add_len) + r.seek;
  }
  // Longest first (ties in match order), rejecting overlaps.
  std::stable_sort(raw.begin(), raw.end(), [](const Raw& a, const Raw& b) { return a.length > b.length; });
  std::vector<Raw> taken;  // sorted by start
  for (const Raw& r : raw) {
    auto it = std::upper_bound(taken.begin(), taken.end(), r.start,
                               [](uint32_t s, const Raw& t) { return s < t.start; });
    uint64_t end = uint64_t(r.start) + r.length;
    if (it != taken.begin() && uint64_t(std::prev(it)->start) + std::prev(it)->length > r.start) continue;
    if (it != taken.end() && it->start < end) continue;
    taken.insert(it, r);
  }
  std::vector<RelocRegion> merged;
  for (const Raw& r : taken) {
    if (r.delta < INT32_MIN || r.delta > INT32_MAX) continue;  // not a real move
    if (!merged.empty() && merged.back().delta == r.delta &&
        segment_index(ol, merged.back().old_start) == segment_index(ol, r.start)) {
      merged.back().length = r.start + r.length - merged.back().old_start;
      continue;
    }
    merged.push_back({r.start, r.length, int32_t(r.delta)});
  }
  return merged;
}

std::vector<uint8_t> reloc_transform_image(std::span<const uint8_t> old_image,
                                           const RelocImageLayout& layout,
                                           const std::vector<RelocRegion>& map) {
  Mem m{old_image};
  RelocContext c;
  if (reloc_context_init(&c, &layout, map.data(), uint32_t(map.size()), read_mem, &m) != kStatusOk)
    throw std::invalid_argument("address map refused");
  if (layout.image_size > old_image.size()) throw std::invalid_argument("layout beyond the image");
  std::vector<uint8_t> out(old_image.begin(), old_image.end());
  for (uint32_t off = 0; off < layout.image_size; off += kRelocBlockSize) {
    uint32_t len = std::min<uint32_t>(kRelocBlockSize, layout.image_size - off);
    Status s = reloc_transform_block(&c, off, old_image.data() + off, len, out.data() + off);
    if (s != kStatusOk) throw std::runtime_error(status_message(s));
  }
  return out;
}

std::vector<uint8_t> serialize_reloc_map(const std::vector<RelocRegion>& map) {
  std::vector<uint8_t> out;
  put_varint(out, int64_t(map.size()));
  int64_t prev_end = 0, prev_delta = 0;
  for (const RelocRegion& r : map) {
    put_varint(out, int64_t(r.old_start) - prev_end);
    put_varint(out, r.length);
    put_varint(out, int64_t(r.delta) - prev_delta);
    prev_end = int64_t(r.old_start) + r.length;
    prev_delta = r.delta;
  }
  return out;
}

namespace {

// build_reloc_map with match(old, new) given.
std::vector<RelocRegion> map_from(std::span<const uint8_t> old_image,
                                  std::span<const uint8_t> new_image, const RelocImageLayout& ol,
                                  const RelocImageLayout& nl, const RelocMapOptions& mo,
                                  const MatchOptions& match, const std::vector<Record>& records0) {
  std::vector<RelocRegion> map = estimate_reloc_map(ol, nl, records0);
  for (int i = 0; i < mo.refine; ++i) {
    // T(old) keeps OLD's layout, so its matches still give old -> new addresses.
    std::vector<uint8_t> old1 = reloc_transform_image(old_image, ol, map);
    map = estimate_reloc_map(ol, nl, match_images(old1, new_image, match));
  }
  if (mo.min_run_votes > 0 && !map.empty()) {
    std::vector<uint8_t> old1 = reloc_transform_image(old_image, ol, map);
    std::vector<RelocVote> votes =
        collect_reloc_votes(old_image, new_image, ol, nl, match_images(old1, new_image, match));
    map = overlay_reloc_votes(ol, map, votes, mo.min_run_votes);
  }
  return map;
}

// make_reloc_patch with match(old, new) given.
std::vector<uint8_t> reloc_patch_from(std::span<const uint8_t> old_image,
                                      std::span<const uint8_t> new_image,
                                      const EncodeOptions& options, const RelocMapOptions& map_options,
                                      const std::vector<Record>& records0) {
  auto ol = reloc_layout(old_image), nl = reloc_layout(new_image);
  if (!ol || !nl || !reloc_applicable(*ol, *nl) || ol->image_size > old_image.size()) return {};
  std::vector<RelocRegion> map =
      map_from(old_image, new_image, *ol, *nl, map_options, options.match, records0);
  if (map.empty()) return {};
  std::vector<uint8_t> old1 = reloc_transform_image(old_image, *ol, map);
  std::vector<uint8_t> side = reloc_side_data(ol->chip_id, map);
  uint32_t units = uint32_t((map.size() + kRelocCapacityUnit - 1) / kRelocCapacityUnit);
  if (side.size() > kRelocSideMax || units > 255) return {};
  // The plain patch of T(old) -> new, then the header names OLD itself and
  // the transform, and the side data goes between header and payload.
  std::vector<uint8_t> inner = make_patch(old1, new_image, options);
  PatchHeader h;
  if (patch_header_parse(inner.data(), &h) != kStatusOk) throw std::runtime_error("patch header");
  h.transform = kTransformReloc;
  h.transform_version = kTransformRelocVersion;
  h.side_size = uint32_t(side.size());
  h.map_capacity = uint8_t(units);
  Digest od = sha256(old_image);
  std::memcpy(h.old_sha256, od.data(), 32);
  std::vector<uint8_t> patch(kPatchHeaderSize);
  patch_header_write(h, patch.data());
  patch.insert(patch.end(), side.begin(), side.end());
  patch.insert(patch.end(), inner.begin() + kPatchHeaderSize, inner.end());
  return patch;
}

}  // namespace

std::vector<RelocRegion> build_reloc_map(std::span<const uint8_t> old_image,
                                         std::span<const uint8_t> new_image,
                                         const RelocImageLayout& ol, const RelocImageLayout& nl,
                                         const RelocMapOptions& mo, const MatchOptions& match) {
  return map_from(old_image, new_image, ol, nl, mo, match, match_images(old_image, new_image, match));
}

RelocPatchSizes measure_reloc_patch(std::span<const uint8_t> old_image,
                                    std::span<const uint8_t> new_image,
                                    const RelocMapOptions& map_options,
                                    const EncodeOptions& options) {
  RelocPatchSizes r;
  auto ol = reloc_layout(old_image), nl = reloc_layout(new_image);
  if (!ol || !nl || !reloc_applicable(*ol, *nl)) {
    r.patch = make_patch(old_image, new_image, options).size();
    return r;
  }
  std::vector<RelocRegion> map =
      build_reloc_map(old_image, new_image, *ol, *nl, map_options, options.match);
  std::vector<uint8_t> old1 = reloc_transform_image(old_image, *ol, map);
  r.applied = true;
  r.regions = uint32_t(map.size());
  std::vector<uint8_t> ser = serialize_reloc_map(map);
  r.map_raw = ser.size();
  r.map_lzma = lzma_compress_raw(ser, {options.dict_size, options.lc, options.lp, options.pb}).size();
  r.patch = make_patch(old1, new_image, options).size();
  return r;
}

std::vector<uint8_t> reloc_side_data(uint16_t chip_id, const std::vector<RelocRegion>& map) {
  std::vector<uint8_t> side{uint8_t(chip_id), uint8_t(chip_id >> 8)};
  std::vector<uint8_t> ser = serialize_reloc_map(map);
  side.insert(side.end(), ser.begin(), ser.end());
  return side;
}

std::vector<uint8_t> make_reloc_patch(std::span<const uint8_t> old_image,
                                      std::span<const uint8_t> new_image,
                                      const EncodeOptions& options,
                                      const RelocMapOptions& map_options) {
  auto ol = reloc_layout(old_image), nl = reloc_layout(new_image);
  if (!ol || !nl || !reloc_applicable(*ol, *nl)) return {};  // before the costly match
  return reloc_patch_from(old_image, new_image, options, map_options,
                          match_images(old_image, new_image, options.match));
}

std::vector<uint8_t> make_patch_auto(std::span<const uint8_t> old_image,
                                     std::span<const uint8_t> new_image,
                                     const EncodeOptions& options) {
  // One match(old, new) serves the plain patch and the map's first estimate.
  std::vector<Record> records0 = match_images(old_image, new_image, options.match);
  std::vector<uint8_t> plain = make_patch_from_records(old_image, new_image, records0, options);
  std::vector<uint8_t> reloc = reloc_patch_from(old_image, new_image, options, {}, records0);
  if (!reloc.empty() && reloc.size() < plain.size()) return reloc;
  return plain;
}

}  // namespace ota::delta
