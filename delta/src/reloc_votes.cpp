#include "ota/delta/reloc_votes.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace ota::delta {

namespace {

constexpr int64_t kMaxMove = 0x100000;  // votes further apart are coincidences
constexpr uint32_t kMinWordAdd = 8;
constexpr uint32_t kRunGap = 0x1000;

uint32_t word_at(std::span<const uint8_t> b, uint64_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);  // little endian host (as the rest of the encoder)
  return v;
}

std::vector<RelocSite> sites_of(std::span<const uint8_t> image, const RelocImageLayout& l) {
  std::vector<RelocSite> out;
  auto add = [](void* ctx, const RelocSite* s) { static_cast<std::vector<RelocSite>*>(ctx)->push_back(*s); };
  if (reloc_find_sites(&l, image.data(), uint32_t(image.size()), add, &out) != kStatusOk)
    throw std::invalid_argument("layout beyond the image");
  return out;
}

// Lookups in a map with T's own semantics (gaps, .bss tails).
class MapView {
 public:
  MapView(const RelocImageLayout& l, const std::vector<RelocRegion>& map) {
    if (reloc_context_init(&c_, &l, map.data(), uint32_t(map.size()), nullptr, nullptr) != kStatusOk)
      throw std::invalid_argument("address map refused");
  }
  std::optional<int64_t> delta(uint32_t va) const {
    int64_t n;
    if (!reloc_map(&c_, va, &n)) return std::nullopt;
    return n - int64_t(va);
  }

 private:
  RelocContext c_;
};

}  // namespace

std::vector<RelocVote> collect_reloc_votes(std::span<const uint8_t> old_image,
                                           std::span<const uint8_t> new_image,
                                           const RelocImageLayout& ol, const RelocImageLayout& nl,
                                           const std::vector<Record>& records) {
  std::vector<std::pair<uint32_t, uint32_t>> known;  // [lo, hi) of OLD's segments and RAM
  for (uint32_t k = 0; k < ol.segment_count; ++k)
    known.push_back({ol.segments[k].load_addr, ol.segments[k].load_addr + ol.segments[k].length});
  uint32_t ram_lo, ram_hi;
  if (reloc_internal_ram(ol.chip_id, &ram_lo, &ram_hi)) known.push_back({ram_lo, ram_hi});
  auto pointer_like = [&](uint32_t v) {
    for (auto [lo, hi] : known)
      if (v >= lo && v < hi) return true;
    return false;
  };

  std::vector<RelocVote> votes;
  int64_t old_pos = 0, new_pos = 0;
  for (const Record& r : records) {
    if (r.add_len >= kMinWordAdd && ((uint64_t(new_pos - old_pos)) & 3) == 0 && old_pos >= 0) {
      uint64_t s = uint64_t(-old_pos) & 3;
      for (uint64_t i = s; i + 4 <= r.add_len; i += 4) {
        uint64_t o = uint64_t(old_pos) + i, n = uint64_t(new_pos) + i;
        if (o + 4 > old_image.size() || n + 4 > new_image.size()) break;
        uint32_t ow = word_at(old_image, o), nw = word_at(new_image, n);
        if (ow == nw || !pointer_like(ow) || !pointer_like(nw)) continue;
        int64_t d = int64_t(nw) - int64_t(ow);
        if (d > -kMaxMove && d < kMaxMove) votes.push_back({ow, int32_t(d)});
      }
    }
    new_pos += int64_t(r.add_len) + r.insert_len;
    old_pos += int64_t(r.add_len) + r.seek;
  }

  std::vector<RelocSite> os = sites_of(old_image, ol), ns = sites_of(new_image, nl);
  std::unordered_map<uint32_t, const RelocSite*> at_new;
  for (const RelocSite& s : ns) at_new[s.file_offset] = &s;
  auto by_offset = [](const RelocSite& s, int64_t off) { return int64_t(s.file_offset) < off; };
  old_pos = new_pos = 0;
  for (const Record& r : records) {
    auto it = std::lower_bound(os.begin(), os.end(), old_pos, by_offset);
    for (; it != os.end() && int64_t(it->file_offset) < old_pos + int64_t(r.add_len); ++it) {
      auto q = at_new.find(uint32_t(int64_t(it->file_offset) - old_pos + new_pos));
      if (q == at_new.end() || q->second->kind != it->kind || q->second->target == it->target) continue;
      int64_t d = int64_t(q->second->target) - int64_t(it->target);
      if (d > -kMaxMove && d < kMaxMove) votes.push_back({it->target, int32_t(d)});
    }
    new_pos += int64_t(r.add_len) + r.insert_len;
    old_pos += int64_t(r.add_len) + r.seek;
  }
  return votes;
}

std::vector<RelocRegion> reloc_vote_runs(const RelocImageLayout& ol,
                                         const std::vector<RelocRegion>& map,
                                         const std::vector<RelocVote>& votes,
                                         uint32_t min_run_votes) {
  // Per target: delta -> (count, first seen).
  struct Tally {
    std::vector<std::pair<int32_t, uint32_t>> counts;  // in first-seen order
  };
  std::map<uint32_t, Tally> per;
  for (const RelocVote& v : votes) {
    auto& c = per[v.old_target].counts;
    auto it = std::find_if(c.begin(), c.end(), [&](auto& p) { return p.first == v.delta; });
    if (it == c.end()) c.push_back({v.delta, 1});
    else ++it->second;
  }
  MapView view(ol, map);
  struct Run {
    uint64_t start, end;
    int32_t delta;
    uint32_t votes;
  };
  std::vector<Run> runs;
  for (const auto& [t, tally] : per) {
    auto best = tally.counts.begin();
    for (auto it = tally.counts.begin(); it != tally.counts.end(); ++it)
      if (it->second > best->second) best = it;
    int32_t d = best->first;
    if (!runs.empty() && runs.back().delta == d && view.delta(t) && t - runs.back().end < kRunGap) {
      runs.back().end = uint64_t(t) + 1;
      runs.back().votes += best->second;
    } else {
      runs.push_back({t, uint64_t(t) + 1, d, best->second});
    }
  }
  // Where a device takes regions: inside one segment of OLD, or inside the
  // chip's internal RAM (data segments and the .bss after them).
  std::vector<std::pair<uint64_t, uint64_t>> allowed;
  uint32_t ram_lo = 0, ram_hi = 0;
  bool ram = reloc_internal_ram(ol.chip_id, &ram_lo, &ram_hi);
  if (ram) allowed.push_back({ram_lo, ram_hi});
  for (uint32_t k = 0; k < ol.segment_count; ++k) {
    uint64_t lo = ol.segments[k].load_addr, hi = lo + ol.segments[k].length;
    if (!ram || hi <= ram_lo || lo >= ram_hi) allowed.push_back({lo, hi});
  }
  // Kept: strong runs that disagree with the map at an end, cut to those.
  std::vector<Run> overlay;
  for (const Run& r : runs) {
    if (r.votes < min_run_votes) continue;
    if (view.delta(uint32_t(r.start)) == r.delta && view.delta(uint32_t(r.end - 1)) == r.delta)
      continue;
    for (auto [lo, hi] : allowed) {
      uint64_t a = std::max(lo, r.start), b = std::min(hi, r.end);
      if (a < b) overlay.push_back({a, b, r.delta, r.votes});
    }
  }
  std::sort(overlay.begin(), overlay.end(), [](const Run& x, const Run& y) { return x.start < y.start; });
  std::vector<RelocRegion> out;
  for (const Run& r : overlay) out.push_back({uint32_t(r.start), uint32_t(r.end - r.start), r.delta});
  return out;
}

std::vector<RelocRegion> paint_reloc_overlay(const RelocImageLayout& ol,
                                             const std::vector<RelocRegion>& map,
                                             const std::vector<RelocRegion>& runs) {
  if (runs.empty()) return map;
  struct Run {
    uint64_t start, end;
    int32_t delta;
  };
  std::vector<Run> overlay;
  for (const RelocRegion& r : runs) overlay.push_back({r.old_start, uint64_t(r.old_start) + r.length, r.delta});
  // Paint: between consecutive boundaries of both lists, the overlay wins,
  // then the map; nothing where neither covers.
  std::vector<uint64_t> bounds;
  for (const RelocRegion& r : map) {
    bounds.push_back(r.old_start);
    bounds.push_back(uint64_t(r.old_start) + r.length);
  }
  for (const Run& r : overlay) {
    bounds.push_back(r.start);
    bounds.push_back(r.end);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::vector<RelocRegion> out;
  size_t mi = 0, vi = 0;
  for (size_t k = 0; k + 1 < bounds.size(); ++k) {
    uint64_t a = bounds[k], b = bounds[k + 1];
    while (vi < overlay.size() && overlay[vi].end <= a) ++vi;
    while (mi < map.size() && uint64_t(map[mi].old_start) + map[mi].length <= a) ++mi;
    std::optional<int32_t> d;
    if (vi < overlay.size() && overlay[vi].start <= a) d = overlay[vi].delta;
    else if (mi < map.size() && map[mi].old_start <= a) d = map[mi].delta;
    if (!d) continue;
    bool segment_starts_here = false;
    for (uint32_t g = 0; g < ol.segment_count; ++g) segment_starts_here |= ol.segments[g].load_addr == a;
    if (!out.empty() && out.back().delta == *d && !segment_starts_here &&
        uint64_t(out.back().old_start) + out.back().length == a)
      out.back().length += uint32_t(b - a);
    else
      out.push_back({uint32_t(a), uint32_t(b - a), *d});
  }
  // Overlapping segments in a malformed OLD could still yield a map T
  // refuses; the map without overlay is the safe answer then.
  RelocContext check;
  if (reloc_context_init(&check, &ol, out.data(), uint32_t(out.size()), nullptr, nullptr) != kStatusOk)
    return map;
  return out;
}

std::vector<RelocRegion> overlay_reloc_votes(const RelocImageLayout& ol,
                                             const std::vector<RelocRegion>& map,
                                             const std::vector<RelocVote>& votes,
                                             uint32_t min_run_votes) {
  return paint_reloc_overlay(ol, map, reloc_vote_runs(ol, map, votes, min_run_votes));
}

}  // namespace ota::delta
