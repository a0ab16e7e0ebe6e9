// libFuzzer target: arbitrary bytes as an uploaded firmware image. The
// validator must never crash or read outside the buffer, whatever it gets;
// seeds in fuzz/seeds/esp_image are small valid images (fuzz/make-seeds.sh).
#include <stddef.h>
#include <stdint.h>

#include "ota/server/esp_image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ota::server::EspImageResult r = ota::server::inspect_esp_app_image({data, size});
  if (r.ok()) {
    // A valid image's segments lie inside it.
    for (const auto& s : r.info().segments)
      if (static_cast<uint64_t>(s.file_offset) + s.size > size) __builtin_trap();
  } else if (r.error().reason.empty()) {
    __builtin_trap();  // every refusal says why
  }
  return 0;
}
