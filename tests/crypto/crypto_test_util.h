// Helpers for the crypto tests: hex, scratch directories, external commands.
#ifndef OTA_TESTS_CRYPTO_TEST_UTIL_H
#define OTA_TESTS_CRYPTO_TEST_UTIL_H

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace ota::crypto_test {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

template <typename Range>
std::string hex(const Range& r) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t b : r) {
    s += digits[b >> 4];
    s += digits[b & 15];
  }
  return s;
}

inline Bytes unhex(const std::string& s) {
  Bytes out;
  for (size_t i = 0; i + 1 < s.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  }
  return out;
}

// Deterministic bytes for test inputs.
inline Bytes pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) : path_(ota::test::make_temp_dir(tag)) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

// Runs a shell command; true when it exits with status 0.
inline bool run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void spit(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace ota::crypto_test

#endif  // OTA_TESTS_CRYPTO_TEST_UTIL_H
