// ota-decoder-bench: throughput of the device decoder (ota::PatchDecoder) on
// the host, fed as a device is fed (1460-byte chunks), hash ports null.
//
// Pairs: a synthetic firmware-like pair made here (always), and one real
// corpus pair when the corpus is found ($OTA_CORPUS, else
// <source>/../shared/corpus). Patches are made in-process with the host
// encoder (ota::delta::make_patch) at its default settings, with the LZMA
// codec and with no codec. bytes_per_second is output (new image) bytes.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ota/delta/patch_encoder.h"
#include "ota/patch_decoder.h"
#include "ota/patch_format.h"

#ifndef OTA_SOURCE_DIR
#define OTA_SOURCE_DIR "."
#endif

namespace {

constexpr size_t kFeedChunk = 1460;

struct Pair {
  std::vector<uint8_t> old_image;
  std::vector<uint8_t> new_image;
};

struct Case {
  const Pair* pair;
  std::vector<uint8_t> patch;
  ota::PatchHeader header;
};

// xorshift64*: deterministic, so every run measures the same bytes.
struct Rng {
  uint64_t s = 0x9E3779B97F4A7C15ull;
  uint32_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return static_cast<uint32_t>((s * 0x2545F4914F6CDD1Dull) >> 32);
  }
};

// About 1 MiB that looks like firmware to a delta coder: "instructions" from
// a small vocabulary, 32-bit "addresses" near each other, repeated blocks
// and a string table. The new image inserts and deletes code (so everything
// after shifts), relocates addresses and rewrites a few functions.
Pair make_synthetic_pair() {
  Rng rng;
  Pair p;
  std::vector<uint8_t>& old_image = p.old_image;
  const size_t size = 1 << 20;
  while (old_image.size() < size * 7 / 8) {
    uint32_t kind = rng.next() % 16;
    if (kind < 10) {  // an opcode and operand
      old_image.push_back(static_cast<uint8_t>(0x20 + rng.next() % 24));
      old_image.push_back(static_cast<uint8_t>(rng.next()));
      old_image.push_back(static_cast<uint8_t>(rng.next() % 4));
    } else if (kind < 14) {  // an absolute address into the image
      uint32_t addr = 0x42000000u + (rng.next() % size & ~3u);
      for (int i = 0; i < 4; ++i) old_image.push_back(static_cast<uint8_t>(addr >> (8 * i)));
    } else if (old_image.size() > 4096) {  // a repeated block (an inlined helper)
      size_t len = 16 + rng.next() % 112;
      size_t from = rng.next() % (old_image.size() - len);
      for (size_t i = 0; i < len; ++i) old_image.push_back(old_image[from + i]);
    }
  }
  static const char* const kWords[] = {"wifi", "mqtt", "connect", "error", "ota", "update",
                                       "%s:%d", "timeout", "config", "led", "segment", "\n"};
  while (old_image.size() < size) {
    const char* w = kWords[rng.next() % (sizeof kWords / sizeof kWords[0])];
    old_image.insert(old_image.end(), w, w + strlen(w));
    if (rng.next() % 4 == 0) old_image.push_back(0);
  }
  old_image.resize(size);

  std::vector<uint8_t>& new_image = p.new_image;
  new_image.reserve(size + size / 16);
  size_t at = 0;
  while (at < old_image.size()) {
    size_t run = 2048 + rng.next() % 30000;
    size_t end = at + run < old_image.size() ? at + run : old_image.size();
    size_t start = new_image.size();
    new_image.insert(new_image.end(), old_image.begin() + at, old_image.begin() + end);
    // Relocated addresses: the same small offset added to many words.
    for (size_t i = start; i + 4 <= new_image.size(); i += 4 + rng.next() % 60) {
      if (new_image[i + 3] == 0x42) new_image[i] = static_cast<uint8_t>(new_image[i] + 0x30);
    }
    at = end;
    switch (rng.next() % 4) {
      case 0: {  // new code
        size_t len = 16 + rng.next() % 400;
        for (size_t i = 0; i < len; ++i) new_image.push_back(static_cast<uint8_t>(rng.next()));
        break;
      }
      case 1:  // deleted code
        at += rng.next() % 300;
        break;
      default:
        break;
    }
  }
  return p;
}

bool read_file(const std::string& path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

struct Sink {
  const std::vector<uint8_t>* old_image;
  uint8_t* out;
  size_t capacity;
  size_t written;
};

int read_old(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  auto* s = static_cast<Sink*>(ctx);
  if (offset > s->old_image->size() || len > s->old_image->size() - offset) return 1;
  memcpy(buf, s->old_image->data() + offset, len);
  return 0;
}

int write_new(void* ctx, const uint8_t* buf, uint32_t len) {
  auto* s = static_cast<Sink*>(ctx);
  if (len > s->capacity - s->written) return 1;
  memcpy(s->out + s->written, buf, len);
  s->written += len;
  return 0;
}

void BM_Decode(benchmark::State& state, const Case* c) {
  const uint32_t workspace_size = ota::patch_codec_workspace_size(c->header);
  std::vector<uint32_t> workspace(workspace_size / 4 + 1);
  std::vector<uint8_t> out(c->header.new_size);
  Sink sink{&c->pair->old_image, out.data(), out.size(), 0};
  const ota::PatchIo io = {&sink, read_old, write_new, nullptr, nullptr, nullptr};
  static ota::PatchDecoder decoder;
  for (auto _ : state) {
    sink.written = 0;
    ota::Status s = ota::patch_decoder_init(
        &decoder, &io, reinterpret_cast<uint8_t*>(workspace.data()), workspace_size);
    for (size_t at = 0; !ota::status_is_error(s) && at < c->patch.size(); at += kFeedChunk) {
      size_t n = c->patch.size() - at < kFeedChunk ? c->patch.size() - at : kFeedChunk;
      s = ota::patch_decoder_feed(&decoder, c->patch.data() + at, n);
    }
    if (!ota::status_is_error(s)) s = ota::patch_decoder_finish(&decoder);
    if (s != ota::kStatusDone) {
      state.SkipWithError(ota::status_message(s));
      return;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  if (out != c->pair->new_image) {
    state.SkipWithError("decoded image differs from NEW");
    return;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * c->header.new_size);
  state.counters["new_bytes"] = static_cast<double>(c->header.new_size);
  state.counters["patch_bytes"] = static_cast<double>(c->patch.size());
  state.counters["workspace"] = static_cast<double>(workspace_size);
}

// Makes the patch for one pair and codec and registers its benchmark.
// Cases live until exit (the benchmarks keep pointers to them; a deque's
// elements never move).
void add_case(const std::string& name, const Pair* pair, ota::Codec codec,
              std::deque<Case>* cases) {
  ota::delta::EncodeOptions options;
  options.codec = codec;
  Case* c = &cases->emplace_back(
      Case{pair, ota::delta::make_patch(pair->old_image, pair->new_image, options), {}});
  if (ota::patch_header_parse(c->patch.data(), &c->header) != ota::kStatusOk) {
    fprintf(stderr, "ota-decoder-bench: the encoder made an unreadable header for %s\n",
            name.c_str());
    exit(1);
  }
  benchmark::RegisterBenchmark(name.c_str(), BM_Decode, c)->Unit(benchmark::kMillisecond);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  std::deque<Case> cases;
  static const Pair synthetic = make_synthetic_pair();
  add_case("decode/synthetic/lzma", &synthetic, ota::kCodecLzma, &cases);
  add_case("decode/synthetic/none", &synthetic, ota::kCodecNone, &cases);

  // One real pair: the newest WLED ESP32-C3 update.
  const char* env = getenv("OTA_CORPUS");
  std::string corpus = env && *env ? env : std::string(OTA_SOURCE_DIR) + "/../shared/corpus";
  static Pair real;
  const std::string old_path = corpus + "/wled-esp32c3/0.14.3.bin";
  const std::string new_path = corpus + "/wled-esp32c3/0.14.4.bin";
  if (read_file(old_path, &real.old_image) && read_file(new_path, &real.new_image)) {
    add_case("decode/wled-esp32c3-0.14.3-0.14.4/lzma", &real, ota::kCodecLzma, &cases);
    add_case("decode/wled-esp32c3-0.14.3-0.14.4/none", &real, ota::kCodecNone, &cases);
  } else {
    fprintf(stderr, "ota-decoder-bench: corpus pair not found under %s; synthetic pair only\n",
            corpus.c_str());
  }

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
