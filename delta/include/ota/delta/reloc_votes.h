// The vote overlay of the firmware-aware encoder (issue #7, docs/reloc.md):
// inside the matcher's matches of T(OLD) against NEW, pairs of pointer words
// and pairs of reference sites of one kind show where a target of OLD went
// in NEW. Where enough of them agree on a run of targets and the address map
// says otherwise, the run overrides the map. This recovers what a map built
// from matched blocks cannot see: reshuffled literal pools and moved .bss
// variables. Host side only; the device just receives the resulting map.
#ifndef OTA_DELTA_RELOC_VOTES_H
#define OTA_DELTA_RELOC_VOTES_H

#include <cstdint>
#include <span>
#include <vector>

#include "ota/delta/matcher.h"
#include "ota/reloc.h"

namespace ota::delta {

struct RelocVote {
  uint32_t old_target;  // load address in OLD
  int32_t delta;        // where NEW's matching reference points, minus old_target
};

// Votes from `records` (match_images(T(OLD), NEW); T keeps OLD's offsets, so
// the records align OLD's own bytes with NEW's):
//  - words: every 4-aligned word (by OLD's offset) of an add of at least 8
//    bytes whose NEW counterpart is equally aligned, when the two differ, both
//    lie in OLD's segments or the chip's internal RAM, and they are less than
//    1 MiB apart;
//  - sites: every reference site of OLD inside an add whose counterpart in NEW
//    is a site of the same kind with a different target, less than 1 MiB away.
std::vector<RelocVote> collect_reloc_votes(std::span<const uint8_t> old_image,
                                           std::span<const uint8_t> new_image,
                                           const RelocImageLayout& old_layout,
                                           const RelocImageLayout& new_layout,
                                           const std::vector<Record>& records);

// The map with the vote overlay painted over it. Per target the most common
// delta wins (ties: the first seen); consecutive targets with one delta, each
// mapped by `map` and less than 4 KiB after the run so far, form a run; runs
// with at least min_run_votes votes that disagree with `map` at either end
// override it, cut to where a device takes regions: inside one segment of
// OLD or inside the chip's internal RAM (.bss moves are what votes see best). Gaps between the map's regions stay gaps. Sorted, not
// overlapping, neighbours with one delta merged within a segment; `map`
// itself when the result would not be a valid map.
std::vector<RelocRegion> overlay_reloc_votes(const RelocImageLayout& old_layout,
                                             const std::vector<RelocRegion>& map,
                                             const std::vector<RelocVote>& votes,
                                             uint32_t min_run_votes = 10);

// The two halves of overlay_reloc_votes: the overlay runs themselves
// (sorted, not overlapping, as regions), and the painting of runs over a
// map. paint_reloc_overlay(l, map, reloc_vote_runs(l, map, votes, n)) ==
// overlay_reloc_votes(l, map, votes, n).
std::vector<RelocRegion> reloc_vote_runs(const RelocImageLayout& old_layout,
                                         const std::vector<RelocRegion>& map,
                                         const std::vector<RelocVote>& votes,
                                         uint32_t min_run_votes = 10);
std::vector<RelocRegion> paint_reloc_overlay(const RelocImageLayout& old_layout,
                                             const std::vector<RelocRegion>& map,
                                             const std::vector<RelocRegion>& runs);

}  // namespace ota::delta

#endif  // OTA_DELTA_RELOC_VOTES_H
