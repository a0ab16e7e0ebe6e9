// Raw LZMA1 decoder, written from the LZMA specification
// (lzma-specification.txt in the LZMA SDK). See ota/lzma_decoder.h for the
// contract.
//
// How input split at any byte is handled: a symbol (one literal, match or
// rep) never needs more than kMaxSymbolInput bytes of input. When at least
// that many are available, a symbol is decoded straight from the caller's
// buffer with no bounds checks. Otherwise the remaining bytes are staged in
// d->tmp and a dry run (same code, instantiated with kDry = true: it reads
// the probabilities but writes nothing) tells whether the staged bytes hold a
// whole symbol. If they do, the symbol is decoded for real from tmp; if not,
// all staged bytes are needed by that symbol, so they are kept (and reported
// consumed) until more input arrives. A symbol uses each probability at most
// once, so the dry run sees exactly the values the real decode will.
//
// Range coder normalization is lazy (before each bit, as liblzma does it);
// after the last symbol one final normalization reads the stream's last byte
// when the range is below 2^24, and the code must then be 0. That is exactly
// where a liblzma-made stream ends (its encoder normalizes once more before
// flushing), so no byte after the stream is ever consumed.
#include "ota/lzma_decoder.h"

#include <string.h>

#if defined(__GNUC__)
#define OTA_LZMA_INLINE inline __attribute__((always_inline))
#define OTA_LZMA_NOINLINE __attribute__((noinline))
#else
#define OTA_LZMA_INLINE inline
#define OTA_LZMA_NOINLINE
#endif

namespace ota {
namespace {

// Range coder.
constexpr uint32_t kTopValue = 1u << 24;
constexpr uint32_t kNumProbBits = 11;
constexpr uint32_t kProbInit = 1u << (kNumProbBits - 1);
constexpr uint32_t kNumMoveBits = 5;

// Model.
constexpr uint32_t kNumStates = 12;
constexpr uint32_t kNumPosBitsMax = 4;
constexpr uint32_t kNumPosStatesMax = 1u << kNumPosBitsMax;
constexpr uint32_t kFirstMatchState = 7;  // states >= 7: the previous symbol was a match/rep
constexpr uint32_t kMatchMinLen = 2;
constexpr uint32_t kNumLenToPosStates = 4;
constexpr uint32_t kNumPosSlotBits = 6;
constexpr uint32_t kStartPosModelIndex = 4;
constexpr uint32_t kEndPosModelIndex = 14;
constexpr uint32_t kNumFullDistances = 1u << (kEndPosModelIndex >> 1);
constexpr uint32_t kNumAlignBits = 4;
constexpr uint32_t kLiteralCoderSize = 0x300;

// Length coder: choice, choice2, low[posState] (3 bits), mid[posState]
// (3 bits), high (8 bits).
constexpr uint32_t kLenChoice = 0;
constexpr uint32_t kLenChoice2 = 1;
constexpr uint32_t kLenLow = 2;
constexpr uint32_t kLenMid = kLenLow + (kNumPosStatesMax << 3);
constexpr uint32_t kLenHigh = kLenMid + (kNumPosStatesMax << 3);
constexpr uint32_t kLenCoderSize = kLenHigh + 256;

// Probability table layout (our own order; the sizes are the spec's).
constexpr uint32_t kIsMatch = 0;
constexpr uint32_t kIsRep = kIsMatch + (kNumStates << kNumPosBitsMax);
constexpr uint32_t kIsRepG0 = kIsRep + kNumStates;
constexpr uint32_t kIsRepG1 = kIsRepG0 + kNumStates;
constexpr uint32_t kIsRepG2 = kIsRepG1 + kNumStates;
constexpr uint32_t kIsRep0Long = kIsRepG2 + kNumStates;
constexpr uint32_t kPosSlot = kIsRep0Long + (kNumStates << kNumPosBitsMax);
constexpr uint32_t kSpecPos = kPosSlot + (kNumLenToPosStates << kNumPosSlotBits);
constexpr uint32_t kAlign = kSpecPos + kNumFullDistances - kEndPosModelIndex;
constexpr uint32_t kLenCoder = kAlign + (1u << kNumAlignBits);
constexpr uint32_t kRepLenCoder = kLenCoder + kLenCoderSize;
constexpr uint32_t kLiteral = kRepLenCoder + kLenCoderSize;
static_assert(kLiteral == 1846, "fixed part of the probability table is 1846 entries");

// Worst case input of one symbol: a match with the longest length code and
// distance slot 63 is 22 probability-coded bits (each can shrink the range by
// at most log2(2048/31) bits) plus 26 direct bits; with the range as low as
// 2^17.9 when the symbol starts, at most 20 normalizations can happen.
constexpr size_t kMaxSymbolInput = 20;
static_assert(sizeof(LzmaDecoder::tmp) >= kMaxSymbolInput, "tmp holds one symbol's input");

enum Phase : uint8_t {
  kPhaseInit = 0,  // reading the 5 range coder init bytes
  kPhaseRun = 1,
  kPhaseEnd = 2,
  kPhaseError = 3,
};

enum Symbol : int {
  kSymLiteral = 0,  // *value is the byte
  kSymMatch = 1,    // *value is the length; the distance is rep[0] + 1
  kSymError = 2,
};

struct Rc {
  uint32_t range;
  uint32_t code;
  const uint8_t* next;
  const uint8_t* end;  // dry run only
  bool short_input;    // dry run only: the symbol needs bytes past end
};

template <bool kDry>
OTA_LZMA_INLINE void rc_normalize(Rc& rc) {
  if (rc.range < kTopValue) {
    uint32_t b;
    if (kDry && rc.next == rc.end) {
      rc.short_input = true;
      b = 0;
    } else {
      b = *rc.next++;
    }
    rc.range <<= 8;
    rc.code = (rc.code << 8) | b;
  }
}

template <bool kDry>
OTA_LZMA_INLINE uint32_t rc_bit_body(Rc& rc, uint16_t* p) {
  rc_normalize<kDry>(rc);
  const uint32_t prob = *p;
  const uint32_t bound = (rc.range >> kNumProbBits) * prob;
  if (rc.code < bound) {
    rc.range = bound;
    if (!kDry) *p = (uint16_t)(prob + (((1u << kNumProbBits) - prob) >> kNumMoveBits));
    return 0;
  }
  rc.range -= bound;
  rc.code -= bound;
  if (!kDry) *p = (uint16_t)(prob - (prob >> kNumMoveBits));
  return 1;
}

// The dry run is rare (only for a stream's last bytes of each feed call):
// its bits go through one out-of-line copy to keep the code small.
OTA_LZMA_NOINLINE uint32_t rc_bit_dry(Rc& rc, uint16_t* p) { return rc_bit_body<true>(rc, p); }

template <bool kDry>
OTA_LZMA_INLINE uint32_t rc_bit(Rc& rc, uint16_t* p) {
  if (kDry) return rc_bit_dry(rc, p);
  return rc_bit_body<false>(rc, p);
}

// Bit tree, most significant bit first; probs[1 .. 2^bits - 1] are used.
template <bool kDry>
OTA_LZMA_INLINE uint32_t rc_tree(Rc& rc, uint16_t* probs, uint32_t bits) {
  uint32_t m = 1;
  for (uint32_t i = 0; i < bits; ++i) m = (m << 1) | rc_bit<kDry>(rc, probs + m);
  return m - (1u << bits);
}

// Bit tree, least significant bit first; probs[1 .. 2^bits - 1] are used.
template <bool kDry>
OTA_LZMA_INLINE uint32_t rc_reverse(Rc& rc, uint16_t* probs, uint32_t bits) {
  uint32_t m = 1;
  uint32_t sym = 0;
  for (uint32_t i = 0; i < bits; ++i) {
    const uint32_t bit = rc_bit<kDry>(rc, probs + m);
    m = (m << 1) | bit;
    sym |= bit << i;
  }
  return sym;
}

// Bits with fixed probability 1/2.
template <bool kDry>
OTA_LZMA_INLINE uint32_t rc_direct(Rc& rc, uint32_t bits) {
  uint32_t v = 0;
  do {
    rc_normalize<kDry>(rc);
    rc.range >>= 1;
    uint32_t bit = 0;
    if (rc.code >= rc.range) {
      rc.code -= rc.range;
      bit = 1;
    }
    v = (v << 1) | bit;
  } while (--bits != 0);
  return v;
}

// Returns the length minus kMatchMinLen (0..271).
template <bool kDry>
OTA_LZMA_INLINE uint32_t decode_len(Rc& rc, uint16_t* p, uint32_t pos_state) {
  if (rc_bit<kDry>(rc, p + kLenChoice) == 0) return rc_tree<kDry>(rc, p + kLenLow + (pos_state << 3), 3);
  if (rc_bit<kDry>(rc, p + kLenChoice2) == 0)
    return 8 + rc_tree<kDry>(rc, p + kLenMid + (pos_state << 3), 3);
  return 16 + rc_tree<kDry>(rc, p + kLenHigh, 8);
}

// Decodes one symbol. REQUIRES: d->pending_len == 0, d->out_done < d->out_size.
// Real mode (kDry false): updates probabilities, state and reps, validates
// distances, and reads input without bounds checks (the caller guarantees
// a whole symbol is there). Dry mode: writes nothing, reads at most up to
// rc.end and sets rc.short_input if the symbol needs more.
template <bool kDry>
OTA_LZMA_INLINE Symbol decode_symbol(LzmaDecoder* d, Rc& rc, uint32_t* value) {
  uint16_t* const probs = d->probs;
  const uint32_t state = d->state;
  const uint32_t pos = (uint32_t)d->out_done;
  const uint32_t pos_state = pos & ((1u << d->pb) - 1);

  if (rc_bit<kDry>(rc, probs + kIsMatch + (state << kNumPosBitsMax) + pos_state) == 0) {
    // Literal, coded in the context of the previous byte's high lc bits and
    // the position's low lp bits.
    uint32_t prev = 0;
    if (d->dict_full != 0) prev = d->dict[(d->dict_pos == 0 ? d->dict_size : d->dict_pos) - 1];
    uint16_t* const lit =
        probs + kLiteral +
        kLiteralCoderSize * (((pos & ((1u << d->lp) - 1)) << d->lc) + (prev >> (8 - d->lc)));
    uint32_t sym = 1;
    if (state >= kFirstMatchState) {
      // Right after a match: the byte at distance rep0 steers the
      // probabilities until the first bit that differs from it.
      const uint32_t back = d->rep[0] + 1;  // <= dict_full, validated when set
      uint32_t match_byte =
          d->dict[d->dict_pos >= back ? d->dict_pos - back : d->dict_pos + d->dict_size - back];
      do {
        const uint32_t match_bit = (match_byte >> 7) & 1;
        match_byte <<= 1;
        const uint32_t bit = rc_bit<kDry>(rc, lit + ((1 + match_bit) << 8) + sym);
        sym = (sym << 1) | bit;
        if (bit != match_bit) break;
      } while (sym < 0x100);
    }
    while (sym < 0x100) sym = (sym << 1) | rc_bit<kDry>(rc, lit + sym);
    if (!kDry) d->state = state < 4 ? 0 : (state < 10 ? state - 3 : state - 6);
    *value = sym & 0xFF;
    return kSymLiteral;
  }

  uint32_t len;
  if (rc_bit<kDry>(rc, probs + kIsRep + state) == 0) {
    // Simple match: length, then distance.
    len = decode_len<kDry>(rc, probs + kLenCoder, pos_state);
    const uint32_t len_state = len < kNumLenToPosStates - 1 ? len : kNumLenToPosStates - 1;
    const uint32_t slot =
        rc_tree<kDry>(rc, probs + kPosSlot + (len_state << kNumPosSlotBits), kNumPosSlotBits);
    uint32_t dist = slot;
    if (slot >= kStartPosModelIndex) {
      const uint32_t direct_bits = (slot >> 1) - 1;
      dist = (2 | (slot & 1)) << direct_bits;
      if (slot < kEndPosModelIndex) {
        dist += rc_reverse<kDry>(rc, probs + kSpecPos + dist - slot - 1, direct_bits);
      } else {
        dist += rc_direct<kDry>(rc, direct_bits - kNumAlignBits) << kNumAlignBits;
        dist += rc_reverse<kDry>(rc, probs + kAlign, kNumAlignBits);
        // A valid stream keeps code < range; direct bits are where a corrupt
        // one can break that (the spec's "Code == Range" check).
        if (!kDry && rc.code >= rc.range) return kSymError;
      }
    }
    if (!kDry) {
      // dist == 0xFFFFFFFF is the end marker: this format has none. Any
      // distance must reach into the bytes produced so far and the window.
      if (dist >= d->dict_full) return kSymError;
      d->rep[3] = d->rep[2];
      d->rep[2] = d->rep[1];
      d->rep[1] = d->rep[0];
      d->rep[0] = dist;
      d->state = state < kFirstMatchState ? 7 : 10;
    }
    *value = len + kMatchMinLen;
    return kSymMatch;
  }

  if (rc_bit<kDry>(rc, probs + kIsRepG0 + state) == 0) {
    if (rc_bit<kDry>(rc, probs + kIsRep0Long + (state << kNumPosBitsMax) + pos_state) == 0) {
      // Short rep: one byte at distance rep0.
      if (!kDry) {
        if (d->rep[0] >= d->dict_full) return kSymError;
        d->state = state < kFirstMatchState ? 9 : 11;
      }
      *value = 1;
      return kSymMatch;
    }
  } else {
    uint32_t dist;
    if (rc_bit<kDry>(rc, probs + kIsRepG1 + state) == 0) {
      dist = d->rep[1];
    } else {
      if (rc_bit<kDry>(rc, probs + kIsRepG2 + state) == 0) {
        dist = d->rep[2];
      } else {
        dist = d->rep[3];
        if (!kDry) d->rep[3] = d->rep[2];
      }
      if (!kDry) d->rep[2] = d->rep[1];
    }
    if (!kDry) {
      d->rep[1] = d->rep[0];
      d->rep[0] = dist;
    }
  }
  len = decode_len<kDry>(rc, probs + kRepLenCoder, pos_state);
  if (!kDry) {
    // Reps start at 0 before any match: only then can one be out of range.
    if (d->rep[0] >= d->dict_full) return kSymError;
    d->state = state < kFirstMatchState ? 8 : 11;
  }
  *value = len + kMatchMinLen;
  return kSymMatch;
}

// True when buf[0..n) holds all the input of the next symbol.
OTA_LZMA_NOINLINE bool dry_run_fits(LzmaDecoder* d, uint32_t range, uint32_t code,
                                    const uint8_t* buf, size_t n) {
  Rc rc;
  rc.range = range;
  rc.code = code;
  rc.next = buf;
  rc.end = buf + n;
  rc.short_input = false;
  uint32_t value;
  decode_symbol<true>(d, rc, &value);
  return !rc.short_input;
}

// Copies n bytes (n <= d->pending_len) of the current match to the
// dictionary and out.
void copy_match(LzmaDecoder* d, uint8_t* out, uint32_t n) {
  uint8_t* const dict = d->dict;
  const uint32_t size = d->dict_size;
  const uint32_t back = d->rep[0] + 1;  // <= dict_full <= size
  uint32_t pos = d->dict_pos;
  uint32_t src = pos >= back ? pos - back : pos + size - back;
  d->pending_len -= n;
  d->out_done += n;
  d->dict_full = size - d->dict_full > n ? d->dict_full + n : size;
  while (n != 0) {
    uint32_t chunk = n;
    if (chunk > size - pos) chunk = size - pos;
    if (chunk > size - src) chunk = size - src;
    if (chunk <= 8 || (src < pos && pos - src < chunk)) {
      // Short, or overlapping so that the copy repeats its own output: byte
      // by byte. (When src > pos the source is ahead and each byte is read
      // before it is overwritten.)
      for (uint32_t i = 0; i < chunk; ++i) out[i] = dict[pos + i] = dict[src + i];
    } else {
      memmove(dict + pos, dict + src, chunk);
      memcpy(out, dict + pos, chunk);
    }
    out += chunk;
    n -= chunk;
    pos += chunk;
    if (pos == size) pos = 0;
    src += chunk;
    if (src == size) src = 0;
  }
  d->dict_pos = pos;
}

uint64_t workspace_bytes(uint8_t lc, uint8_t lp, uint32_t dict_size) {
  return ((uint64_t)kLiteral + ((uint64_t)kLiteralCoderSize << (lc + lp))) * 2u + dict_size;
}

}  // namespace

uint32_t lzma_workspace_size(uint8_t lc, uint8_t lp, uint32_t dict_size) {
  if (lc > 8 || lp > 4) return 0xFFFFFFFFu;
  const uint64_t n = workspace_bytes(lc, lp, dict_size);
  return n > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)n;
}

LzmaResult lzma_init(LzmaDecoder* d, uint8_t lc, uint8_t lp, uint8_t pb, uint32_t dict_size,
                     void* workspace, uint32_t workspace_size, uint64_t out_size) {
  memset(d, 0, sizeof(*d));
  d->phase = kPhaseError;
  if (lc > 8 || lp > 4 || pb > 4 || dict_size < 4096) return kLzmaParamError;
  if (workspace == nullptr || ((uintptr_t)workspace & 1) != 0) return kLzmaParamError;
  if (workspace_bytes(lc, lp, dict_size) > workspace_size) return kLzmaParamError;

  const uint32_t num_probs = kLiteral + (kLiteralCoderSize << (lc + lp));
  d->probs = (uint16_t*)workspace;
  for (uint32_t i = 0; i < num_probs; ++i) d->probs[i] = (uint16_t)kProbInit;
  d->dict = (uint8_t*)workspace + (size_t)num_probs * 2u;
  d->dict_size = dict_size;
  d->range = 0xFFFFFFFFu;
  d->code = 0;
  d->out_size = out_size;
  d->lc = lc;
  d->lp = lp;
  d->pb = pb;
  d->phase = kPhaseInit;
  return kLzmaOk;
}

uint32_t lzma_workspace_used(const LzmaDecoder* d) {
  const uint32_t num_probs = kLiteral + (kLiteralCoderSize << (d->lc + d->lp));
  // Until the dictionary wraps, only its first dict_full bytes were written.
  uint32_t dict = d->dict_full < d->dict_size ? d->dict_full : d->dict_size;
  return num_probs * 2u + dict;
}

LzmaResult lzma_rebind(LzmaDecoder* d, void* workspace, uint32_t workspace_size) {
  if (d->lc > 8 || d->lp > 4 || d->pb > 4 || d->dict_size < 4096 || workspace == nullptr ||
      ((uintptr_t)workspace & 1) != 0 || workspace_bytes(d->lc, d->lp, d->dict_size) > workspace_size ||
      d->dict_pos > d->dict_size || d->dict_full > d->dict_size || d->tmp_len > sizeof(d->tmp) ||
      d->out_done > d->out_size) {
    d->probs = nullptr;
    d->dict = nullptr;
    d->phase = kPhaseError;
    return kLzmaParamError;
  }
  const uint32_t num_probs = kLiteral + (kLiteralCoderSize << (d->lc + d->lp));
  d->probs = (uint16_t*)workspace;
  d->dict = (uint8_t*)workspace + (size_t)num_probs * 2u;
  return kLzmaOk;
}

LzmaResult lzma_decode(LzmaDecoder* d, const uint8_t* in, size_t* in_len, uint8_t* out,
                       size_t* out_len) {
  const size_t in_size = *in_len;
  const size_t out_room = *out_len;
  size_t in_pos = 0;
  size_t out_pos = 0;
  *in_len = 0;
  *out_len = 0;
  if (d->phase == kPhaseEnd) return kLzmaStreamEnd;
  if (d->phase != kPhaseInit && d->phase != kPhaseRun) return kLzmaDataError;

  // Range coder init: 5 bytes, the first always 0; code == range can come
  // from no encoder.
  while (d->phase == kPhaseInit) {
    if (in_pos == in_size) {
      *in_len = in_pos;
      return kLzmaOk;
    }
    const uint8_t b = in[in_pos++];
    if (d->init_bytes == 0 && b != 0) {
      d->phase = kPhaseError;
      *in_len = in_pos;
      return kLzmaDataError;
    }
    d->code = (d->code << 8) | b;
    if (++d->init_bytes == 5) {
      if (d->code == d->range) {
        d->phase = kPhaseError;
        *in_len = in_pos;
        return kLzmaDataError;
      }
      d->phase = kPhaseRun;
    }
  }

  LzmaResult result = kLzmaOk;
  Rc rc;
  rc.range = d->range;
  rc.code = d->code;
  rc.end = nullptr;
  rc.short_input = false;
  for (;;) {
    if (d->pending_len != 0) {
      size_t n = out_room - out_pos;
      if (n > d->pending_len) n = d->pending_len;
      copy_match(d, out + out_pos, (uint32_t)n);
      out_pos += n;
      if (d->pending_len != 0) break;  // out is full
    }
    if (d->out_done == d->out_size) {
      // No end marker: the stream ends here. liblzma's encoder normalizes
      // once more before its 5 flush bytes, and its decoder reads that byte
      // and then requires the code to be 0; so do we.
      if (rc.range < kTopValue && d->tmp_len == 0) {
        if (in_pos == in_size) break;  // wait for the last byte
        rc.range <<= 8;
        rc.code = (rc.code << 8) | in[in_pos++];
      }
      if (rc.code == 0 && d->tmp_len == 0) {
        d->phase = kPhaseEnd;
        result = kLzmaStreamEnd;
      } else {
        d->phase = kPhaseError;
        result = kLzmaDataError;
      }
      break;
    }
    if (out_pos == out_room) break;

    bool from_tmp = false;
    if (d->tmp_len == 0 && in_size - in_pos >= kMaxSymbolInput) {
      rc.next = in + in_pos;
    } else {
      size_t add = kMaxSymbolInput - d->tmp_len;
      if (add > in_size - in_pos) add = in_size - in_pos;
      if (add != 0) memcpy(d->tmp + d->tmp_len, in + in_pos, add);
      const size_t avail = d->tmp_len + add;
      if (!dry_run_fits(d, rc.range, rc.code, d->tmp, avail)) {
        // Every staged byte belongs to this symbol: keep them all.
        d->tmp_len = (uint8_t)avail;
        in_pos += add;
        if (avail == kMaxSymbolInput) {  // impossible for any input: see kMaxSymbolInput
          d->phase = kPhaseError;
          result = kLzmaDataError;
        }
        break;
      }
      rc.next = d->tmp;
      from_tmp = true;
    }

    uint32_t value = 0;
    const Symbol sym = decode_symbol<false>(d, rc, &value);
    if (from_tmp) {
      const size_t used = (size_t)(rc.next - d->tmp);
      if (used >= d->tmp_len) {
        in_pos += used - d->tmp_len;
        d->tmp_len = 0;
      } else {
        memmove(d->tmp, d->tmp + used, d->tmp_len - used);
        d->tmp_len = (uint8_t)(d->tmp_len - used);
      }
    } else {
      in_pos = (size_t)(rc.next - in);
    }

    if (sym == kSymLiteral) {
      d->dict[d->dict_pos] = (uint8_t)value;
      if (++d->dict_pos == d->dict_size) d->dict_pos = 0;
      if (d->dict_full < d->dict_size) ++d->dict_full;
      ++d->out_done;
      out[out_pos++] = (uint8_t)value;
    } else if (sym == kSymMatch && value <= d->out_size - d->out_done) {
      d->pending_len = value;
    } else {
      // Bad distance, or a match running past the declared size.
      d->phase = kPhaseError;
      result = kLzmaDataError;
      break;
    }
  }
  d->range = rc.range;
  d->code = rc.code;
  *in_len = in_pos;
  *out_len = out_pos;
  return result;
}

}  // namespace ota
