// Shared test helpers: corpus lookup, files, deterministic synthetic images.
#ifndef OTA_TEST_SUPPORT_H
#define OTA_TEST_SUPPORT_H

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "fwgen.h"

namespace ota::test {

// The corpus directory: $OTA_CORPUS, else $OTA_SOURCE_DIR/../shared/corpus;
// nullopt when neither exists (callers GTEST_SKIP with a message).
std::optional<std::filesystem::path> corpus_dir();

struct CorpusPair {
  std::string series, old_version, new_version;
  std::filesystem::path old_path, new_path;
};
// Consecutive releases of each series, in MANIFEST.tsv order.
std::vector<CorpusPair> corpus_pairs(const std::filesystem::path& corpus);

std::vector<uint8_t> read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::vector<uint8_t>& data);

// Synthetic firmware (tools/fwgen): synthetic_image, mutate_image,
// synthetic_esp32_app.
using fwgen::mutate_image;
using fwgen::synthetic_esp32_app;
using fwgen::synthetic_image;

// The source tree and the binaries: $OTA_SOURCE_DIR / $OTA_BIN_DIR, else
// the build's own paths.
std::filesystem::path source_dir();
std::filesystem::path bin_dir();
// Debian's Python, whose modules `make deps` installs: $OTA_PYTHON, else
// the one CMake found.
std::filesystem::path python();

// A loopback TCP port nobody listens on right now (bound, then closed): a
// server a test starts may still lose it to another process in between.
uint16_t free_loopback_port();

// A fresh empty directory under the system temp dir, removed by the caller.
std::filesystem::path make_temp_dir(const std::string& tag);

}  // namespace ota::test

#endif  // OTA_TEST_SUPPORT_H
