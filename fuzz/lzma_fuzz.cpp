// libFuzzer target for the device's raw LZMA1 decoder (ota/lzma_decoder.h).
//
// Input layout (8-byte header, then the stream):
//   [0]     lc = b % 9, lowered until lc + lp <= 4 (the patch format's cap)
//   [1]     lp = b % 5, pb = (b / 5) % 5
//   [2..3]  dict_size = 4096 + le16 (4 KiB .. 68 KiB, not only powers of 2)
//   [4..5]  out_size = le16 (0 .. 64 KiB - 1)
//   [6]     unused
//   [7]     seed for the input/output splits
//   [8..]   the LZMA stream
//
// Each input is decoded twice: in one call, and fed in pseudo-random pieces
// (including 0- and 1-byte input and output) through exact-size heap copies,
// so ASan sees any access outside what a call was given. The two runs must
// agree on result, bytes consumed and output; output never exceeds out_size
// and StreamEnd means exactly out_size bytes. Any violation traps.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/lzma_decoder.h"

namespace {

struct Run {
  ota::LzmaResult ret;
  size_t consumed;
  size_t produced;
};

struct Params {
  uint8_t lc, lp, pb;
  uint32_t dict;
  uint32_t out_size;
};

void check(bool ok) {
  if (!ok) __builtin_trap();
}

uint32_t next_random(uint32_t* s) {
  // xorshift32
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  *s = x;
  return x;
}

size_t pick_size(uint32_t* s) {
  const uint32_t r = next_random(s);
  switch (r & 7) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 1 + ((r >> 3) & 3);
    case 3: return 16 + ((r >> 3) & 7);  // around the decoder's 20-byte staging
    case 4: return 1 + ((r >> 3) & 1023);
    default: return 1 + ((r >> 3) & 63);
  }
}

// Decodes stream into out (out_size bytes) with the given split seed; seed 0
// means one call with everything.
Run decode(const Params& p, const uint8_t* stream, size_t stream_size, uint8_t* out,
           uint32_t seed) {
  Run run = {ota::kLzmaOk, 0, 0};
  const uint32_t ws_size = ota::lzma_workspace_size(p.lc, p.lp, p.dict);
  uint8_t* workspace = new uint8_t[ws_size];
  ota::LzmaDecoder d;
  run.ret = ota::lzma_init(&d, p.lc, p.lp, p.pb, p.dict, workspace, ws_size, p.out_size);
  check(run.ret == ota::kLzmaOk);
  if (seed == 0) {
    size_t in_len = stream_size, out_len = p.out_size;
    run.ret = ota::lzma_decode(&d, stream, &in_len, out, &out_len);
    check(in_len <= stream_size && out_len <= p.out_size);
    run.consumed = in_len;
    run.produced = out_len;
    if (run.ret == ota::kLzmaOk) {
      // Nothing more can come; one more call must change nothing.
      size_t in2 = 0, out2 = p.out_size - run.produced;
      const ota::LzmaResult r2 = ota::lzma_decode(&d, nullptr, &in2, out + run.produced, &out2);
      check(r2 == ota::kLzmaOk && in2 == 0 && out2 == 0);
    }
  } else {
    uint32_t s = seed | 1u;
    int idle = 0;
    while (run.ret == ota::kLzmaOk && idle < 64) {
      size_t in_n = pick_size(&s);
      size_t out_n = pick_size(&s);
      if (in_n > stream_size - run.consumed) in_n = stream_size - run.consumed;
      if (out_n > p.out_size - run.produced) out_n = p.out_size - run.produced;
      uint8_t* in_copy = new uint8_t[in_n ? in_n : 1];
      uint8_t* out_copy = new uint8_t[out_n ? out_n : 1];
      if (in_n) memcpy(in_copy, stream + run.consumed, in_n);
      size_t in_len = in_n, out_len = out_n;
      run.ret = ota::lzma_decode(&d, in_n ? in_copy : nullptr, &in_len,
                                 out_n ? out_copy : nullptr, &out_len);
      check(in_len <= in_n && out_len <= out_n);
      memcpy(out + run.produced, out_copy, out_len);
      delete[] in_copy;
      delete[] out_copy;
      run.consumed += in_len;
      run.produced += out_len;
      if (in_len == 0 && out_len == 0) {
        // With input and room offered, the decoder must move.
        check(!(run.ret == ota::kLzmaOk && in_n > 0 && out_n > 0));
        if (run.consumed == stream_size) ++idle;
      }
    }
    if (run.ret == ota::kLzmaOk) {
      // Settle with everything that is left, as the one-call run saw it.
      size_t in_len = stream_size - run.consumed, out_len = p.out_size - run.produced;
      run.ret = ota::lzma_decode(&d, stream + run.consumed, &in_len, out + run.produced, &out_len);
      run.consumed += in_len;
      run.produced += out_len;
    }
  }
  check(run.produced <= p.out_size);
  if (run.ret == ota::kLzmaStreamEnd) check(run.produced == p.out_size);
  delete[] workspace;
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  Params p;
  p.lc = (uint8_t)(data[0] % 9);
  p.lp = (uint8_t)(data[1] % 5);
  p.pb = (uint8_t)((data[1] / 5) % 5);
  while (p.lc + p.lp > 4) --p.lc;
  p.dict = 4096u + ((uint32_t)data[2] | ((uint32_t)data[3] << 8));
  p.out_size = (uint32_t)data[4] | ((uint32_t)data[5] << 8);
  const uint32_t seed = data[7] + 1u;
  const uint8_t* stream = data + 8;
  const size_t stream_size = size - 8;

  // Exact-size output blocks: writing past out_size is an ASan error.
  uint8_t* whole_out = new uint8_t[p.out_size ? p.out_size : 1];
  uint8_t* split_out = new uint8_t[p.out_size ? p.out_size : 1];
  const Run a = decode(p, stream, stream_size, whole_out, 0);
  const Run b = decode(p, stream, stream_size, split_out, seed);
  check(a.ret == b.ret);
  check(a.produced == b.produced);
  check(a.consumed == b.consumed);
  check(memcmp(whole_out, split_out, a.produced) == 0);
  delete[] whole_out;
  delete[] split_out;
  return 0;
}
