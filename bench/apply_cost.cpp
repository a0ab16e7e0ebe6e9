// ota-apply-cost: applies a patch with the device decoder entirely in memory,
// for measuring the device's apply cost (DESIGN.md §5) with callgrind:
//
//   valgrind --tool=callgrind --toggle-collect='*apply_in_memory*'
//            ota-apply-cost OLD PATCH [NEW]
//
// Only apply_in_memory() (the decoder and the in-memory ports it calls) is
// counted: reading the files, allocating and comparing are outside it. The
// hash ports are null, as on a device that verifies the image itself.
// Prints new_size, the codec workspace and whether the output equals NEW.
// Exit status: 0 applied (and matches NEW when given), 1 failure, 2 usage.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ota/patch_decoder.h"
#include "ota/patch_format.h"
#include "ota/status.h"

namespace {

// What the network hands the device at a time (one TCP segment's payload).
constexpr size_t kFeedChunk = 1460;

bool read_file(const char* path, std::vector<uint8_t>* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out->assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

struct MemoryFlash {
  const std::vector<uint8_t>* old_image;
  std::vector<uint8_t>* new_image;  // sized to new_size up front
  size_t written;
};

int read_old(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  auto* m = static_cast<MemoryFlash*>(ctx);
  if (offset > m->old_image->size() || len > m->old_image->size() - offset) return 1;
  memcpy(buf, m->old_image->data() + offset, len);
  return 0;
}

int write_new(void* ctx, const uint8_t* buf, uint32_t len) {
  auto* m = static_cast<MemoryFlash*>(ctx);
  if (len > m->new_image->size() - m->written) return 1;
  memcpy(m->new_image->data() + m->written, buf, len);
  m->written += len;
  return 0;
}

}  // namespace

// The measured region: decoder init, every feed, finish. Kept out of line
// and with external linkage so its symbol is there for --toggle-collect.
__attribute__((noinline)) ota::Status apply_in_memory(ota::PatchDecoder* d, const ota::PatchIo* io,
                                                      uint8_t* workspace, uint32_t workspace_size,
                                                      const uint8_t* patch, size_t patch_size) {
  ota::Status s = ota::patch_decoder_init(d, io, workspace, workspace_size);
  for (size_t at = 0; !ota::status_is_error(s) && at < patch_size; at += kFeedChunk) {
    size_t n = patch_size - at < kFeedChunk ? patch_size - at : kFeedChunk;
    s = ota::patch_decoder_feed(d, patch + at, n);
  }
  if (ota::status_is_error(s)) return s;
  return ota::patch_decoder_finish(d);
}

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: %s OLD PATCH [NEW]\n", argv[0]);
    return 2;
  }
  std::vector<uint8_t> old_image, patch, expected;
  if (!read_file(argv[1], &old_image) || !read_file(argv[2], &patch) ||
      (argc == 4 && !read_file(argv[3], &expected))) {
    fprintf(stderr, "ota-apply-cost: cannot read an input file\n");
    return 1;
  }
  ota::PatchHeader h{};
  ota::Status hs = patch.size() >= ota::kPatchHeaderSize
                       ? ota::patch_header_parse(patch.data(), &h)
                       : ota::kStatusTruncated;
  if (hs != ota::kStatusOk) {
    fprintf(stderr, "ota-apply-cost: bad patch header: %s\n", ota::status_message(hs));
    return 1;
  }
  // Exactly the workspace the patch asks for, as a device at its budget.
  const uint32_t workspace_size = ota::patch_codec_workspace_size(h);
  std::vector<uint32_t> workspace((workspace_size + 3) / 4 + 1);
  std::vector<uint8_t> out(h.new_size);
  MemoryFlash flash{&old_image, &out, 0};
  const ota::PatchIo io = {&flash, read_old, write_new, nullptr, nullptr, nullptr};
  static ota::PatchDecoder decoder;  // as on a device: static, not on the stack

  ota::Status s = apply_in_memory(&decoder, &io, reinterpret_cast<uint8_t*>(workspace.data()),
                                  workspace_size, patch.data(), patch.size());
  printf("new_size %u\n", h.new_size);
  printf("written %zu\n", flash.written);
  printf("workspace %u\n", workspace_size);
  printf("status %s\n", ota::status_message(s));
  if (s != ota::kStatusDone) return 1;
  if (argc == 4) {
    bool match = expected.size() == flash.written &&
                 memcmp(expected.data(), out.data(), flash.written) == 0;
    printf("match %s\n", match ? "yes" : "no");
    if (!match) return 1;
  }
  return 0;
}
