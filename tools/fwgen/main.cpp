// ota-fwgen: writes two consecutive synthetic ESP32 firmware releases, for
// `make demo` and trials without real firmware at hand.
//
//   ota-fwgen OUT_DIR [--project NAME] [--size BYTES] [--seed N]
//     → OUT_DIR/firmware_1.0.0.bin, OUT_DIR/firmware_1.0.1.bin
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "fwgen.h"

int main(int argc, char** argv) {
  std::string out, project = "ota-demo";
  unsigned long size = 600 * 1024, seed = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--project" && i + 1 < argc) project = argv[++i];
    else if (a == "--size" && i + 1 < argc) size = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--seed" && i + 1 < argc) seed = std::strtoul(argv[++i], nullptr, 10);
    else if (out.empty() && a[0] != '-') out = a;
    else {
      std::fprintf(stderr, "usage: ota-fwgen OUT_DIR [--project NAME] [--size BYTES] [--seed N]\n");
      return 2;
    }
  }
  if (out.empty() || size < 4096 || size > (64ul << 20)) {
    std::fprintf(stderr, "usage: ota-fwgen OUT_DIR [--project NAME] [--size BYTES (4 KiB..64 MiB)] [--seed N]\n");
    return 2;
  }
  std::error_code ec;
  std::filesystem::create_directories(out, ec);  // a missing OUT_DIR is made; failures show below
  std::mt19937 rng(static_cast<unsigned>(seed));
  std::vector<uint8_t> code = ota::fwgen::synthetic_image(rng, size);
  std::vector<uint8_t> next = ota::fwgen::mutate_image(rng, code, 40);
  struct Release {
    const char* version;
    const std::vector<uint8_t>* code;
  } releases[] = {{"1.0.0", &code}, {"1.0.1", &next}};
  for (const Release& r : releases) {
    std::vector<uint8_t> img = ota::fwgen::synthetic_esp32_app(r.version, project, *r.code);
    std::string path = out + "/firmware_" + r.version + ".bin";
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
    if (!f) {
      std::fprintf(stderr, "ota-fwgen: cannot write %s\n", path.c_str());
      return 1;
    }
    std::printf("%s\n", path.c_str());
  }
  return 0;
}
