// Tests of the device's raw LZMA1 decoder (ota/lzma_decoder.h).
//
// - Differential: streams made by liblzma's raw LZMA1EXT encoder (what the
//   patch encoder writes) decode to the original with our decoder, fed whole,
//   one byte at a time, into one byte of output room, and split at random;
//   liblzma's own raw decoder is run on the same streams as a cross-check.
// - Crafted streams from a small symbol-level encoder in this file reach the
//   paths liblzma's encoder never takes: every rep kind, every length and
//   distance range, the dictionary-size boundary, end markers, distances
//   past the history, matches past the declared size.
// - Corruption: truncation at every byte, bit flips, trailing bytes.
#include "ota/lzma_decoder.h"

#include <gtest/gtest.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ota/patch_format.h"
#include "test_support.h"

namespace ota {
namespace {

using Bytes = std::vector<uint8_t>;

struct Props {
  uint8_t lc, lp, pb;
  uint32_t dict;
};

std::string props_name(const Props& p) {
  return "lc" + std::to_string(p.lc) + "lp" + std::to_string(p.lp) + "pb" + std::to_string(p.pb) +
         "dict" + std::to_string(p.dict);
}

// Deterministic PRNG (splitmix64).
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint32_t below(uint32_t n) { return (uint32_t)(next() % n); }
};

// ---------------------------------------------------------------- data

enum class Kind { kRandom, kCompressible, kZeros, kText, kMixed };
const Kind kAllKinds[] = {Kind::kRandom, Kind::kCompressible, Kind::kZeros, Kind::kText,
                          Kind::kMixed};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::kRandom: return "random";
    case Kind::kCompressible: return "compressible";
    case Kind::kZeros: return "zeros";
    case Kind::kText: return "text";
    case Kind::kMixed: return "mixed";
  }
  return "?";
}

Bytes make_data(Kind kind, size_t size, uint64_t seed) {
  Rng rng(seed * 7919 + (uint64_t)kind);
  Bytes out;
  out.reserve(size);
  switch (kind) {
    case Kind::kRandom:
      while (out.size() < size) out.push_back((uint8_t)rng.next());
      break;
    case Kind::kZeros:
      out.assign(size, 0);
      break;
    case Kind::kCompressible: {
      // Short patterns repeated, with occasional changes.
      Bytes pattern(1 + rng.below(12));
      for (auto& b : pattern) b = (uint8_t)rng.next();
      while (out.size() < size) {
        if (rng.below(64) == 0) pattern[rng.below((uint32_t)pattern.size())] = (uint8_t)rng.next();
        if (rng.below(256) == 0) pattern.resize(1 + rng.below(12), (uint8_t)rng.next());
        for (uint8_t b : pattern) out.push_back(b);
      }
      break;
    }
    case Kind::kText: {
      static const char* const kWords[] = {
          "the ",    "firmware ", "update ", "device ",  "patch ", "of ",     "and ",
          "a ",      "is ",       "WiFi ",   "server ",  "to ",    "image, ", "flash ",
          "boot.\n", "LZMA ",     "in ",     "partition ", "signed ", "0x3C "};
      while (out.size() < size) {
        const char* w = kWords[rng.below(sizeof(kWords) / sizeof(kWords[0]))];
        for (const char* c = w; *c; ++c) out.push_back((uint8_t)*c);
      }
      break;
    }
    case Kind::kMixed: {
      // Firmware-like: code-ish random runs, little-endian pointer tables,
      // zero padding, strings, and copies of earlier blocks (near and far).
      while (out.size() < size) {
        switch (rng.below(5)) {
          case 0:
            for (uint32_t n = 16 + rng.below(300); n; --n) out.push_back((uint8_t)rng.next());
            break;
          case 1: {
            uint32_t base = 0x400D0000u + rng.below(0x10000);
            for (uint32_t n = 4 + rng.below(64); n; --n) {
              uint32_t v = base + rng.below(0x4000) * 4;
              for (int i = 0; i < 4; ++i) out.push_back((uint8_t)(v >> (8 * i)));
            }
            break;
          }
          case 2:
            out.insert(out.end(), rng.below(200), rng.below(4) == 0 ? 0xFF : 0);
            break;
          case 3:
            for (const char* c = "esp_ota_ops: partition label\0"; *c; ++c) out.push_back((uint8_t)*c);
            break;
          default:
            if (out.size() > 16) {
              size_t from = rng.below((uint32_t)out.size() - 8);
              size_t n = 8 + rng.below(600);
              for (size_t i = 0; i < n && from + i < out.size(); ++i) {
                out.push_back(out[from + i]);
                if (rng.below(97) == 0) out.back() ^= (uint8_t)(1 + rng.below(255));
              }
            }
            break;
        }
      }
      break;
    }
  }
  out.resize(size);
  return out;
}

// ---------------------------------------------------------------- liblzma

lzma_options_lzma liblzma_options(const Props& p) {
  lzma_options_lzma opt;
  EXPECT_FALSE(lzma_lzma_preset(&opt, 9));
  opt.lc = p.lc;
  opt.lp = p.lp;
  opt.pb = p.pb;
  opt.dict_size = p.dict;
  opt.ext_flags = 0;  // no end marker
  opt.ext_size_low = 0;
  opt.ext_size_high = 0;
  return opt;
}

// What the patch encoder writes: raw LZMA1EXT, no end marker.
Bytes liblzma_encode(const Bytes& data, const Props& p) {
  lzma_options_lzma opt = liblzma_options(p);
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA1EXT, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream s = LZMA_STREAM_INIT;
  Bytes out;
  if (lzma_raw_encoder(&s, filters) != LZMA_OK) {
    ADD_FAILURE() << "lzma_raw_encoder";
    return out;
  }
  out.resize(data.size() + data.size() / 2 + 1024);
  s.next_in = data.data();
  s.avail_in = data.size();
  s.next_out = out.data();
  s.avail_out = out.size();
  lzma_ret r = lzma_code(&s, LZMA_FINISH);
  EXPECT_EQ(r, LZMA_STREAM_END);
  out.resize(s.total_out);
  lzma_end(&s);
  return out;
}

struct LibResult {
  lzma_ret ret;
  Bytes out;
  size_t consumed;
};

// liblzma's raw decoder with the exact size known, as a reference.
LibResult liblzma_decode(const Bytes& stream, uint64_t out_size, const Props& p) {
  lzma_options_lzma opt = liblzma_options(p);
  lzma_set_ext_size(opt, out_size);
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA1EXT, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};
  lzma_stream s = LZMA_STREAM_INIT;
  LibResult res{LZMA_PROG_ERROR, {}, 0};
  if (lzma_raw_decoder(&s, filters) != LZMA_OK) return res;
  res.out.resize(out_size + 64);
  s.next_in = stream.data();
  s.avail_in = stream.size();
  s.next_out = res.out.data();
  s.avail_out = res.out.size();
  res.ret = lzma_code(&s, LZMA_RUN);
  if (res.ret == LZMA_OK) res.ret = lzma_code(&s, LZMA_FINISH);
  res.out.resize(s.total_out);
  res.consumed = s.total_in;
  lzma_end(&s);
  return res;
}

// ---------------------------------------------------------------- our decoder

// Chunk sizes for one feed call: input bytes offered, output room offered.
using Splitter = std::function<void(size_t* in_n, size_t* out_n)>;

Splitter whole() {
  return [](size_t* in_n, size_t* out_n) {
    *in_n = SIZE_MAX;
    *out_n = SIZE_MAX;
  };
}
Splitter fixed(size_t in_chunk, size_t out_chunk) {
  return [=](size_t* in_n, size_t* out_n) {
    *in_n = in_chunk;
    *out_n = out_chunk;
  };
}
Splitter random_splits(uint64_t seed) {
  auto rng = std::make_shared<Rng>(seed);
  auto pick = [rng]() -> size_t {
    switch (rng->below(8)) {
      case 0: return 0;
      case 1: return 1;
      case 2: return 1 + rng->below(4);
      case 3: return 15 + rng->below(10);  // around the 20-byte staging size
      case 4: return 1 + rng->below(300);
      case 5: return 1 + rng->below(5000);
      default: return 1 + rng->below(64);
    }
  };
  return [=](size_t* in_n, size_t* out_n) {
    *in_n = pick();
    *out_n = pick();
  };
}

struct OurResult {
  LzmaResult ret = kLzmaOk;
  Bytes out;
  size_t consumed = 0;
};

// Feeds stream through our decoder until it ends, fails, or stalls with all
// input given. Every call gets output room in a buffer of exactly that size
// (so ASan sees any write past it), and the whole output may have room well
// beyond out_size (the decoder must stop at out_size on its own).
OurResult our_decode(const Bytes& stream, uint64_t out_size, const Props& p, const Splitter& split,
                     uint32_t decoder_dict = 0) {
  OurResult res;
  const uint32_t dict = decoder_dict ? decoder_dict : p.dict;
  Bytes workspace(lzma_workspace_size(p.lc, p.lp, dict));
  LzmaDecoder d;
  res.ret = lzma_init(&d, p.lc, p.lp, p.pb, dict, workspace.data(), (uint32_t)workspace.size(),
                      out_size);
  if (res.ret != kLzmaOk) return res;
  // The stream in an exact-size heap block: reading past it is an ASan error.
  std::unique_ptr<uint8_t[]> in_block(new uint8_t[stream.size() + 1]);
  const uint8_t* in_all = in_block.get() + 1;  // +1: a zero-size stream still has a valid pointer
  if (!stream.empty()) memcpy(in_block.get() + 1, stream.data(), stream.size());
  const size_t out_cap = out_size + 100;
  Bytes out_all(out_cap, 0xA5);
  size_t produced = 0;
  for (int stalls = 0; stalls < 3;) {
    size_t in_n, out_n;
    split(&in_n, &out_n);
    in_n = std::min(in_n, stream.size() - res.consumed);
    out_n = std::min(out_n, out_cap - produced);
    // Small chunks go through exact-size copies, so ASan sees any access
    // outside what the call was given.
    std::unique_ptr<uint8_t[]> in_small, out_small;
    const uint8_t* in_ptr = in_all + res.consumed;
    uint8_t* out_ptr = out_all.data() + produced;
    if (in_n <= 64) {
      in_small.reset(new uint8_t[in_n]);
      memcpy(in_small.get(), in_ptr, in_n);
      in_ptr = in_small.get();
    }
    if (out_n <= 64) {
      out_small.reset(new uint8_t[out_n]);
      memset(out_small.get(), 0xA5, out_n);
      out_ptr = out_small.get();
    }
    size_t in_len = in_n, out_len = out_n;
    res.ret = lzma_decode(&d, in_ptr, &in_len, out_ptr, &out_len);
    EXPECT_LE(in_len, in_n);
    EXPECT_LE(out_len, out_n);
    if (out_small) {
      for (size_t i = out_len; i < out_n; ++i) {
        if (out_small[i] != 0xA5) {
          ADD_FAILURE() << "decoder wrote beyond the bytes it reported";
          break;
        }
      }
      memcpy(out_all.data() + produced, out_small.get(), out_len);
    }
    res.consumed += in_len;
    produced += out_len;
    if (res.ret != kLzmaOk) break;
    if (in_len == 0 && out_len == 0) {
      if (in_n > 0 && out_n > 0) {
        ADD_FAILURE() << "no progress with input and output room";
        break;
      }
      if (res.consumed == stream.size() && out_n > 0) ++stalls;  // waiting for input
    }
  }
  for (size_t i = produced; i < out_cap; ++i) {
    if (out_all[i] != 0xA5) {
      ADD_FAILURE() << "decoder wrote beyond the bytes it reported";
      break;
    }
  }
  out_all.resize(produced);
  res.out = std::move(out_all);
  return res;
}

// ---------------------------------------------------------------- a symbol-level encoder

// A tiny LZMA encoder that writes exactly the symbols it is told to, from
// the LZMA specification's model: for streams liblzma's encoder never makes.
// Lazy normalization (before each bit), then a final normalization and 5
// flush bytes: the byte layout liblzma's encoder writes.
class SymbolEncoder {
 public:
  SymbolEncoder(uint8_t lc, uint8_t lp, uint8_t pb)
      : lc_(lc), lp_(lp), pb_(pb), probs_(1846 + (0x300u << (lc + lp)), 1024) {}

  const Bytes& history() const { return hist_; }

  void literal(uint8_t byte) {
    const uint32_t ps = pos_state();
    bit(kIsMatch + (state_ << 4) + ps, 0);
    const uint32_t prev = hist_.empty() ? 0 : hist_.back();
    const uint32_t base =
        1846 + 0x300 * ((((uint32_t)hist_.size() & ((1u << lp_) - 1)) << lc_) + (prev >> (8 - lc_)));
    uint32_t sym = 1;
    if (state_ >= 7) {
      uint32_t match_byte = hist_[hist_.size() - rep_[0] - 1];
      bool same = true;
      for (int i = 7; i >= 0; --i) {
        const uint32_t b = (byte >> i) & 1;
        if (same) {
          const uint32_t mb = (match_byte >> i) & 1;
          bit(base + ((1 + mb) << 8) + sym, b);
          same = (mb == b);
        } else {
          bit(base + sym, b);
        }
        sym = (sym << 1) | b;
      }
    } else {
      for (int i = 7; i >= 0; --i) {
        const uint32_t b = (byte >> i) & 1;
        bit(base + sym, b);
        sym = (sym << 1) | b;
      }
    }
    state_ = state_ < 4 ? 0 : (state_ < 10 ? state_ - 3 : state_ - 6);
    hist_.push_back(byte);
  }

  // Distance is 1-based (1 = previous byte). 0xFFFFFFFF + 1 wraps to the end
  // marker when dist == 0.
  void match(uint32_t dist, uint32_t len, bool copy = true) {
    const uint32_t ps = pos_state();
    bit(kIsMatch + (state_ << 4) + ps, 1);
    bit(kIsRep + state_, 0);
    encode_len(kLenCoder, len - 2, ps);
    const uint32_t d = dist - 1;
    const uint32_t len_state = std::min<uint32_t>(len - 2, 3);
    const uint32_t slot = dist_slot(d);
    tree(kPosSlot + (len_state << 6), 6, slot);
    if (slot >= 4) {
      const uint32_t nbits = (slot >> 1) - 1;
      const uint32_t base = (2 | (slot & 1)) << nbits;
      const uint32_t rem = d - base;
      if (slot < 14) {
        reverse(kSpecPos + base - slot - 1, nbits, rem);
      } else {
        direct(rem >> 4, nbits - 4);
        reverse(kAlign, 4, rem & 15);
      }
    }
    rep_[3] = rep_[2];
    rep_[2] = rep_[1];
    rep_[1] = rep_[0];
    rep_[0] = d;
    state_ = state_ < 7 ? 7 : 10;
    if (copy) copy_out(len);
  }

  void end_marker() { match(0, 2, false); }  // distance 0xFFFFFFFF

  // Rep match with rep[idx] (0..3).
  void rep(int idx, uint32_t len) {
    const uint32_t ps = pos_state();
    bit(kIsMatch + (state_ << 4) + ps, 1);
    bit(kIsRep + state_, 1);
    if (idx == 0) {
      bit(kIsRepG0 + state_, 0);
      bit(kIsRep0Long + (state_ << 4) + ps, 1);
    } else {
      bit(kIsRepG0 + state_, 1);
      const uint32_t d = rep_[idx];
      if (idx == 1) {
        bit(kIsRepG1 + state_, 0);
      } else {
        bit(kIsRepG1 + state_, 1);
        bit(kIsRepG2 + state_, idx == 3);
        if (idx == 3) rep_[3] = rep_[2];
        rep_[2] = rep_[1];
      }
      rep_[1] = rep_[0];
      rep_[0] = d;
    }
    encode_len(kRepLenCoder, len - 2, ps);
    state_ = state_ < 7 ? 8 : 11;
    copy_out(len);
  }

  void short_rep() {
    const uint32_t ps = pos_state();
    bit(kIsMatch + (state_ << 4) + ps, 1);
    bit(kIsRep + state_, 1);
    bit(kIsRepG0 + state_, 0);
    bit(kIsRep0Long + (state_ << 4) + ps, 0);
    state_ = state_ < 7 ? 9 : 11;
    copy_out(1);
  }

  uint32_t rep_dist(int idx) const { return rep_[idx] + 1; }

  // liblzma's flush: one more normalization, then 5 bytes of low.
  Bytes finish() {
    normalize();
    for (int i = 0; i < 5; ++i) shift_low();
    return out_;
  }

 private:
  static constexpr uint32_t kIsMatch = 0, kIsRep = 192, kIsRepG0 = 204, kIsRepG1 = 216,
                            kIsRepG2 = 228, kIsRep0Long = 240, kPosSlot = 432, kSpecPos = 688,
                            kAlign = 802, kLenCoder = 818, kRepLenCoder = 1332;

  uint32_t pos_state() const { return (uint32_t)hist_.size() & ((1u << pb_) - 1); }

  static uint32_t dist_slot(uint32_t d) {
    if (d < 4) return d;
    int top = 31 - __builtin_clz(d);
    return (uint32_t)(top * 2) + ((d >> (top - 1)) & 1);
  }

  void copy_out(uint32_t len) {
    for (uint32_t i = 0; i < len; ++i) {
      size_t from = hist_.size() - rep_[0] - 1;
      hist_.push_back(from < hist_.size() ? hist_[from] : 0);
    }
  }

  void encode_len(uint32_t base, uint32_t len, uint32_t ps) {
    if (len < 8) {
      bit(base + 0, 0);
      tree(base + 2 + (ps << 3), 3, len);
    } else if (len < 16) {
      bit(base + 0, 1);
      bit(base + 1, 0);
      tree(base + 130 + (ps << 3), 3, len - 8);
    } else {
      bit(base + 0, 1);
      bit(base + 1, 1);
      tree(base + 258, 8, len - 16);
    }
  }

  void tree(uint32_t base, int nbits, uint32_t v) {
    uint32_t m = 1;
    for (int i = nbits - 1; i >= 0; --i) {
      const uint32_t b = (v >> i) & 1;
      bit(base + m, b);
      m = (m << 1) | b;
    }
  }

  void reverse(uint32_t base, int nbits, uint32_t v) {
    uint32_t m = 1;
    for (int i = 0; i < nbits; ++i) {
      const uint32_t b = (v >> i) & 1;
      bit(base + m, b);
      m = (m << 1) | b;
    }
  }

  void normalize() {
    if (range_ < (1u << 24)) {
      range_ <<= 8;
      shift_low();
    }
  }

  void bit(uint32_t index, uint32_t b) {
    normalize();
    uint16_t& p = probs_[index];
    const uint32_t bound = (range_ >> 11) * p;
    if (b == 0) {
      range_ = bound;
      p = (uint16_t)(p + ((2048 - p) >> 5));
    } else {
      low_ += bound;
      range_ -= bound;
      p = (uint16_t)(p - (p >> 5));
    }
  }

  void direct(uint32_t v, int nbits) {
    for (int i = nbits - 1; i >= 0; --i) {
      normalize();
      range_ >>= 1;
      if ((v >> i) & 1) low_ += range_;
    }
  }

  void shift_low() {
    if ((uint32_t)low_ < 0xFF000000u || (low_ >> 32) != 0) {
      const uint8_t carry = (uint8_t)(low_ >> 32);
      uint8_t temp = cache_;
      do {
        out_.push_back((uint8_t)(temp + carry));
        temp = 0xFF;
      } while (--cache_size_ != 0);
      cache_ = (uint8_t)(low_ >> 24);
    }
    ++cache_size_;
    low_ = (low_ & 0x00FFFFFFu) << 8;
  }

  uint8_t lc_, lp_, pb_;
  std::vector<uint16_t> probs_;
  uint32_t state_ = 0;
  uint32_t rep_[4] = {0, 0, 0, 0};
  Bytes hist_;
  uint64_t low_ = 0;
  uint32_t range_ = 0xFFFFFFFFu;
  uint8_t cache_ = 0;
  uint64_t cache_size_ = 1;
  Bytes out_;
};

// ---------------------------------------------------------------- helpers

// Decodes stream in several ways and checks each gives exactly data, with
// every stream byte consumed.
void expect_roundtrip(const Bytes& stream, const Bytes& data, const Props& p, uint64_t seed,
                      bool byte_at_a_time = true) {
  struct Mode {
    const char* name;
    Splitter split;
  };
  std::vector<Mode> modes = {{"whole", whole()},
                             {"1-byte output", fixed(SIZE_MAX, 1)},
                             {"random splits", random_splits(seed)},
                             {"random splits 2", random_splits(seed + 1000)}};
  if (byte_at_a_time) {
    modes.push_back({"byte input", fixed(1, SIZE_MAX)});
    modes.push_back({"byte input, 1-byte output", fixed(1, 1)});
  }
  for (const Mode& m : modes) {
    SCOPED_TRACE(m.name);
    OurResult r = our_decode(stream, data.size(), p, m.split);
    ASSERT_EQ(r.ret, kLzmaStreamEnd);
    ASSERT_EQ(r.consumed, stream.size()) << "must consume exactly the stream";
    ASSERT_EQ(r.out.size(), data.size());
    ASSERT_TRUE(r.out == data) << "output differs";
  }
}

void check_liblzma_roundtrip(const Bytes& stream, const Bytes& data, const Props& p) {
  LibResult lib = liblzma_decode(stream, data.size(), p);
  ASSERT_EQ(lib.ret, LZMA_STREAM_END);
  ASSERT_EQ(lib.consumed, stream.size());
  ASSERT_TRUE(lib.out == data);
}

// ---------------------------------------------------------------- tests

TEST(LzmaDecoder, WorkspaceSizeMatchesPatchFormat) {
  const Props cases[] = {{3, 0, 2, 4096},       {0, 0, 0, 4096},    {1, 0, 0, 16384},
                         {0, 2, 2, 1u << 20},   {4, 0, 0, 1u << 20}, {2, 2, 4, 65536},
                         {0, 4, 4, 1u << 24},   {3, 1, 1, 12345}};
  for (const Props& p : cases) {
    PatchHeader h{};
    h.codec = kCodecLzma;
    h.lzma_lc = p.lc;
    h.lzma_lp = p.lp;
    h.lzma_pb = p.pb;
    h.dict_size = p.dict;
    EXPECT_EQ(lzma_workspace_size(p.lc, p.lp, p.dict), patch_codec_workspace_size(h))
        << props_name(p);
    EXPECT_EQ(lzma_workspace_size(p.lc, p.lp, p.dict),
              (1846u + (0x300u << (p.lc + p.lp))) * 2u + p.dict);
  }
  // Saturates instead of wrapping.
  EXPECT_EQ(lzma_workspace_size(8, 4, 0xFFFFFFFFu), 0xFFFFFFFFu);
}

TEST(LzmaDecoder, ParamErrors) {
  std::vector<uint16_t> ws(lzma_workspace_size(8, 4, 4096) / 2 + 8);
  void* w = ws.data();
  LzmaDecoder d;
  const uint32_t big = (uint32_t)(ws.size() * 2);
  EXPECT_EQ(lzma_init(&d, 9, 0, 0, 4096, w, big, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 0, 5, 0, 4096, w, big, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 0, 0, 5, 4096, w, big, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 4095, w, big, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 0, w, big, 10), kLzmaParamError);
  const uint32_t need = lzma_workspace_size(3, 0, 8192);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 8192, w, need - 1, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 8192, nullptr, need, 10), kLzmaParamError);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 8192, (uint8_t*)w + 1, need, 10), kLzmaParamError);
  // A decoder whose init failed refuses to decode.
  uint8_t in[5] = {0, 0, 0, 0, 0};
  uint8_t out[4];
  size_t in_len = sizeof(in), out_len = sizeof(out);
  EXPECT_EQ(lzma_decode(&d, in, &in_len, out, &out_len), kLzmaDataError);
  EXPECT_EQ(in_len, 0u);
  EXPECT_EQ(out_len, 0u);
  // The largest accepted parameters and exact-size workspace.
  EXPECT_EQ(lzma_init(&d, 8, 4, 4, 4096, w, lzma_workspace_size(8, 4, 4096), 10), kLzmaOk);
  EXPECT_EQ(lzma_init(&d, 3, 0, 2, 8192, w, need, 10), kLzmaOk);
}

// out_size == 0: the stream is liblzma's 5 flush bytes; the decoder needs
// them all and then reports the end (the patch format never has this, but
// the decoder must not invent a different rule).
TEST(LzmaDecoder, EmptyOutput) {
  const Props p{3, 0, 2, 4096};
  Bytes stream = liblzma_encode({}, p);
  ASSERT_EQ(stream, Bytes(5, 0));
  check_liblzma_roundtrip(stream, {}, p);
  expect_roundtrip(stream, {}, p, 1);
  // Fewer than 5 bytes: still waiting.
  for (size_t n = 0; n < 5; ++n) {
    OurResult r = our_decode(Bytes(n, 0), 0, p, whole());
    EXPECT_EQ(r.ret, kLzmaOk);
    EXPECT_EQ(r.consumed, n);
  }
  // A nonzero code at the end is corrupt.
  OurResult r = our_decode(Bytes{0, 0, 0, 0, 1}, 0, p, whole());
  EXPECT_EQ(r.ret, kLzmaDataError);
}

TEST(LzmaDecoder, InitBytes) {
  const Props p{3, 0, 2, 4096};
  Bytes data = make_data(Kind::kText, 500, 3);
  Bytes stream = liblzma_encode(data, p);
  ASSERT_EQ(stream[0], 0);
  Bytes bad = stream;
  bad[0] = 1;  // first byte must be 0
  EXPECT_EQ(our_decode(bad, data.size(), p, whole()).ret, kLzmaDataError);
  EXPECT_EQ(our_decode(bad, data.size(), p, fixed(1, 1)).ret, kLzmaDataError);
  // code == range (0xFFFFFFFF) after init cannot come from an encoder.
  bad = stream;
  for (int i = 1; i < 5; ++i) bad[i] = 0xFF;
  EXPECT_EQ(our_decode(bad, data.size(), p, whole()).ret, kLzmaDataError);
}

class LzmaDifferential : public ::testing::TestWithParam<Props> {};

TEST_P(LzmaDifferential, MatchesLiblzma) {
  const Props p = GetParam();
  const size_t sizes[] = {1, 2, 100, 5000, 65536};
  uint64_t seed = p.lc * 1000 + p.lp * 100 + p.pb * 10 + p.dict;
  for (Kind kind : kAllKinds) {
    for (size_t size : sizes) {
      SCOPED_TRACE(std::string(kind_name(kind)) + " size " + std::to_string(size));
      Bytes data = make_data(kind, size, ++seed);
      Bytes stream = liblzma_encode(data, p);
      check_liblzma_roundtrip(stream, data, p);
      expect_roundtrip(stream, data, p, seed);
      if (HasFatalFailure()) return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Props, LzmaDifferential,
    ::testing::Values(Props{3, 0, 2, 16384}, Props{1, 0, 0, 16384}, Props{0, 2, 2, 16384},
                      Props{4, 0, 0, 16384}, Props{0, 0, 0, 16384}, Props{3, 0, 2, 4096},
                      Props{3, 0, 2, 1u << 20}, Props{0, 0, 0, 4096}, Props{1, 0, 0, 1u << 20},
                      Props{0, 2, 2, 4096}, Props{4, 0, 0, 1u << 20}, Props{1, 3, 4, 4096},
                      Props{2, 2, 1, 8192}),
    [](const ::testing::TestParamInfo<Props>& info) { return props_name(info.param); });

TEST(LzmaDecoder, OneMebibyte) {
  struct Case {
    Kind kind;
    Props p;
  };
  const Case cases[] = {{Kind::kMixed, {3, 0, 2, 1u << 20}},
                        {Kind::kText, {0, 2, 2, 4096}},
                        {Kind::kCompressible, {4, 0, 0, 16384}},
                        {Kind::kMixed, {0, 0, 0, 4096}}};  // random data: 64 KiB cases
  uint64_t seed = 77;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(kind_name(c.kind)) + " " + props_name(c.p));
    Bytes data = make_data(c.kind, 1u << 20, ++seed);
    Bytes stream = liblzma_encode(data, c.p);
    check_liblzma_roundtrip(stream, data, c.p);
    expect_roundtrip(stream, data, c.p, seed, /*byte_at_a_time=*/stream.size() < 300000);
  }
}

// Real firmware: the first 256 KiB of a WLED image.
TEST(LzmaDecoder, RealFirmware) {
  auto corpus = ota::test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  const std::string path = (*corpus / "wled-esp32" / "0.14.0.bin").string();
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "corpus lacks " << path;
  std::ifstream f(path, std::ios::binary);
  Bytes data(256 * 1024);
  f.read((char*)data.data(), (std::streamsize)data.size());
  data.resize((size_t)f.gcount());
  ASSERT_GT(data.size(), 1000u);
  const Props props[] = {{0, 2, 2, 1u << 20}, {3, 0, 2, 16384}};
  for (const Props& p : props) {
    SCOPED_TRACE(props_name(p));
    Bytes stream = liblzma_encode(data, p);
    check_liblzma_roundtrip(stream, data, p);
    expect_roundtrip(stream, data, p, 5);
  }
}

// Crafted symbol sequences covering every symbol kind, length range and
// distance slot, checked against liblzma.
TEST(LzmaDecoder, CraftedSymbolsMatchLiblzma) {
  // liblzma accepts lc + lp <= 4 only; lc = 8 is checked against this
  // file's encoder alone (which liblzma validates for the other settings).
  const Props props[] = {{3, 0, 2, 1u << 20}, {0, 4, 4, 1u << 20}, {4, 0, 0, 65536},
                         {8, 0, 0, 1u << 20}, {0, 0, 0, 65536}};
  uint64_t seed = 1;
  for (const Props& p : props) {
    for (int round = 0; round < 6; ++round) {
      SCOPED_TRACE(props_name(p) + " round " + std::to_string(round));
      Rng rng(++seed);
      SymbolEncoder enc(p.lc, p.lp, p.pb);
      const size_t target = 20000 + rng.below(100000);
      bool had_match = false;
      while (enc.history().size() < target) {
        const size_t have = enc.history().size();
        const uint32_t window = (uint32_t)std::min<size_t>(have, p.dict);
        const uint32_t r = rng.below(10);
        uint32_t len;
        switch (rng.below(4)) {
          case 0: len = 2 + rng.below(8); break;
          case 1: len = 10 + rng.below(8); break;
          case 2: len = 18 + rng.below(256); break;
          default: len = 2 + rng.below(272); break;
        }
        if (window == 0 || r < 3) {
          enc.literal((uint8_t)rng.next());
        } else if (r < 6) {
          // Distances across all slots: pick a bit length, then a value.
          const uint32_t bits = 1 + rng.below(32);
          uint32_t dist = bits >= 32 ? (uint32_t)rng.next() : (uint32_t)(rng.next() & ((1ull << bits) - 1));
          if (dist == 0) dist = 1;
          if (dist > window) dist = 1 + (dist % window);
          enc.match(dist, len);
          had_match = true;
        } else if (!had_match) {
          enc.literal((uint8_t)rng.next());
        } else if (r < 9) {
          const int idx = (int)rng.below(4);
          if (enc.rep_dist(idx) > window) {
            enc.literal((uint8_t)rng.next());
          } else {
            enc.rep(idx, len);
          }
        } else {
          enc.short_rep();
        }
      }
      const Bytes data = enc.history();
      const Bytes stream = enc.finish();
      if (p.lc + p.lp <= 4) check_liblzma_roundtrip(stream, data, p);
      if (HasFatalFailure()) return;
      expect_roundtrip(stream, data, p, seed, /*byte_at_a_time=*/round == 0);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(LzmaDecoder, DistanceAtDictionaryBoundary) {
  const Props p{3, 0, 2, 4096};
  for (uint32_t dist : {4095u, 4096u, 4097u}) {
    SCOPED_TRACE(dist);
    SymbolEncoder enc(p.lc, p.lp, p.pb);
    Rng rng(dist);
    for (int i = 0; i < 5000; ++i) enc.literal((uint8_t)rng.next());
    enc.match(dist, 100);
    enc.literal(7);
    enc.rep(0, 5);  // the same distance again, via rep0
    const Bytes data = enc.history();
    const Bytes stream = enc.finish();
    OurResult r = our_decode(stream, data.size(), p, whole());
    if (dist <= p.dict) {
      EXPECT_EQ(r.ret, kLzmaStreamEnd);
      EXPECT_TRUE(r.out == data);
      expect_roundtrip(stream, data, p, dist);
      check_liblzma_roundtrip(stream, data, p);
    } else {
      EXPECT_EQ(r.ret, kLzmaDataError);
      EXPECT_EQ(r.out.size(), 5000u);
      EXPECT_EQ(our_decode(stream, data.size(), p, fixed(1, 1)).ret, kLzmaDataError);
      // With a large enough dictionary the same stream is fine.
      const Props big{3, 0, 2, 8192};
      EXPECT_EQ(our_decode(stream, data.size(), big, whole()).ret, kLzmaStreamEnd);
    }
  }
}

TEST(LzmaDecoder, DistanceBeyondHistory) {
  const Props p{3, 0, 2, 65536};
  for (uint32_t have : {1u, 2u, 10u, 300u}) {
    for (uint32_t extra : {0u, 1u, 2u, 1000u}) {
      SCOPED_TRACE(std::to_string(have) + "+" + std::to_string(extra));
      SymbolEncoder enc(p.lc, p.lp, p.pb);
      for (uint32_t i = 0; i < have; ++i) enc.literal((uint8_t)(i * 7));
      enc.match(have + extra, 4, /*copy=*/extra == 0);
      const Bytes stream = enc.finish();
      const uint64_t size = have + 4;
      OurResult r = our_decode(stream, size, p, random_splits(have + extra));
      LibResult lib = liblzma_decode(stream, size, p);
      if (extra == 0) {
        EXPECT_EQ(r.ret, kLzmaStreamEnd);
        EXPECT_TRUE(r.out == enc.history());
        EXPECT_EQ(lib.ret, LZMA_STREAM_END);
      } else {
        EXPECT_EQ(r.ret, kLzmaDataError);
        EXPECT_EQ(lib.ret, LZMA_DATA_ERROR);
        EXPECT_LE(r.out.size(), have);
      }
    }
  }
}

TEST(LzmaDecoder, RepBeforeAnyOutputIsRejected) {
  const Props p{3, 0, 2, 4096};
  for (int kind = 0; kind < 5; ++kind) {
    SCOPED_TRACE(kind);
    SymbolEncoder enc(p.lc, p.lp, p.pb);
    if (kind == 4) {
      enc.short_rep();
    } else {
      enc.rep(kind, 3);
    }
    enc.literal(1);
    const Bytes stream = enc.finish();
    EXPECT_EQ(our_decode(stream, 4, p, whole()).ret, kLzmaDataError);
    EXPECT_EQ(our_decode(stream, 4, p, fixed(1, 1)).ret, kLzmaDataError);
    EXPECT_NE(liblzma_decode(stream, 4, p).ret, LZMA_STREAM_END);
  }
}

TEST(LzmaDecoder, EndMarkerIsRejected) {
  const Props p{3, 0, 2, 4096};
  SymbolEncoder enc(p.lc, p.lp, p.pb);
  for (int i = 0; i < 50; ++i) enc.literal((uint8_t)(i % 5));
  enc.end_marker();
  const Bytes stream = enc.finish();
  // The size is exact: the marker is an extra symbol, and the code is not 0.
  EXPECT_EQ(our_decode(stream, 50, p, whole()).ret, kLzmaDataError);
  // The size is larger: the marker is decoded and refused.
  OurResult r = our_decode(stream, 60, p, fixed(1, 1));
  EXPECT_EQ(r.ret, kLzmaDataError);
  EXPECT_EQ(r.out.size(), 50u);
}

TEST(LzmaDecoder, MatchPastDeclaredSizeIsRejected) {
  const Props p{3, 0, 2, 4096};
  SymbolEncoder enc(p.lc, p.lp, p.pb);
  for (int i = 0; i < 20; ++i) enc.literal((uint8_t)i);
  enc.match(20, 30);
  const Bytes stream = enc.finish();
  EXPECT_EQ(our_decode(stream, 50, p, whole()).ret, kLzmaStreamEnd);
  for (uint64_t size = 21; size < 50; size += 7) {
    OurResult r = our_decode(stream, size, p, random_splits(size));
    EXPECT_EQ(r.ret, kLzmaDataError) << size;
    EXPECT_LE(r.out.size(), size);
  }
  // And more output than the stream holds: it waits for input that never comes.
  OurResult r = our_decode(stream, 51, p, whole());
  EXPECT_EQ(r.ret, kLzmaOk);
  EXPECT_EQ(r.out.size(), 50u);
}

TEST(LzmaDecoder, TruncationNeverEnds) {
  const Props p{3, 0, 2, 16384};
  for (Kind kind : {Kind::kMixed, Kind::kText, Kind::kZeros, Kind::kRandom}) {
    SCOPED_TRACE(kind_name(kind));
    const Bytes data = make_data(kind, 3000, 11);
    const Bytes stream = liblzma_encode(data, p);
    // One decoder fed a byte at a time is, after each byte, in the state of
    // a decoder given that truncated stream: it must never end early.
    Bytes ws(lzma_workspace_size(p.lc, p.lp, p.dict));
    LzmaDecoder d;
    ASSERT_EQ(lzma_init(&d, p.lc, p.lp, p.pb, p.dict, ws.data(), (uint32_t)ws.size(), data.size()),
              kLzmaOk);
    Bytes out(data.size() + 10);
    size_t produced = 0;
    for (size_t i = 0; i < stream.size(); ++i) {
      size_t in_len = 1, out_len = out.size() - produced;
      LzmaResult r = lzma_decode(&d, &stream[i], &in_len, out.data() + produced, &out_len);
      produced += out_len;
      ASSERT_EQ(in_len, 1u);
      if (i + 1 < stream.size()) {
        ASSERT_EQ(r, kLzmaOk) << "at byte " << i;
        ASSERT_LT(produced, data.size());
      } else {
        ASSERT_EQ(r, kLzmaStreamEnd);
        ASSERT_EQ(produced, data.size());
      }
    }
    ASSERT_TRUE(Bytes(out.begin(), out.begin() + (ptrdiff_t)data.size()) == data);
    // Independent decoders on truncated copies (no bytes beyond the cut
    // exist in memory), with random splits.
    for (size_t cut = 0; cut < stream.size(); cut += 1 + cut / 8) {
      Bytes part(stream.begin(), stream.begin() + (ptrdiff_t)cut);
      OurResult r = our_decode(part, data.size(), p, random_splits(cut));
      ASSERT_EQ(r.ret, kLzmaOk) << cut;
      ASSERT_EQ(r.consumed, cut);
      ASSERT_LT(r.out.size(), data.size());
      ASSERT_TRUE(std::equal(r.out.begin(), r.out.end(), data.begin()));
    }
  }
}

TEST(LzmaDecoder, TrailingBytesAreNotConsumed) {
  const Props p{0, 2, 2, 4096};
  for (Kind kind : kAllKinds) {
    SCOPED_TRACE(kind_name(kind));
    const Bytes data = make_data(kind, 2000, 5);
    Bytes stream = liblzma_encode(data, p);
    const size_t n = stream.size();
    stream.push_back(0x5A);
    stream.push_back(0x00);
    for (const Splitter& s : {whole(), fixed(1, SIZE_MAX), fixed(3, 1), random_splits(9)}) {
      OurResult r = our_decode(stream, data.size(), p, s);
      EXPECT_EQ(r.ret, kLzmaStreamEnd);
      EXPECT_EQ(r.consumed, n);
      EXPECT_TRUE(r.out == data);
    }
  }
  // After the end, further calls consume nothing and say so again.
  const Bytes data = make_data(Kind::kText, 100, 1);
  const Bytes stream = liblzma_encode(data, p);
  Bytes ws(lzma_workspace_size(p.lc, p.lp, p.dict));
  LzmaDecoder d;
  ASSERT_EQ(lzma_init(&d, p.lc, p.lp, p.pb, p.dict, ws.data(), (uint32_t)ws.size(), data.size()),
            kLzmaOk);
  Bytes out(200);
  size_t in_len = stream.size(), out_len = out.size();
  ASSERT_EQ(lzma_decode(&d, stream.data(), &in_len, out.data(), &out_len), kLzmaStreamEnd);
  in_len = stream.size();
  out_len = out.size();
  EXPECT_EQ(lzma_decode(&d, stream.data(), &in_len, out.data(), &out_len), kLzmaStreamEnd);
  EXPECT_EQ(in_len, 0u);
  EXPECT_EQ(out_len, 0u);
}

TEST(LzmaDecoder, DictionaryTooSmallForStream) {
  // Repeats 20 KiB apart, encoded with a 1 MiB dictionary, decoded by a
  // decoder told the dictionary is 16 KiB.
  const Props p{3, 0, 2, 1u << 20};
  Bytes block = make_data(Kind::kRandom, 20000, 3);
  Bytes data = block;
  data.insert(data.end(), block.begin(), block.end());
  const Bytes stream = liblzma_encode(data, p);
  ASSERT_LT(stream.size(), 25000u);  // the repeat was found
  OurResult ok = our_decode(stream, data.size(), p, whole());
  EXPECT_EQ(ok.ret, kLzmaStreamEnd);
  for (uint32_t small : {4096u, 16384u}) {
    OurResult r = our_decode(stream, data.size(), p, random_splits(small), small);
    EXPECT_EQ(r.ret, kLzmaDataError);
    EXPECT_LT(r.out.size(), data.size());
    EXPECT_TRUE(std::equal(r.out.begin(), r.out.end(), data.begin()));
  }
}

TEST(LzmaDecoder, BitFlipsNeverCrash) {
  const Props props[] = {{3, 0, 2, 4096}, {0, 2, 2, 16384}, {4, 0, 0, 4096}};
  Rng rng(2024);
  int errors = 0, ends = 0, waits = 0;
  for (const Props& p : props) {
    for (Kind kind : kAllKinds) {
      const Bytes data = make_data(kind, 1000 + rng.below(8000), rng.next());
      const Bytes stream = liblzma_encode(data, p);
      for (int flip = 0; flip < 40; ++flip) {
        Bytes bad = stream;
        const int nflips = 1 + (int)rng.below(3);
        for (int i = 0; i < nflips; ++i) bad[rng.below((uint32_t)bad.size())] ^= (uint8_t)(1u << rng.below(8));
        const Splitter split = flip % 2 ? whole() : random_splits(rng.next());
        OurResult r = our_decode(bad, data.size(), p, split);
        ASSERT_LE(r.out.size(), data.size());
        ASSERT_LE(r.consumed, bad.size());
        if (r.ret == kLzmaStreamEnd) {
          ASSERT_EQ(r.out.size(), data.size());
          ++ends;
        } else if (r.ret == kLzmaDataError) {
          ++errors;
        } else {
          ASSERT_EQ(r.ret, kLzmaOk);
          ASSERT_EQ(r.consumed, bad.size());  // it waits for more input
          ++waits;
        }
      }
    }
  }
  RecordProperty("errors", errors);
  RecordProperty("ends", ends);
  RecordProperty("waits", waits);
  EXPECT_GT(errors, 0);
}

// Random bytes after a valid first byte, to exercise the error paths.
TEST(LzmaDecoder, RandomStreamsNeverCrash) {
  Rng rng(99);
  for (int i = 0; i < 300; ++i) {
    const Props p{(uint8_t)rng.below(5), (uint8_t)rng.below(5), (uint8_t)rng.below(5), 4096};
    if (p.lc + p.lp > 8) continue;
    Bytes stream(5 + rng.below(3000));
    for (auto& b : stream) b = (uint8_t)rng.next();
    stream[0] = 0;
    const uint64_t size = rng.below(20000);
    OurResult r = our_decode(stream, size, p, i % 2 ? whole() : random_splits(i));
    ASSERT_LE(r.out.size(), size);
    if (r.ret == kLzmaStreamEnd) {
      ASSERT_EQ(r.out.size(), size);
    }
  }
}

}  // namespace
}  // namespace ota
