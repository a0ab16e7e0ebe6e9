// Finds how to build NEW from OLD: a list of records, each "add" (copy from
// OLD with a byte-wise difference), then "insert" (bytes only NEW has), then
// a seek of the OLD cursor. Host side only (suffix array over OLD).
#ifndef OTA_DELTA_MATCHER_H
#define OTA_DELTA_MATCHER_H

#include <cstdint>
#include <span>
#include <vector>

namespace ota::delta {

struct Record {
  uint32_t add_len = 0;     // new[cur..] = old[old_cur..] + diff
  uint32_t insert_len = 0;  // literal bytes of NEW
  int64_t seek = 0;         // old_cur += add_len, then += seek after the insert
};

// Tunables of the matcher; the defaults are what `ota-delta diff` uses.
struct MatchOptions {
  // A new match must beat the current alignment by this many bytes to be
  // taken (bsdiff uses 8; 6 measured 0.3% smaller on the corpus).
  int min_gain = 6;
  // When several places in OLD match equally long, prefer the one nearest
  // the current alignment (smaller seeks, more aligned diff bytes). This many
  // suffix-array neighbours are examined on each side; 0 disables.
  int near_candidates = 16;
};

// bsdiff-class matching over a suffix array of OLD (libdivsufsort).
// The records cover NEW exactly: sum(add_len + insert_len) == new.size().
std::vector<Record> match_images(std::span<const uint8_t> old_image,
                                 std::span<const uint8_t> new_image,
                                 const MatchOptions& options = {});

}  // namespace ota::delta

#endif  // OTA_DELTA_MATCHER_H
