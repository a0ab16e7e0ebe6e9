// libFuzzer target: arbitrary bytes as a server answer to the device's JSON
// scanner (ota/json_scan.h). It must never crash, read outside the input or
// recurse, and what it returns must keep its contract: ASCII strings that
// fit and are NUL-terminated, and the same answer whatever the capacity when
// the value fits. Seeds: fuzz/seeds/json_scan.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/json_scan.h"

namespace {

const char* const kKeys[] = {"update", "manifest", "target_version", "delta", "size",
                             "download_url", "update_available", "new_version", "error", "a", ""};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A copy of exactly `size` bytes, so that ASan sees any read past the end.
  char* json = new char[size ? size : 1];
  if (size) memcpy(json, data, size);
  for (const char* key : kKeys) {
    char small[8];
    char big[512];
    size_t small_len = 99, big_len = 99;
    const ota::Status s1 = ota::json_get_string(json, size, key, small, sizeof small, &small_len);
    const ota::Status s2 = ota::json_get_string(json, size, key, big, sizeof big, &big_len);
    if (s2 == ota::kStatusOk) {
      if (big_len >= sizeof big || big[big_len] != '\0' || strlen(big) != big_len) __builtin_trap();
      for (size_t i = 0; i < big_len; ++i)
        if (static_cast<unsigned char>(big[i]) >= 0x80 || big[i] == 0) __builtin_trap();
    } else if (big[0] != '\0' || big_len != 0) {
      __builtin_trap();
    }
    if (s1 == ota::kStatusOk) {
      // What fits in 8 bytes is what the larger buffer got.
      if (s2 != ota::kStatusOk || small_len != big_len || memcmp(small, big, big_len + 1) != 0)
        __builtin_trap();
    } else if (s2 == ota::kStatusOk && big_len < sizeof small) {
      __builtin_trap();
    }
    bool b = true;
    const ota::Status sb = ota::json_get_bool(json, size, key, &b);
    if (sb != ota::kStatusOk && b) __builtin_trap();
    uint64_t u = 1;
    const ota::Status su = ota::json_get_u64(json, size, key, &u);
    if (su != ota::kStatusOk && u != 0) __builtin_trap();
    // An object member lies inside the input, from '{' to '}', and is itself
    // a document the getters accept.
    const char* obj = json;
    size_t obj_len = 1;
    const ota::Status so = ota::json_get_object(json, size, key, &obj, &obj_len);
    if (so == ota::kStatusOk) {
      if (obj < json || obj_len < 2 || obj + obj_len > json + size || obj[0] != '{' || obj[obj_len - 1] != '}')
        __builtin_trap();
      uint64_t inner = 0;
      ota::json_get_u64(obj, obj_len, "code", &inner);  // a valid object: any answer, no crash
    } else if (obj != nullptr || obj_len != 0) {
      __builtin_trap();
    }
    // One member has one type.
    if ((s2 == ota::kStatusOk) + (sb == ota::kStatusOk) + (su == ota::kStatusOk) + (so == ota::kStatusOk) > 1)
      __builtin_trap();
  }
  delete[] json;
  return 0;
}
