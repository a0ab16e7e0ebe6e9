#include "ota/delta/patch_apply.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace ota::delta {

namespace {

struct HostIo {
  std::span<const uint8_t> old_image;
  std::vector<uint8_t>* out;
  EVP_MD_CTX* md;
};

int read_old(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  auto* io = static_cast<HostIo*>(ctx);
  if (static_cast<uint64_t>(offset) + len > io->old_image.size()) return -1;
  std::memcpy(buf, io->old_image.data() + offset, len);
  return 0;
}

int write_new(void* ctx, const uint8_t* buf, uint32_t len) {
  auto* io = static_cast<HostIo*>(ctx);
  io->out->insert(io->out->end(), buf, buf + len);
  return 0;
}

int sha_begin(void* ctx) {
  auto* io = static_cast<HostIo*>(ctx);
  return EVP_DigestInit_ex(io->md, EVP_sha256(), nullptr) == 1 ? 0 : -1;
}

int sha_update(void* ctx, const uint8_t* buf, uint32_t len) {
  auto* io = static_cast<HostIo*>(ctx);
  return EVP_DigestUpdate(io->md, buf, len) == 1 ? 0 : -1;
}

int sha_finish(void* ctx, uint8_t digest[32]) {
  auto* io = static_cast<HostIo*>(ctx);
  unsigned int n = 0;
  return (EVP_DigestFinal_ex(io->md, digest, &n) == 1 && n == 32) ? 0 : -1;
}

}  // namespace

ApplyResult apply_patch(std::span<const uint8_t> old_image, std::span<const uint8_t> patch,
                        std::vector<uint8_t>* out, uint32_t ram_budget, size_t chunk) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  HostIo host{old_image, out, md.get()};
  PatchIo io{&host, read_old, write_new, sha_begin, sha_update, sha_finish};
  out->clear();

  // The workspace is sized to the budget lazily: only what the header asks
  // for is allocated, but the decoder is told the full budget.
  auto decoder = std::make_unique<PatchDecoder>();
  ApplyResult r;
  PatchHeader h;
  if (patch.size() >= kPatchHeaderSize && patch_header_parse(patch.data(), &h) == kStatusOk)
    ram_budget = std::min(ram_budget, patch_codec_workspace_size(h));
  else
    ram_budget = 0;  // the decoder refuses this header anyway
  std::unique_ptr<uint32_t[]> workspace(new uint32_t[ram_budget / 4 + 1]);
  r.status = patch_decoder_init(decoder.get(), &io, workspace.get(), ram_budget);
  if (r.status != kStatusOk) return r;
  if (chunk == 0) chunk = patch.size() ? patch.size() : 1;
  Status s = kStatusOk;
  for (size_t off = 0; off < patch.size() && !status_is_error(s); off += chunk)
    s = patch_decoder_feed(decoder.get(), patch.data() + off, std::min(chunk, patch.size() - off));
  r.status = patch_decoder_finish(decoder.get());
  if (const PatchHeader* h = patch_decoder_header(decoder.get())) {
    r.header = *h;
    r.header_ok = true;
  }
  return r;
}

}  // namespace ota::delta
