// Synthetic firmware: see fwgen.h.
#include "fwgen.h"

#include <openssl/evp.h>

#include <algorithm>
#include <stdexcept>

namespace ota::fwgen {

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

namespace {

void put_le(std::vector<uint8_t>& d, size_t at, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) d[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

std::vector<uint8_t> synthetic_esp32_app(const std::string& version, const std::string& project,
                                         const std::vector<uint8_t>& code, uint16_t chip_id) {
  // Where each segment loads: DROM, IROM (both flash-mapped), IRAM.
  struct Map {
    uint32_t drom, irom, iram;
  };
  if (chip_id != 0 && chip_id != 5) throw std::invalid_argument("synthetic_esp32_app: chip 0 or 5");
  const Map map = chip_id == 5 ? Map{0x3C000000u, 0x42000000u, 0x40380000u}
                               : Map{0x3F400000u, 0x400D0000u, 0x40080000u};
  // esp_app_desc_t: magic, secure_version, reserved, version[32],
  // project_name[32], time[16], date[16], idf_ver[32], app_elf_sha256[32].
  std::vector<uint8_t> drom(256, 0);
  put_le(drom, 0, 0xABCD5432u, 4);
  std::copy_n(version.begin(), std::min<size_t>(version.size(), 31), drom.begin() + 16);
  std::copy_n(project.begin(), std::min<size_t>(project.size(), 31), drom.begin() + 48);
  const std::string time = "12:00:00", date = "Nov 25 2026", idf = "v5.1.2";
  std::copy(time.begin(), time.end(), drom.begin() + 80);
  std::copy(date.begin(), date.end(), drom.begin() + 96);
  std::copy(idf.begin(), idf.end(), drom.begin() + 112);
  std::vector<uint8_t> irom = code;
  irom.resize((irom.size() + 3) & ~size_t{3}, 0);
  std::vector<uint8_t> iram(64, 0x55);

  std::vector<uint8_t> img(24, 0);
  img[0] = 0xE9;
  img[1] = 3;
  img[2] = 0x02;
  img[3] = 0x20;
  put_le(img, 4, map.iram + 0x10, 4);  // entry inside IRAM
  img[8] = 0xEE;
  put_le(img, 12, chip_id, 2);      // chip id
  put_le(img, 17, 0xFFFF, 2);       // no maximum chip revision
  img[23] = 1;                      // SHA-256 appended
  auto segment = [&](uint32_t addr, const std::vector<uint8_t>& data) {
    size_t h = img.size();
    img.resize(h + 8);
    put_le(img, h, addr, 4);
    put_le(img, h + 4, static_cast<uint32_t>(data.size()), 4);
    img.insert(img.end(), data.begin(), data.end());
  };
  segment(map.drom + 0x20, drom);
  // A flash-mapped segment's load address matches its file offset modulo 64 KiB.
  uint32_t irom_file_offset = static_cast<uint32_t>(img.size()) + 8;
  segment(map.irom + irom_file_offset, irom);
  segment(map.iram, iram);
  uint8_t sum = 0xEF;
  for (uint8_t b : drom) sum ^= b;
  for (uint8_t b : irom) sum ^= b;
  for (uint8_t b : iram) sum ^= b;
  img.resize((img.size() | 15) + 1, 0);
  img.back() = sum;
  unsigned len = 0;
  std::vector<uint8_t> digest(32);
  EVP_Digest(img.data(), img.size(), digest.data(), &len, EVP_sha256(), nullptr);
  img.insert(img.end(), digest.begin(), digest.end());
  return img;
}

}  // namespace ota::fwgen
