// Encoder side of the firmware-aware delta (issue #7, docs/reloc.md): the
// address map estimated from the matcher's own matches, T over a whole
// image, the map's serialized form, and the "shipped map" experiment
// (map0 from match(old, new); old1 = T(old, map0); patch = match(old1, new)
// + the map, LZMA-compressed). Host side only.
#ifndef OTA_DELTA_RELOC_ENCODER_H
#define OTA_DELTA_RELOC_ENCODER_H

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ota/delta/matcher.h"
#include "ota/delta/patch_encoder.h"
#include "ota/reloc.h"

namespace ota::delta {

// The segment table of an ESP application image in memory; nullopt when
// the bytes are not one.
std::optional<RelocImageLayout> reloc_layout(std::span<const uint8_t> image);

// True when T can relate the two images: both ESP app images of one chip
// whose ISA T knows.
bool reloc_applicable(const RelocImageLayout& old_layout, const RelocImageLayout& new_layout);

// The piecewise map old load address -> new load address from the records
// of match_images(old, new): each add of at least min_len bytes, cut where
// either side crosses a segment boundary (pieces under min_len/2 dropped),
// gives (old address, length, new - old); longest first, overlaps rejected;
// sorted; neighbours with equal delta in one segment of OLD merged, the gap
// between them included.
std::vector<RelocRegion> estimate_reloc_map(const RelocImageLayout& old_layout,
                                            const RelocImageLayout& new_layout,
                                            const std::vector<Record>& records,
                                            uint32_t min_len = 32);

// T(old) for the whole image, block by block, exactly as a device computes
// it. Throws std::invalid_argument for a map reloc_context_init refuses.
std::vector<uint8_t> reloc_transform_image(std::span<const uint8_t> old_image,
                                           const RelocImageLayout& old_layout,
                                           const std::vector<RelocRegion>& map);

// The map as shipped: zig-zag varints of the region count, then per region
// (start - previous end, length, delta - previous delta).
std::vector<uint8_t> serialize_reloc_map(const std::vector<RelocRegion>& map);

// How the shipped map is built (build_reloc_map); the defaults are what
// `ota-delta diff` uses.
struct RelocMapOptions {
  // map_{i+1} from match(T(old, map_i), new), this many times after map0.
  // Off by default: with the overlay it saves 0.26% on the corpus for one
  // more matcher pass (about a second per 1.3 MB pair).
  int refine = 0;
  // Then the vote overlay (reloc_votes.h) from match(T(old, map), new):
  // runs with at least this many votes override the map; 0 disables it.
  uint32_t min_run_votes = 10;
};

// The address map a firmware-aware patch ships: map0 from match(old, new),
// refined, then the vote overlay painted over it.
std::vector<RelocRegion> build_reloc_map(std::span<const uint8_t> old_image,
                                         std::span<const uint8_t> new_image,
                                         const RelocImageLayout& old_layout,
                                         const RelocImageLayout& new_layout,
                                         const RelocMapOptions& map_options = {},
                                         const MatchOptions& match = {});

struct RelocPatchSizes {
  bool applied = false;       // false: not an ESP pair of one known chip; sizes are plain
  uint32_t regions = 0;
  size_t map_raw = 0;         // serialized map
  size_t map_lzma = 0;        // same, raw LZMA at the patch's parameters
  size_t patch = 0;           // make_patch-like patch of T(old) -> new (header included)
  size_t total() const { return patch + map_lzma; }
};

// The shipped-map design, measured: build_reloc_map, then the stream of
// T(old, map) -> new with the options' codec, and the map's LZMA size.
RelocPatchSizes measure_reloc_patch(std::span<const uint8_t> old_image,
                                    std::span<const uint8_t> new_image,
                                    const RelocMapOptions& map_options = {},
                                    const EncodeOptions& options = {});

// Side data of a kTransformReloc patch (docs/format.md): OLD's chip id, 2
// bytes little endian, then serialize_reloc_map(map).
std::vector<uint8_t> reloc_side_data(uint16_t chip_id, const std::vector<RelocRegion>& map);

// A firmware-aware patch (transform kTransformReloc, the map shipped as side
// data): build_reloc_map, then the patch of T(old, map) -> new whose header
// names OLD. Empty when the pair is not reloc_applicable, the map comes out
// empty or does not fit the header's map capacity.
std::vector<uint8_t> make_reloc_patch(std::span<const uint8_t> old_image,
                                      std::span<const uint8_t> new_image,
                                      const EncodeOptions& options = {},
                                      const RelocMapOptions& map_options = {});

// What `ota-delta diff` writes by default: the smaller of make_patch and
// make_reloc_patch (the plain patch when the pair is not applicable).
// Note: a firmware-aware patch needs more device RAM than 32 KiB
// (docs/format.md, "Device RAM"); make_patch stays plain.
std::vector<uint8_t> make_patch_auto(std::span<const uint8_t> old_image,
                                     std::span<const uint8_t> new_image,
                                     const EncodeOptions& options = {});

}  // namespace ota::delta

#endif  // OTA_DELTA_RELOC_ENCODER_H
