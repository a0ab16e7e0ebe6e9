// The ESP32 application image validator: every corpus image is accepted with
// the chip, version and project its MANIFEST notes give; images built here
// are accepted; and each way a file can be wrong is refused with the right
// code and a reason naming it — truncations, corrupted bytes, bad headers,
// merged flash images, files that are not firmware at all — and 2,000 random
// mutations of a real image never crash and are never accepted.
#include "ota/server/esp_image.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using Code = EspImageErrorCode;

// ---- little-endian helpers and an image builder (independent of the validator) ----

uint32_t get32(const Bytes& d, size_t at) {
  return static_cast<uint32_t>(d[at]) | (static_cast<uint32_t>(d[at + 1]) << 8) |
         (static_cast<uint32_t>(d[at + 2]) << 16) | (static_cast<uint32_t>(d[at + 3]) << 24);
}
void put16(Bytes& d, size_t at, uint16_t v) {
  d[at] = static_cast<uint8_t>(v);
  d[at + 1] = static_cast<uint8_t>(v >> 8);
}
void put32(Bytes& d, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) d[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
}

std::array<uint8_t, 32> sha256_of(const uint8_t* p, size_t n) {
  std::array<uint8_t, 32> out{};
  unsigned len = 0;
  EVP_Digest(p, n, out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

// Offsets of the segment headers, the checksum byte and the image length
// (before the SHA-256), walked the way the format describes.
struct Layout {
  std::vector<size_t> segment_headers;
  size_t checksum_at = 0;
  size_t image_len = 0;
};
Layout layout_of(const Bytes& img) {
  Layout l;
  size_t pos = 24;
  for (unsigned i = 0; i < img[1]; ++i) {
    l.segment_headers.push_back(pos);
    pos += 8 + get32(img, pos + 4);
  }
  l.checksum_at = pos + (15 - pos % 16);
  l.image_len = l.checksum_at + 1;
  return l;
}

// Recomputes the checksum byte and the appended SHA-256 after an edit, so a
// test reaches the check it is aimed at.
void reseal(Bytes& img) {
  Layout l = layout_of(img);
  uint8_t sum = 0xEF;
  for (size_t h : l.segment_headers)
    for (size_t i = 0; i < get32(img, h + 4); ++i) sum ^= img[h + 8 + i];
  img[l.checksum_at] = sum;
  if (img[23] == 1) {
    auto d = sha256_of(img.data(), l.image_len);
    std::copy(d.begin(), d.end(), img.begin() + static_cast<long>(l.image_len));
  }
}

struct SegSpec {
  uint32_t addr;
  Bytes data;
};

// header + extended header + segments + zero padding + checksum (+ SHA-256)
Bytes build_image(uint16_t chip_id, uint32_t entry, const std::vector<SegSpec>& segs, bool sha = true) {
  Bytes img(24, 0);
  img[0] = 0xE9;
  img[1] = static_cast<uint8_t>(segs.size());
  img[2] = 0x02;  // DIO
  img[3] = 0x20;  // 4 MB, 40 MHz
  put32(img, 4, entry);
  img[8] = 0xEE;  // WP pin disabled
  put16(img, 12, chip_id);
  put16(img, 17, 0xFFFF);  // no maximum chip revision
  img[23] = sha ? 1 : 0;
  for (const SegSpec& s : segs) {
    size_t h = img.size();
    img.resize(h + 8);
    put32(img, h, s.addr);
    put32(img, h + 4, static_cast<uint32_t>(s.data.size()));
    img.insert(img.end(), s.data.begin(), s.data.end());
  }
  img.resize((img.size() | 15) + 1, 0);
  if (sha) img.resize(img.size() + 32, 0);
  reseal(img);
  return img;
}

// esp_app_desc_t: magic, secure_version, reserved, then the strings and the ELF SHA-256.
Bytes app_desc(const std::string& version, const std::string& project, const std::string& time = "12:34:56",
               const std::string& date = "Jan  1 2024", const std::string& idf = "v5.1.2") {
  Bytes d(256, 0);
  put32(d, 0, 0xABCD5432);
  put32(d, 4, 7);
  auto put_str = [&](size_t at, size_t max, const std::string& s) {
    std::memcpy(d.data() + at, s.data(), std::min(s.size(), max));
  };
  put_str(16, 32, version);
  put_str(48, 32, project);
  put_str(80, 16, time);
  put_str(96, 16, date);
  put_str(112, 32, idf);
  for (size_t i = 0; i < 32; ++i) d[144 + i] = static_cast<uint8_t>(0xA0 + i);
  return d;
}

Bytes filler(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7);
  return b;
}

// A minimal valid ESP32 application: DROM segment starting with the app
// descriptor, an IROM segment placed on its 64 KiB page offset, an IRAM
// segment holding the entry point; checksum and SHA-256.
Bytes minimal_esp32_app(bool sha = true) {
  Bytes drom = app_desc("1.2.3", "synthetic-app");
  Bytes more = filler(64, 1);
  drom.insert(drom.end(), more.begin(), more.end());
  // DROM data at file 0x20, 0x140 bytes -> IROM header at 0x160, data at 0x168.
  const uint32_t irom_data_offset = 0x20 + static_cast<uint32_t>(drom.size()) + 8;
  return build_image(0x0000, 0x40080010,
                     {{0x3F400020, drom}, {0x400D0000 + irom_data_offset, filler(128, 2)},
                      {0x40080000, filler(64, 3)}},
                     sha);
}

Bytes minimal_c3_app() {
  Bytes drom = app_desc("0.1.0-c3", "c3-app");
  return build_image(0x0005, 0x40380004, {{0x3C000020, drom}, {0x40380000, filler(32, 4)}});
}

// A bootloader-like image: RAM segments only, no app descriptor.
Bytes bootloader_like(uint16_t chip_id) {
  if (chip_id == 0x0005)
    return build_image(chip_id, 0x403CE010, {{0x3FCD5000, filler(0x400, 5)}, {0x403CE000, filler(0x1800, 6)}});
  return build_image(chip_id, 0x40078010,
                     {{0x3FFF0000, filler(0x300, 5)}, {0x40078000, filler(0x2000, 6)}, {0x40080400, filler(0x1000, 7)}});
}

// A partition table as gen_esp32part writes it: 32-byte entries with magic
// 0x50AA, then the MD5 entry (0xEBEB), then erased flash.
Bytes partition_table() {
  Bytes t(0xC00, 0xFF);
  struct E {
    uint8_t type, subtype;
    uint32_t offset, size;
    const char* label;
  };
  const E entries[] = {{0x01, 0x02, 0x9000, 0x5000, "nvs"},
                       {0x01, 0x00, 0xE000, 0x2000, "otadata"},
                       {0x00, 0x10, 0x10000, 0x140000, "app0"},
                       {0x00, 0x11, 0x150000, 0x140000, "app1"},
                       {0x01, 0x82, 0x290000, 0x170000, "spiffs"}};
  size_t at = 0;
  for (const E& e : entries) {
    t[at] = 0xAA;
    t[at + 1] = 0x50;
    t[at + 2] = e.type;
    t[at + 3] = e.subtype;
    put32(t, at + 4, e.offset);
    put32(t, at + 8, e.size);
    std::fill(t.begin() + static_cast<long>(at + 12), t.begin() + static_cast<long>(at + 28), 0);
    std::memcpy(t.data() + at + 12, e.label, std::strlen(e.label));
    put32(t, at + 28, 0);
    at += 32;
  }
  t[at] = 0xEB;
  t[at + 1] = 0xEB;
  for (size_t i = 0; i < 16; ++i) t[at + 16 + i] = static_cast<uint8_t>(0x11 * i);
  return t;
}

// bootloader at `boot_at`, partition table at `table_at`, app at `app_at`,
// erased flash (0xFF) between and after, as `esptool merge_bin` lays it out.
Bytes merged_image(const Bytes& boot, size_t boot_at, size_t table_at, const Bytes& app, size_t app_at) {
  Bytes m(app_at + app.size(), 0xFF);
  std::copy(boot.begin(), boot.end(), m.begin() + static_cast<long>(boot_at));
  Bytes t = partition_table();
  std::copy(t.begin(), t.end(), m.begin() + static_cast<long>(table_at));
  std::copy(app.begin(), app.end(), m.begin() + static_cast<long>(app_at));
  m.resize((m.size() + 0xFFF) & ~size_t{0xFFF}, 0xFF);
  return m;
}

// ---- corpus ----

struct CorpusImage {
  std::string series, version, notes;
  uint16_t chip_id;
  fs::path path;
};

std::vector<CorpusImage> corpus_images(const fs::path& corpus) {
  std::ifstream f(corpus / "MANIFEST.tsv");
  std::string line;
  std::getline(f, line);  // column names
  std::vector<CorpusImage> out;
  while (std::getline(f, line)) {
    std::vector<std::string> col;
    std::istringstream row(line);
    for (std::string c; std::getline(row, c, '\t');) col.push_back(c);
    if (col.size() < 10 || col[0].empty()) continue;
    out.push_back({col[0], col[1], col[9], static_cast<uint16_t>(std::stoul(col[8])),
                   corpus / col[0] / (col[1] + ".bin")});
  }
  return out;
}

// The text between `key` and the next `until` in a MANIFEST note
// ("app_desc: ver=... proj=... built=... idf=...").
std::string note_field(const std::string& notes, const std::string& key, const std::string& until) {
  size_t a = notes.find(key);
  if (a == std::string::npos) return "<missing " + key + ">";
  a += key.size();
  size_t b = until.empty() ? std::string::npos : notes.find(until, a);
  return notes.substr(a, b == std::string::npos ? std::string::npos : b - a);
}

// One real image (the first of the corpus), or nullopt without a corpus.
std::optional<Bytes> real_image(size_t index = 0) {
  auto corpus = test::corpus_dir();
  if (!corpus) return std::nullopt;
  auto images = corpus_images(*corpus);
  if (images.size() <= index) return std::nullopt;
  return test::read_file(images[index].path);
}

// ---- assertion helpers ----

::testing::AssertionResult Accepted(const Bytes& img) {
  auto r = inspect_esp_app_image(img);
  if (r.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "refused (" << esp_image_error_code_name(r.error().code)
                                       << " at 0x" << std::hex << r.error().offset
                                       << "): " << r.error().reason;
}

::testing::AssertionResult Refused(const Bytes& img, Code code, const std::string& needle = "") {
  auto r = inspect_esp_app_image(img);
  if (r.ok()) return ::testing::AssertionFailure() << "accepted, expected " << esp_image_error_code_name(code);
  const EspImageError& e = r.error();
  if (e.code != code)
    return ::testing::AssertionFailure() << "refused as " << esp_image_error_code_name(e.code) << ", expected "
                                         << esp_image_error_code_name(code) << ": " << e.reason;
  if (e.reason.empty()) return ::testing::AssertionFailure() << "empty reason";
  if (!needle.empty() && e.reason.find(needle) == std::string::npos)
    return ::testing::AssertionFailure() << "reason lacks \"" << needle << "\": " << e.reason;
  return ::testing::AssertionSuccess();
}

// ---- acceptance ----

TEST(EspImageCorpus, EveryImageIsAcceptedWithItsManifestFacts) {
  auto corpus = test::corpus_dir();
  if (!corpus) GTEST_SKIP() << "no corpus: set OTA_CORPUS or place ../shared/corpus beside the repo";
  auto images = corpus_images(*corpus);
  ASSERT_EQ(images.size(), 43u);
  for (const CorpusImage& c : images) {
    SCOPED_TRACE(c.series + " " + c.version);
    Bytes img = test::read_file(c.path);
    auto r = inspect_esp_app_image(img);
    ASSERT_TRUE(r.ok()) << r.error().reason;
    const EspAppInfo& info = r.info();
    EXPECT_EQ(info.chip_id, c.chip_id);
    EXPECT_EQ(info.chip_name, c.chip_id == 0 ? "ESP32" : "ESP32-C3");
    EXPECT_TRUE(info.chip_memory_map_known);
    EXPECT_EQ(info.version, note_field(c.notes, "ver=", " proj="));
    EXPECT_EQ(info.project_name, note_field(c.notes, "proj=", " built="));
    EXPECT_EQ(info.build_date + " " + info.build_time, note_field(c.notes, "built=", " idf="));
    EXPECT_EQ(info.idf_version, note_field(c.notes, "idf=", ""));
    EXPECT_TRUE(info.has_appended_sha256);  // the notes say "appended SHA-256 OK" for all
    EXPECT_EQ(info.image_size + info.trailing_padding, img.size());
    ASSERT_FALSE(info.segments.empty());
    EXPECT_EQ(info.segments.front().kind, EspSegmentKind::kDrom);
    EXPECT_EQ(info.segments.front().file_offset, 0x20u);
    EXPECT_TRUE(std::any_of(info.segments.begin(), info.segments.end(),
                            [](const EspSegment& s) { return s.kind == EspSegmentKind::kIrom; }));
    for (const EspSegment& s : info.segments) EXPECT_NE(s.kind, EspSegmentKind::kUnknown);
    EXPECT_EQ(std::vector<uint8_t>(info.appended_sha256.begin(), info.appended_sha256.end()),
              Bytes(img.begin() + static_cast<long>(info.image_size) - 32,
                    img.begin() + static_cast<long>(info.image_size)));
  }
}

TEST(EspImageSynthetic, MinimalEsp32AppIsAccepted) {
  Bytes img = minimal_esp32_app();
  auto r = inspect_esp_app_image(img);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  const EspAppInfo& i = r.info();
  EXPECT_EQ(i.chip_id, 0);
  EXPECT_EQ(i.chip_name, "ESP32");
  EXPECT_EQ(i.entry_address, 0x40080010u);
  EXPECT_EQ(i.version, "1.2.3");
  EXPECT_EQ(i.project_name, "synthetic-app");
  EXPECT_EQ(i.build_time, "12:34:56");
  EXPECT_EQ(i.build_date, "Jan  1 2024");
  EXPECT_EQ(i.idf_version, "v5.1.2");
  EXPECT_EQ(i.secure_version, 7u);
  EXPECT_EQ(i.app_elf_sha256[0], 0xA0);
  EXPECT_EQ(i.app_elf_sha256[31], 0xA0 + 31);
  EXPECT_TRUE(i.has_appended_sha256);
  EXPECT_EQ(i.image_size, img.size());
  EXPECT_EQ(i.image_size % 16, 0u);
  ASSERT_EQ(i.segments.size(), 3u);
  EXPECT_EQ(i.segments[0].kind, EspSegmentKind::kDrom);
  EXPECT_EQ(i.segments[1].kind, EspSegmentKind::kIrom);
  EXPECT_TRUE(i.segments[1].flash_mapped());
  EXPECT_EQ(i.segments[2].kind, EspSegmentKind::kIram);
  EXPECT_EQ(i.segments[1].file_offset, 0x168u);
  EXPECT_EQ(i.segments[1].load_address, 0x400D0168u);
}

TEST(EspImageSynthetic, VariantsAreAccepted) {
  // Without the appended SHA-256 (esptool --dont-append-digest).
  Bytes no_sha = minimal_esp32_app(false);
  auto r = inspect_esp_app_image(no_sha);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_FALSE(r.info().has_appended_sha256);
  // ESP32-C3.
  r = inspect_esp_app_image(minimal_c3_app());
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r.info().chip_name, "ESP32-C3");
  EXPECT_EQ(r.info().version, "0.1.0-c3");
  // Followed by 0xFF padding (esptool --pad-to-size, a partition dump).
  Bytes padded = minimal_esp32_app();
  const size_t image_size = padded.size();
  padded.resize(image_size + 5000, 0xFF);
  r = inspect_esp_app_image(padded);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r.info().image_size, image_size);
  EXPECT_EQ(r.info().trailing_padding, 5000u);
  // A chip whose memory map we do not know: structural checks only.
  Bytes c6 = build_image(0x000D, 0x40800010,
                         {{0x42000020, app_desc("9.9", "c6-app")}, {0x40800000, filler(32, 9)}});
  r = inspect_esp_app_image(c6);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r.info().chip_name, "ESP32-C6");
  EXPECT_FALSE(r.info().chip_memory_map_known);
  EXPECT_EQ(r.info().segments[0].kind, EspSegmentKind::kUnknown);
  Bytes odd = build_image(0x7777, 0x1000, {{0x1000, app_desc("1", "x")}});
  r = inspect_esp_app_image(odd);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r.info().chip_name, "unknown (30583)");
  // esptool's alignment padding segments (load address 0) and zero-length
  // segments are legal; so is an unaligned RTC segment (seen in AWTRIX 0.89+).
  Bytes drom = app_desc("2.0", "padded");
  Bytes pad_seg = build_image(0x0000, 0x40080000,
                              {{0x3F400020, drom}, {0x00000000, Bytes(64, 0)}, {0x3FF80067, Bytes(8, 1)},
                               {0x3FFB0000, Bytes{}}, {0x40080000, filler(16, 1)}});
  EXPECT_TRUE(Accepted(pad_seg));
  // Empty strings (CONFIG_APP_EXCLUDE_PROJECT_VER_VAR) and a full-width version.
  EXPECT_TRUE(Accepted(build_image(0x0005, 0x40380000,
                                   {{0x3C000020, app_desc("", "")}, {0x40380000, filler(4, 1)}})));
  EXPECT_TRUE(Accepted(build_image(0x0005, 0x40380000,
                                   {{0x3C000020, app_desc(std::string(32, 'v'), "p")}, {0x40380000, filler(4, 1)}})));
}

// ---- refusals: files that are not images ----

TEST(EspImageRefusal, EmptyAndTiny) {
  EXPECT_TRUE(Refused({}, Code::kEmpty, "empty"));
  EXPECT_TRUE(Refused({0xE9}, Code::kTruncated, "1 byte"));
  EXPECT_TRUE(Refused({0x00}, Code::kBadMagic, "0xE9"));
  EXPECT_TRUE(Refused({0xE9, 0x05, 0x02}, Code::kTruncated, "24-byte image header"));
}

TEST(EspImageRefusal, ForeignFiles) {
  std::mt19937 rng(20240601);
  Bytes random(1 << 20);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  random[0] = 0x5A;
  EXPECT_TRUE(Refused(random, Code::kBadMagic, "byte 0 is 0x5A"));
  random[0] = 0xE9;  // random bytes behind a correct magic are still refused
  EXPECT_FALSE(inspect_esp_app_image(random).ok());

  const std::string text = "Hello, this is a README.\nVersion 1.0\n";
  EXPECT_TRUE(Refused(Bytes(text.begin(), text.end()), Code::kBadMagic, "text file"));
  const std::string html = "<!DOCTYPE html><html><body>404 Not Found</body></html>";
  EXPECT_TRUE(Refused(Bytes(html.begin(), html.end()), Code::kBadMagic, "HTML"));

  Bytes gzip = {0x1F, 0x8B, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03};
  for (int i = 0; i < 1000; ++i) gzip.push_back(static_cast<uint8_t>(rng()));
  EXPECT_TRUE(Refused(gzip, Code::kBadMagic, "gzip"));

  Bytes elf = {0x7F, 'E', 'L', 'F', 1, 1, 1, 0};
  elf.resize(4096, 0);
  EXPECT_TRUE(Refused(elf, Code::kBadMagic, "ELF"));

  Bytes table = partition_table();
  EXPECT_TRUE(Refused(table, Code::kBadMagic, "partition table"));
}

TEST(EspImageRefusal, BootloaderAloneIsNotAnApplication) {
  EXPECT_TRUE(Refused(bootloader_like(0x0000), Code::kNotAnApplication, "bootloader"));
  EXPECT_TRUE(Refused(bootloader_like(0x0005), Code::kNotAnApplication, "bootloader"));
}

// ---- refusals: merged flash images ----

TEST(EspImageMerged, FactoryImagesAreRecognised) {
  const std::string hint = "this looks like a merged flash image; upload the application binary";
  Bytes esp32_app = minimal_esp32_app();
  Bytes c3_app = minimal_c3_app();
  auto real = real_image(0);                                   // ESP32
  auto real_c3 = real_image(14);                               // ESP32-C3
  if (real) esp32_app = *real;
  if (real_c3) c3_app = *real_c3;

  // ESP32, file = flash from 0x0: erased 0x0-0x1000, bootloader at 0x1000,
  // partition table at 0x8000, application at 0x10000.
  Bytes a = merged_image(bootloader_like(0x0000), 0x1000, 0x8000, esp32_app, 0x10000);
  EXPECT_TRUE(Refused(a, Code::kMergedFlashImage, hint));
  EXPECT_TRUE(Refused(a, Code::kMergedFlashImage, "partition table at offset 0x8000"));
  EXPECT_TRUE(Refused(a, Code::kMergedFlashImage, "application image at offset 0x10000"));

  // ESP32-C3 (bootloader at flash 0x0): the file starts with the
  // bootloader's own valid 0xE9 image.
  Bytes b = merged_image(bootloader_like(0x0005), 0x0, 0x8000, c3_app, 0x10000);
  EXPECT_TRUE(Refused(b, Code::kMergedFlashImage, hint));
  EXPECT_TRUE(Refused(b, Code::kMergedFlashImage, "application image at offset 0x10000"));

  // ESP32, file = flash from 0x1000 (bootloader at file 0): everything shifted.
  Bytes c = merged_image(bootloader_like(0x0000), 0x0, 0x7000, esp32_app, 0xF000);
  EXPECT_TRUE(Refused(c, Code::kMergedFlashImage, "partition table at offset 0x7000"));
  EXPECT_TRUE(Refused(c, Code::kMergedFlashImage, "application image at offset 0xF000"));

  // Bootloader + application without a partition table still reads as merged.
  Bytes d = merged_image(bootloader_like(0x0005), 0x0, 0x8000, c3_app, 0x10000);
  std::fill(d.begin() + 0x8000, d.begin() + 0x9000, 0xFF);
  EXPECT_TRUE(Refused(d, Code::kMergedFlashImage, hint));

  // The application cut out of the merged image is accepted.
  EXPECT_TRUE(Accepted(Bytes(a.begin() + 0x10000, a.begin() + 0x10000 + static_cast<long>(esp32_app.size()))));
}

// ---- refusals: damaged real images ----

class EspImageDamage : public ::testing::Test {
 protected:
  void SetUp() override {
    auto real = real_image(0);
    img_ = real ? *real : minimal_esp32_app();
    from_corpus_ = real.has_value();
    ASSERT_TRUE(Accepted(img_));
    layout_ = layout_of(img_);
  }
  Bytes img_;
  bool from_corpus_ = false;
  Layout layout_;
};

TEST_F(EspImageDamage, WrongMagic) {
  img_[0] = 0xE8;
  EXPECT_TRUE(Refused(img_, Code::kBadMagic, "byte 0 is 0xE8"));
}

TEST_F(EspImageDamage, TruncatedEvery997thByteAndInsideEveryHeader) {
  std::vector<size_t> cuts;
  for (size_t n = 997; n < img_.size(); n += 997) cuts.push_back(n);
  for (size_t n = 1; n < 24; ++n) cuts.push_back(n);
  for (size_t h : layout_.segment_headers)
    for (size_t n = h; n <= h + 8; ++n) cuts.push_back(n);
  for (size_t n = layout_.image_len - 16; n < img_.size(); ++n) cuts.push_back(n);  // padding, checksum, SHA
  for (size_t n : cuts) {
    std::span<const uint8_t> cut(img_.data(), n);
    auto r = inspect_esp_app_image(cut);
    ASSERT_FALSE(r.ok()) << "accepted a " << n << "-byte prefix";
    EXPECT_EQ(r.error().code, Code::kTruncated) << n << ": " << r.error().reason;
    EXPECT_NE(r.error().reason.find("truncated"), std::string::npos) << r.error().reason;
  }
  EXPECT_TRUE(Refused(Bytes(img_.begin(), img_.begin() + static_cast<long>(layout_.image_len)),
                      Code::kTruncated, "SHA-256"));
}

TEST_F(EspImageDamage, FlippedSegmentByteFailsTheChecksum) {
  const size_t h = layout_.segment_headers.back();
  img_[h + 8 + get32(img_, h + 4) / 2] ^= 0x40;
  EXPECT_TRUE(Refused(img_, Code::kBadChecksum, "checksum mismatch"));
}

TEST_F(EspImageDamage, ChecksumNeutralFlipsFailTheSha256) {
  // Two flips of the same bit cancel in the XOR checksum; SHA-256 still sees them.
  const size_t h = layout_.segment_headers.front();
  img_[h + 8 + 300] ^= 0x10;
  img_[h + 8 + 304] ^= 0x10;
  EXPECT_TRUE(Refused(img_, Code::kBadSha256, "SHA-256 mismatch"));
}

TEST_F(EspImageDamage, FlippedByteInTheAppendedSha256) {
  img_[layout_.image_len + 17] ^= 0x01;
  EXPECT_TRUE(Refused(img_, Code::kBadSha256, "SHA-256 mismatch"));
}

TEST_F(EspImageDamage, HeaderBytesAreCoveredByTheSha256) {
  img_[2] ^= 0x01;  // flash mode: not in the checksum, but in the SHA-256
  EXPECT_TRUE(Refused(img_, Code::kBadSha256));
}

TEST_F(EspImageDamage, ChecksumByteItself) {
  img_[layout_.checksum_at] ^= 0xFF;
  EXPECT_TRUE(Refused(img_, Code::kBadChecksum, "checksum mismatch"));
}

TEST_F(EspImageDamage, SegmentCount0And17) {
  img_[1] = 0;
  EXPECT_TRUE(Refused(img_, Code::kBadHeader, "segment count (byte 1) is 0"));
  img_[1] = 17;
  EXPECT_TRUE(Refused(img_, Code::kBadHeader, "segment count (byte 1) is 17"));
}

TEST_F(EspImageDamage, SegmentLengthRunningPastTheEnd) {
  put32(img_, layout_.segment_headers.back() + 4, 0x00FFFFF0);
  EXPECT_TRUE(Refused(img_, Code::kTruncated, "runs past the end"));
}

TEST_F(EspImageDamage, SegmentLengthOver16MB) {
  put32(img_, layout_.segment_headers.front() + 4, 0xFFFFFFFC);
  EXPECT_TRUE(Refused(img_, Code::kBadSegment, "16 MB"));
}

TEST_F(EspImageDamage, SegmentLengthNotAMultipleOf4) {
  const size_t h = layout_.segment_headers[1];
  put32(img_, h + 4, get32(img_, h + 4) - 2);
  EXPECT_TRUE(Refused(img_, Code::kBadSegment, "not a multiple of 4"));
}

TEST_F(EspImageDamage, LoadAddressOutsideTheMemoryMap) {
  put32(img_, layout_.segment_headers.back(), 0x20000000);
  EXPECT_TRUE(Refused(img_, Code::kBadLoadAddress, "not inside any ESP32 memory region"));
}

TEST_F(EspImageDamage, FlashMappingOffByFourBytes) {
  put32(img_, layout_.segment_headers.front(), 0x3F400024);
  EXPECT_TRUE(Refused(img_, Code::kBadLoadAddress, "64 KiB"));
}

TEST_F(EspImageDamage, HeaderFields) {
  Bytes a = img_;
  a[23] = 2;
  EXPECT_TRUE(Refused(a, Code::kBadHeader, "byte 23"));
  Bytes b = img_;
  put16(b, 12, 0xFFFF);
  EXPECT_TRUE(Refused(b, Code::kBadHeader, "ESP_CHIP_ID_INVALID"));
  Bytes c = img_;
  put16(c, 15, 300);
  put16(c, 17, 199);
  EXPECT_TRUE(Refused(c, Code::kBadHeader, "v3.0 is above the maximum"));
  Bytes d = img_;
  d[23] = 0;  // no hash: the 32 digest bytes become trailing data
  EXPECT_TRUE(Refused(d, Code::kTrailingData, "unexpected data after the end of the image"));
}

TEST_F(EspImageDamage, AppDescriptorWithAWrongMagic) {
  img_[0x20] ^= 0x01;
  reseal(img_);  // so the descriptor check, not the checksum, is reached
  EXPECT_TRUE(Refused(img_, Code::kBadAppDescriptor, "0xABCD5432"));
}

TEST_F(EspImageDamage, AppDescriptorWithANonPrintableVersion) {
  img_[0x20 + 16] = 0x07;
  reseal(img_);
  EXPECT_TRUE(Refused(img_, Code::kBadAppDescriptor, "'version'"));
  Bytes b = img_;
  b[0x20 + 16] = 'x';
  b[0x20 + 48 + 1] = 0xC3;  // project_name
  reseal(b);
  EXPECT_TRUE(Refused(b, Code::kBadAppDescriptor, "'project_name'"));
}

TEST_F(EspImageDamage, EntryPointOutsideTheSegments) {
  put32(img_, 4, 0x40000400);
  reseal(img_);
  EXPECT_TRUE(Refused(img_, Code::kBadEntryPoint, "entry point 0x40000400"));
}

TEST_F(EspImageDamage, TrailingDataIsRefusedAndErasedFlashIsNot) {
  Bytes ff = img_;
  ff.resize(ff.size() + 65536, 0xFF);
  EXPECT_TRUE(Accepted(ff));
  Bytes junk = img_;
  for (char c : std::string("hello")) junk.push_back(static_cast<uint8_t>(c));
  EXPECT_TRUE(Refused(junk, Code::kTrailingData, "only 0xFF padding"));
  Bytes twice = img_;
  twice.insert(twice.end(), img_.begin(), img_.end());
  EXPECT_TRUE(Refused(twice, Code::kTrailingData));
}

// 2,000 random mutations of a real image (the synthetic one without a
// corpus): never a crash (run this under ASan/UBSan), and — since the image carries a SHA-256 over every byte — a
// mutated image is accepted only when the mutation changed nothing.
TEST_F(EspImageDamage, RandomMutationsNeverCrashAndAreNeverAccepted) {
  RecordProperty("image", from_corpus_ ? "corpus" : "synthetic (no corpus)");
  const Bytes original = img_;
  std::mt19937 rng(0xE5B32);
  auto pick = [&](size_t lo, size_t hi) { return std::uniform_int_distribution<size_t>(lo, hi)(rng); };
  std::vector<size_t> hot;  // header bytes, segment headers, checksum, digest
  for (size_t i = 0; i < 24; ++i) hot.push_back(i);
  for (size_t h : layout_.segment_headers)
    for (size_t i = 0; i < 8; ++i) hot.push_back(h + i);
  for (size_t i = layout_.checksum_at; i < img_.size(); ++i) hot.push_back(i);
  for (size_t i = 0x20; i < 0x20 + 256; ++i) hot.push_back(i);
  const uint32_t extremes[] = {0, 3, 4, 0xFFFFFFFF, 0xFFFFFFFC, 0x00FFFFFC, 0x01000000, 0x7FFFFFFC,
                               0x3F400020, 0x400D0018, 0x40080000};
  int accepted = 0, kinds[16] = {};
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<std::pair<size_t, uint8_t>> saved;
    auto set = [&](size_t at, uint8_t v) {
      if (at >= img_.size()) return;
      saved.emplace_back(at, img_[at]);
      img_[at] = v;
    };
    const int edits = static_cast<int>(pick(1, 4));
    for (int e = 0; e < edits; ++e) {
      switch (pick(0, 4)) {
        case 0: set(pick(0, img_.size() - 1), static_cast<uint8_t>(rng())); break;
        case 1: set(hot[pick(0, hot.size() - 1)], static_cast<uint8_t>(rng())); break;
        case 2: {  // an extreme or random 32-bit value in a segment header field
          size_t at = layout_.segment_headers[pick(0, layout_.segment_headers.size() - 1)] + 4 * pick(0, 1);
          uint32_t v = pick(0, 1) ? extremes[pick(0, std::size(extremes) - 1)] : static_cast<uint32_t>(rng());
          for (int b = 0; b < 4; ++b) set(at + static_cast<size_t>(b), static_cast<uint8_t>(v >> (8 * b)));
          break;
        }
        case 3: set(1, static_cast<uint8_t>(pick(0, 20))); break;  // segment count
        default: {  // one bit of the header or the start of the descriptor
          size_t at = pick(0, 0x40);
          set(at, static_cast<uint8_t>(img_[at] ^ (1u << pick(0, 7))));
          break;
        }
      }
    }
    // Half of the time, also cut the file short.
    size_t len = img_.size();
    if (pick(0, 1)) len = pick(0, img_.size() - 1);
    auto r = inspect_esp_app_image(std::span<const uint8_t>(img_.data(), len));
    if (r.ok()) {
      ++accepted;
      EXPECT_EQ(len, original.size());
      EXPECT_TRUE(img_ == original) << "iteration " << iter << ": a changed image was accepted";
    } else {
      EXPECT_FALSE(r.error().reason.empty());
      ++kinds[static_cast<int>(r.error().code)];
    }
    for (auto it = saved.rbegin(); it != saved.rend(); ++it) img_[it->first] = it->second;
  }
  ASSERT_TRUE(img_ == original);
  std::ostringstream summary;
  for (int k = 0; k < 16; ++k)
    if (kinds[k]) summary << esp_image_error_code_name(static_cast<Code>(k)) << "=" << kinds[k] << " ";
  RecordProperty("refusals", summary.str());
  RecordProperty("accepted_unchanged", accepted);
}

TEST(EspImageNames, ChipAndCodeNames) {
  EXPECT_EQ(esp_chip_name(0), "ESP32");
  EXPECT_EQ(esp_chip_name(2), "ESP32-S2");
  EXPECT_EQ(esp_chip_name(5), "ESP32-C3");
  EXPECT_EQ(esp_chip_name(9), "ESP32-S3");
  EXPECT_EQ(esp_chip_name(0x1234), "unknown (4660)");
  EXPECT_EQ(esp_image_error_code_name(Code::kMergedFlashImage), "merged_flash_image");
  EXPECT_EQ(esp_segment_kind_name(EspSegmentKind::kIrom), "IROM");
}

}  // namespace
}  // namespace ota::server

namespace ota::server {
namespace {

// The shared test builder (tests/support) makes images the validator accepts.
TEST(EspImageSupport, SyntheticAppFromTestSupportIsValid) {
  std::vector<uint8_t> code(100000);
  for (size_t i = 0; i < code.size(); ++i) code[i] = static_cast<uint8_t>(i * 13 + (i >> 9));
  auto img = ota::test::synthetic_esp32_app("2.0.1", "demo-app", code);
  auto r = inspect_esp_app_image(img);
  ASSERT_TRUE(r.ok()) << r.error().reason;
  EXPECT_EQ(r.info().version, "2.0.1");
  EXPECT_EQ(r.info().project_name, "demo-app");
  EXPECT_EQ(r.info().chip_id, 0);
}

}  // namespace
}  // namespace ota::server
