#include "test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace ota::test {

namespace fs = std::filesystem;

fs::path source_dir() {
  const char* env = std::getenv("OTA_SOURCE_DIR");
  return (env && *env) ? fs::path(env) : fs::path(OTA_DEFAULT_SOURCE_DIR);
}

fs::path bin_dir() {
  const char* env = std::getenv("OTA_BIN_DIR");
  return (env && *env) ? fs::path(env) : fs::path(OTA_DEFAULT_BIN_DIR);
}

std::optional<fs::path> corpus_dir() {
  if (const char* env = std::getenv("OTA_CORPUS"); env && *env) {
    if (fs::exists(fs::path(env) / "MANIFEST.tsv")) return fs::path(env);
    return std::nullopt;
  }
  fs::path c = source_dir() / ".." / "shared" / "corpus";
  if (fs::exists(c / "MANIFEST.tsv")) return fs::weakly_canonical(c);
  return std::nullopt;
}

std::vector<CorpusPair> corpus_pairs(const fs::path& corpus) {
  std::ifstream f(corpus / "MANIFEST.tsv");
  std::string line;
  std::getline(f, line);  // column names
  std::vector<CorpusPair> pairs;
  std::string prev_series, prev_version;
  while (std::getline(f, line)) {
    std::istringstream row(line);
    std::string series, version;
    std::getline(row, series, '\t');
    std::getline(row, version, '\t');
    if (series.empty()) continue;
    if (series == prev_series)
      pairs.push_back({series, prev_version, version, corpus / series / (prev_version + ".bin"),
                       corpus / series / (version + ".bin")});
    prev_series = series;
    prev_version = version;
  }
  return pairs;
}

std::vector<uint8_t> read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + p.string());
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& p, const std::vector<uint8_t>& data) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

std::vector<uint8_t> synthetic_image(std::mt19937& rng, size_t size) {
  std::vector<uint8_t> img;
  img.reserve(size);
  std::uniform_int_distribution<int> kind(0, 9), byte(0, 255), run(16, 600);
  static const char* words[] = {"WiFi connected", "update", "firmware", "ESP32", "error: ",
                                "%s:%d", "http://", "brightness", "segment", "effect"};
  while (img.size() < size) {
    int k = kind(rng), n = run(rng);
    if (k < 5) {  // code-like: 3-byte instructions from a small opcode set
      for (int i = 0; i < n; i += 3) {
        img.push_back(static_cast<uint8_t>(0x20 + (byte(rng) & 0x0F)));
        img.push_back(static_cast<uint8_t>(byte(rng)));
        img.push_back(static_cast<uint8_t>(byte(rng) & 0x3F));
      }
    } else if (k < 7) {  // pointer table: 32-bit little-endian addresses
      uint32_t base = 0x3F400000u + static_cast<uint32_t>(byte(rng)) * 0x1000u;
      for (int i = 0; i < n / 4; ++i) {
        uint32_t v = base + static_cast<uint32_t>(byte(rng)) * 4u;
        for (int b = 0; b < 4; ++b) img.push_back(static_cast<uint8_t>(v >> (8 * b)));
      }
    } else if (k < 9) {  // strings
      for (int i = 0; i < n / 12; ++i) {
        const char* w = words[byte(rng) % 10];
        while (*w) img.push_back(static_cast<uint8_t>(*w++));
        img.push_back(0);
      }
    } else {  // padding
      img.insert(img.end(), static_cast<size_t>(n), byte(rng) < 128 ? 0x00 : 0xFF);
    }
  }
  img.resize(size);
  return img;
}

std::vector<uint8_t> mutate_image(std::mt19937& rng, const std::vector<uint8_t>& base,
                                  int edits) {
  std::vector<uint8_t> img = base;
  std::uniform_int_distribution<int> kind(0, 3), byte(0, 255), len(1, 400);
  for (int e = 0; e < edits && !img.empty(); ++e) {
    size_t at = std::uniform_int_distribution<size_t>(0, img.size() - 1)(rng);
    int n = len(rng);
    switch (kind(rng)) {
      case 0:  // overwrite
        for (int i = 0; i < n && at + i < img.size(); ++i) img[at + i] = static_cast<uint8_t>(byte(rng));
        break;
      case 1: {  // insert
        std::vector<uint8_t> ins(static_cast<size_t>(n));
        for (auto& b : ins) b = static_cast<uint8_t>(byte(rng));
        img.insert(img.begin() + static_cast<long>(at), ins.begin(), ins.end());
        break;
      }
      case 2:  // delete
        img.erase(img.begin() + static_cast<long>(at),
                  img.begin() + static_cast<long>(std::min(img.size(), at + static_cast<size_t>(n))));
        break;
      default:  // shift every aligned pointer-looking word in a window
        for (size_t i = at & ~size_t{3}; i + 4 <= img.size() && i < at + 4096; i += 4)
          if (img[i + 3] == 0x3F) img[i] = static_cast<uint8_t>(img[i] + 0x10);
        break;
    }
  }
  return img;
}

fs::path make_temp_dir(const std::string& tag) {
  std::string tmpl = (fs::temp_directory_path() / ("ota-" + tag + "-XXXXXX")).string();
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

}  // namespace ota::test
