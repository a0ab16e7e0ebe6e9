// libFuzzer target: arbitrary bytes as the content of an OTA slot, checked
// by the device-side ESP image checker (ota/esp_image.h) through a memory
// read callback, with and without a crypto port. It must never read outside
// [0, limit) or more than 256 bytes at once, must finish every SHA-256 it
// begins, and an accepted image must lie inside the slot. The crypto port
// here is a cheap stand-in (an XOR fold, not SHA-256) so that the fuzzer can
// also reach the "digest matches" path. Seeds: fuzz/seeds/esp_image_check.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/esp_image.h"

namespace {

struct Slot {
  const uint8_t* data;
  uint32_t size;
};

int slot_read(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  const Slot* s = static_cast<const Slot*>(ctx);
  if (len == 0 || len > 256) __builtin_trap();
  if (offset > s->size || len > s->size - offset) __builtin_trap();
  memcpy(buf, s->data + offset, len);
  return 0;
}

struct FakeHash {
  int open = 0;
};

int fake_begin(void* ctx, ota::Sha256State* s) {
  ++static_cast<FakeHash*>(ctx)->open;
  memset(s->opaque, 0, sizeof s->opaque);
  return 0;
}
int fake_update(void*, ota::Sha256State* s, const uint8_t* d, size_t n) {
  uint32_t pos;
  memcpy(&pos, s->opaque + 32, sizeof pos);
  for (size_t i = 0; i < n; ++i) s->opaque[(pos + i) % 32] ^= d[i];
  pos = static_cast<uint32_t>((pos + n) % 32);
  memcpy(s->opaque + 32, &pos, sizeof pos);
  return 0;
}
int fake_finish(void* ctx, ota::Sha256State* s, uint8_t digest[32]) {
  --static_cast<FakeHash*>(ctx)->open;
  memcpy(digest, s->opaque, 32);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0x1000000) return 0;
  // A copy of exactly `size` bytes, so that ASan sees any read past the end.
  uint8_t* copy = new uint8_t[size ? size : 1];
  if (size) memcpy(copy, data, size);
  Slot slot{copy, static_cast<uint32_t>(size)};
  FakeHash hash;
  ota::CryptoPort port{};
  port.ctx = &hash;
  port.sha256_begin = fake_begin;
  port.sha256_update = fake_update;
  port.sha256_finish = fake_finish;
  for (int pass = 0; pass < 2; ++pass) {
    const ota::CryptoPort* crypto = pass ? &port : nullptr;
    ota::EspImageInfo info;
    memset(&info, 0x5A, sizeof info);
    const ota::Status st = ota::esp_image_check(slot_read, &slot, slot.size, crypto, &info);
    if (hash.open != 0) __builtin_trap();
    if (st == ota::kStatusOk) {
      if (info.size > size || info.size < 24 + 8 + 16) __builtin_trap();
      if (info.segment_count == 0 || info.segment_count > ota::kEspImageMaxSegments) __builtin_trap();
      if (info.version[32] != '\0' || strlen(info.project_name) > 32) __builtin_trap();
      if (!info.has_app_desc && (info.version[0] || info.project_name[0])) __builtin_trap();
    } else if (st != ota::kStatusBadImage) {
      __builtin_trap();
    } else {
      for (size_t i = 0; i < sizeof info; ++i)
        if (reinterpret_cast<const uint8_t*>(&info)[i] != 0) __builtin_trap();
    }
  }
  delete[] copy;
  return 0;
}
