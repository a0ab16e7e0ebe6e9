// bsdiff-class matching: at each position of NEW find the longest match in
// OLD (suffix array binary search), keep following the current alignment
// while it keeps matching well ("old score"), and when a clearly better match
// appears, close the record: extend the previous alignment forward and the
// new one backward as far as they match at least half of the bytes, split
// any overlap where it loses least, and emit add/insert/seek.
#include "ota/delta/matcher.h"

#include <divsufsort.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace ota::delta {

namespace {

class SuffixIndex {
 public:
  explicit SuffixIndex(std::span<const uint8_t> old_image) : old_(old_image) {
    sa_.resize(old_.size() + 1);
    if (!old_.empty() &&
        divsufsort(old_.data(), sa_.data(), static_cast<saidx_t>(old_.size())) != 0)
      throw std::runtime_error("suffix sort failed");
    sa_.pop_back();
  }

  // Longest prefix of `needle` that occurs in OLD; returns its length and
  // sets *pos to one of its positions: among the matches of that length
  // within `near` suffix-array neighbours, the one closest to `preferred`.
  size_t longest_match(const uint8_t* needle, size_t needle_len, int64_t preferred, int near,
                       int64_t* pos) const {
    if (sa_.empty() || needle_len == 0) {
      *pos = 0;
      return 0;
    }
    // Binary search keeping the common prefix length with each bound, so that
    // each comparison starts where both bounds already agree.
    size_t lo = 0, hi = sa_.size() - 1;
    size_t lcp_lo = common(sa_[lo], needle, needle_len, 0);
    size_t lcp_hi = common(sa_[hi], needle, needle_len, 0);
    while (hi - lo > 1) {
      size_t mid = lo + (hi - lo) / 2;
      size_t skip = std::min(lcp_lo, lcp_hi);
      size_t l = common(sa_[mid], needle, needle_len, skip);
      size_t suffix_len = old_.size() - static_cast<size_t>(sa_[mid]);
      bool suffix_less;
      if (l == needle_len) {
        suffix_less = false;  // needle is a prefix: any side works; go low
      } else if (l == suffix_len) {
        suffix_less = true;   // suffix is a proper prefix of needle: it sorts before
      } else {
        suffix_less = old_[sa_[mid] + l] < needle[l];
      }
      if (suffix_less) {
        lo = mid;
        lcp_lo = l;
      } else {
        hi = mid;
        lcp_hi = l;
      }
    }
    size_t best_len = lcp_lo >= lcp_hi ? lcp_lo : lcp_hi;
    size_t at = lcp_lo >= lcp_hi ? lo : hi;
    *pos = sa_[at];
    if (near > 0 && best_len > 0) {
      // Equal-length matches are contiguous in the suffix array around `at`.
      int64_t best_dist = std::llabs(*pos - preferred);
      for (int dir = -1; dir <= 1; dir += 2) {
        size_t i = at;
        for (int step = 0; step < near; ++step) {
          if ((dir < 0 && i == 0) || (dir > 0 && i + 1 >= sa_.size())) break;
          i = dir < 0 ? i - 1 : i + 1;
          if (common(sa_[i], needle, best_len, 0) < best_len) break;
          int64_t d = std::llabs(static_cast<int64_t>(sa_[i]) - preferred);
          if (d < best_dist) {
            best_dist = d;
            *pos = sa_[i];
          }
        }
      }
    }
    return best_len;
  }

 private:
  size_t common(saidx_t suffix, const uint8_t* needle, size_t needle_len, size_t from) const {
    size_t limit = std::min(needle_len, old_.size() - static_cast<size_t>(suffix));
    const uint8_t* a = old_.data() + suffix;
    size_t i = from;
    while (i < limit && a[i] == needle[i]) ++i;
    return i;
  }

  std::span<const uint8_t> old_;
  std::vector<saidx_t> sa_;
};

}  // namespace

std::vector<Record> match_images(std::span<const uint8_t> old_image,
                                 std::span<const uint8_t> new_image,
                                 const MatchOptions& options) {
  if (old_image.size() > 0x7FFFFFF0u || new_image.size() > 0x7FFFFFF0u)
    throw std::runtime_error("image larger than 2 GiB");
  const int64_t old_size = static_cast<int64_t>(old_image.size());
  const int64_t new_size = static_cast<int64_t>(new_image.size());
  const uint8_t* o = old_image.data();
  const uint8_t* n = new_image.data();
  SuffixIndex index(old_image);

  std::vector<Record> records;
  int64_t scan = 0, len = 0, pos = 0;
  int64_t last_scan = 0, last_pos = 0, last_offset = 0;

  while (scan < new_size) {
    int64_t old_score = 0;
    int64_t scored_to = scan += len;
    for (; scan < new_size; ++scan) {
      len = static_cast<int64_t>(index.longest_match(n + scan, static_cast<size_t>(new_size - scan),
                                                     scan + last_offset,
                                                     options.near_candidates, &pos));
      // Bytes of [scan, scan+len) that the current alignment already matches.
      for (; scored_to < scan + len; ++scored_to)
        if (scored_to + last_offset < old_size && o[scored_to + last_offset] == n[scored_to])
          ++old_score;
      if ((len == old_score && len != 0) || len > old_score + options.min_gain) break;
      if (scan + last_offset < old_size && o[scan + last_offset] == n[scan]) --old_score;
    }
    if (len == old_score && scan != new_size) continue;

    // Extend the previous alignment forward while it matches >= half.
    int64_t len_f = 0;
    {
      int64_t s = 0, best = 0;
      for (int64_t i = 0; last_scan + i < scan && last_pos + i < old_size;) {
        if (o[last_pos + i] == n[last_scan + i]) ++s;
        ++i;
        if (s * 2 - i > best * 2 - len_f) {
          best = s;
          len_f = i;
        }
      }
    }
    // Extend the new alignment backward the same way.
    int64_t len_b = 0;
    if (scan < new_size) {
      int64_t s = 0, best = 0;
      for (int64_t i = 1; scan >= last_scan + i && pos >= i; ++i) {
        if (o[pos - i] == n[scan - i]) ++s;
        if (s * 2 - i > best * 2 - len_b) {
          best = s;
          len_b = i;
        }
      }
    }
    // If the two extensions overlap, cut where the split matches best.
    if (last_scan + len_f > scan - len_b) {
      int64_t overlap = (last_scan + len_f) - (scan - len_b);
      int64_t s = 0, best = 0, cut = 0;
      for (int64_t i = 0; i < overlap; ++i) {
        if (n[last_scan + len_f - overlap + i] == o[last_pos + len_f - overlap + i]) ++s;
        if (n[scan - len_b + i] == o[pos - len_b + i]) --s;
        if (s > best) {
          best = s;
          cut = i + 1;
        }
      }
      len_f += cut - overlap;
      len_b -= cut;
    }

    Record r;
    r.add_len = static_cast<uint32_t>(len_f);
    r.insert_len = static_cast<uint32_t>((scan - len_b) - (last_scan + len_f));
    // After the last record the cursor is never used again: seek 0 is cheapest.
    r.seek = scan < new_size ? (pos - len_b) - (last_pos + len_f) : 0;
    records.push_back(r);

    last_scan = scan - len_b;
    last_pos = pos - len_b;
    last_offset = pos - scan;
  }
  return records;
}

}  // namespace ota::delta
