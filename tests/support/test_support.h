// Shared test helpers: corpus lookup, files, deterministic synthetic images.
#ifndef OTA_TEST_SUPPORT_H
#define OTA_TEST_SUPPORT_H

#include <cstdint>
#include <filesystem>
#include <optional>
#include <random>
#include <string>
#include <vector>

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

// Bytes that look like firmware: code-like runs, tables, strings, padding.
std::vector<uint8_t> synthetic_image(std::mt19937& rng, size_t size);
// A "next release" of `base`: edits, insertions, deletions and shifted
// 32-bit pointers, like a rebuild with small source changes.
std::vector<uint8_t> mutate_image(std::mt19937& rng, const std::vector<uint8_t>& base,
                                  int edits);

// A valid ESP32 application image (header, a DROM segment starting with
// the app descriptor, an IROM segment holding `code`, an IRAM segment;
// checksum and appended SHA-256), for tests that need uploadable firmware
// without the corpus.
std::vector<uint8_t> synthetic_esp32_app(const std::string& version, const std::string& project,
                                         const std::vector<uint8_t>& code);

// The source tree and the binaries: $OTA_SOURCE_DIR / $OTA_BIN_DIR, else
// the build's own paths.
std::filesystem::path source_dir();
std::filesystem::path bin_dir();

// A fresh empty directory under the system temp dir, removed by the caller.
std::filesystem::path make_temp_dir(const std::string& tag);

}  // namespace ota::test

#endif  // OTA_TEST_SUPPORT_H
