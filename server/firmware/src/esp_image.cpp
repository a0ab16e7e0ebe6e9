// ESP32 application image validator. The layout facts and their sources are
// listed in ota/server/esp_image.h; this file states, check by check, what is
// accepted and why.
//
// Order of checks (each refusal names the field and the file offset):
//   1. image header (24 bytes): magic 0xE9, segment count 1..16, chip id not
//      0xFFFF, hash-appended flag 0 or 1, chip revision range consistent;
//   2. every segment header inside the file; length a multiple of 4 and under
//      16 MB; data inside the file; for chips whose memory map we know
//      (ESP32, ESP32-S2, ESP32-C3, ESP32-S3) the whole segment inside one
//      memory region, and flash-mapped segments at a file offset equal to
//      their load address modulo the 64 KiB MMU page;
//   3. the checksum byte (last byte of the 16-byte-aligned padding after the
//      last segment) equals 0xEF XOR every segment data byte;
//   4. the appended SHA-256 (when byte 23 says so) equals SHA-256 of every
//      byte before it;
//   5. nothing but 0xFF after the image: esptool --pad-to-size and partition
//      dumps end that way; anything else (a second image, a signature block,
//      a merged image's remainder, garbage) is refused rather than stored;
//   6. the first segment is flash-mapped rodata (DROM) that begins with
//      esp_app_desc_t (magic 0xABCD5432 at file offset 0x20) whose strings
//      are printable;
//   7. the entry address lies inside a loaded segment.
// Integrity (3, 4) comes before meaning (6, 7), so a corrupted file is
// reported as corrupted. When any check fails, the file is also tested for
// the shape of a merged flash image (partition table at a 4 KiB boundary
// before 0x10000, an application at its partition offset), and if it has
// that shape the reason says so.
#include "ota/server/esp_image.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <optional>

namespace ota::server {
namespace {

constexpr uint8_t kImageMagic = 0xE9;
constexpr size_t kHeaderSize = 24;  // esp_image_header_t: 8-byte header + 16-byte extended header
constexpr size_t kSegmentHeaderSize = 8;
constexpr unsigned kMaxSegments = 16;        // ESP_IMAGE_MAX_SEGMENTS
constexpr uint8_t kChecksumSeed = 0xEF;      // esptool ESP_CHECKSUM_MAGIC
constexpr uint32_t kMaxSegmentSize = 0x1000000;  // esptool: "The 16 MB limit has been exceeded"
constexpr uint32_t kMmuPage = 0x10000;       // esptool IROM_ALIGN for ESP32/S2/S3/C3
constexpr size_t kDigestSize = 32;
constexpr size_t kAppDescOffset = kHeaderSize + kSegmentHeaderSize;  // 0x20
constexpr size_t kAppDescSize = 256;
constexpr uint32_t kAppDescMagic = 0xABCD5432;  // ESP_APP_DESC_MAGIC_WORD
constexpr uint16_t kChipIdInvalid = 0xFFFF;

// Header field offsets (esp_image_header_t).
constexpr size_t kOffSegmentCount = 1;
constexpr size_t kOffFlashMode = 2;
constexpr size_t kOffFlashSizeFreq = 3;
constexpr size_t kOffEntry = 4;
constexpr size_t kOffChipId = 12;
constexpr size_t kOffMinRevFull = 15;
constexpr size_t kOffMaxRevFull = 17;
constexpr size_t kOffHashAppended = 23;

// esp_app_desc_t field offsets, relative to the descriptor.
constexpr size_t kDescSecureVersion = 4;
constexpr size_t kDescElfSha256 = 144;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return {};
  return std::string(buf, std::min(static_cast<size_t>(n), sizeof buf - 1));
}

uint16_t le16(std::span<const uint8_t> d, size_t at) {
  return static_cast<uint16_t>(d[at] | (d[at + 1] << 8));
}
uint32_t le32(std::span<const uint8_t> d, size_t at) {
  return static_cast<uint32_t>(d[at]) | (static_cast<uint32_t>(d[at + 1]) << 8) |
         (static_cast<uint32_t>(d[at + 2]) << 16) | (static_cast<uint32_t>(d[at + 3]) << 24);
}

EspImageError fail(EspImageErrorCode code, size_t offset, std::string reason) {
  return EspImageError{code, offset, std::move(reason)};
}

// ---- chip memory maps (esptool targets/esp32*.py: MEMORY_MAP, *_MAP_START/END) ----

struct Region {
  uint32_t start, end;  // [start, end)
  EspSegmentKind kind;
};

constexpr Region kEsp32Map[] = {
    {0x00000000, 0x00010000, EspSegmentKind::kPadding},
    {0x3F400000, 0x3F800000, EspSegmentKind::kDrom},    // DROM_MAP
    {0x3F800000, 0x3FC00000, EspSegmentKind::kExtRam},  // EXTRAM_DATA
    {0x3FF80000, 0x3FF82000, EspSegmentKind::kRtc},     // RTC_DRAM
    {0x3FF90000, 0x40000000, EspSegmentKind::kDram},    // BYTE_ACCESSIBLE, DRAM, DIRAM_DRAM
    {0x40070000, 0x400C0000, EspSegmentKind::kIram},    // CACHE_PRO/APP, IRAM, DIRAM_IRAM
    {0x400C0000, 0x400C2000, EspSegmentKind::kRtc},     // RTC_IRAM
    {0x400D0000, 0x40400000, EspSegmentKind::kIrom},    // IROM_MAP
    {0x50000000, 0x50002000, EspSegmentKind::kRtc},     // RTC_DATA
};
constexpr Region kEsp32S2Map[] = {
    {0x00000000, 0x00010000, EspSegmentKind::kPadding},
    {0x3F000000, 0x3F3F0000, EspSegmentKind::kDrom},    // DROM_MAP
    {0x3F500000, 0x3FF80000, EspSegmentKind::kExtRam},  // EXTRAM_DATA
    {0x3FF9E000, 0x3FFA0000, EspSegmentKind::kRtc},     // RTC_DRAM
    {0x3FFA0000, 0x40000000, EspSegmentKind::kDram},    // DRAM, BYTE_ACCESSIBLE
    {0x40020000, 0x40070000, EspSegmentKind::kIram},    // IRAM
    {0x40070000, 0x40072000, EspSegmentKind::kRtc},     // RTC_IRAM
    {0x40080000, 0x40B80000, EspSegmentKind::kIrom},    // IROM_MAP
    {0x50000000, 0x50002000, EspSegmentKind::kRtc},     // RTC_DATA
};
constexpr Region kEsp32C3Map[] = {
    {0x00000000, 0x00010000, EspSegmentKind::kPadding},
    {0x3C000000, 0x3C800000, EspSegmentKind::kDrom},  // DROM_MAP
    {0x3FC80000, 0x3FD00000, EspSegmentKind::kDram},  // DRAM, BYTE_ACCESSIBLE
    {0x4037C000, 0x403E0000, EspSegmentKind::kIram},  // IRAM
    {0x42000000, 0x42800000, EspSegmentKind::kIrom},  // IROM_MAP
    {0x50000000, 0x50002000, EspSegmentKind::kRtc},   // RTC_IRAM / RTC_DRAM
    {0x600FE000, 0x60100000, EspSegmentKind::kRtc},   // MEM_INTERNAL2
};
constexpr Region kEsp32S3Map[] = {
    {0x00000000, 0x00010000, EspSegmentKind::kPadding},
    {0x3C000000, 0x3D000000, EspSegmentKind::kDrom},    // DROM
    {0x3D000000, 0x3E000000, EspSegmentKind::kExtRam},  // EXTRAM_DATA
    {0x3FC88000, 0x3FD00000, EspSegmentKind::kDram},    // DRAM, BYTE_ACCESSIBLE
    {0x40370000, 0x403E0000, EspSegmentKind::kIram},    // IRAM
    {0x42000000, 0x44000000, EspSegmentKind::kIrom},    // IROM_MAP
    {0x50000000, 0x50002000, EspSegmentKind::kRtc},     // RTC_DATA
    {0x600FE000, 0x60100000, EspSegmentKind::kRtc},     // RTC_DRAM / RTC_IRAM
};

struct ChipInfo {
  uint16_t id;
  const char* name;
  std::span<const Region> map;  // empty: unknown memory map, structural checks only
};

// esp_chip_id_t (ESP-IDF esp_app_format.h).
constexpr ChipInfo kChips[] = {
    {0x0000, "ESP32", kEsp32Map},     {0x0002, "ESP32-S2", kEsp32S2Map},
    {0x0005, "ESP32-C3", kEsp32C3Map}, {0x0009, "ESP32-S3", kEsp32S3Map},
    {0x000C, "ESP32-C2", {}},         {0x000D, "ESP32-C6", {}},
    {0x0010, "ESP32-H2", {}},         {0x0012, "ESP32-P4", {}},
    {0x0014, "ESP32-C61", {}},        {0x0017, "ESP32-C5", {}},
    {0x0019, "ESP32-H21", {}},        {0x001C, "ESP32-H4", {}},
};

const ChipInfo* find_chip(uint16_t id) {
  for (const ChipInfo& c : kChips)
    if (c.id == id) return &c;
  return nullptr;
}

// The region that holds [addr, addr + size) entirely, or nullptr.
const Region* find_region(std::span<const Region> map, uint32_t addr, uint32_t size) {
  for (const Region& r : map) {
    if (addr >= r.start && addr < r.end && uint64_t{addr} + size <= r.end) return &r;
  }
  return nullptr;
}

bool is_flash_kind(EspSegmentKind k) { return k == EspSegmentKind::kDrom || k == EspSegmentKind::kIrom; }

uint8_t xor_bytes(const uint8_t* p, size_t n, uint8_t acc) {
  uint64_t wide = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    wide ^= w;
  }
  for (int s = 0; s < 64; s += 8) acc ^= static_cast<uint8_t>(wide >> s);
  for (; i < n; ++i) acc ^= p[i];
  return acc;
}

bool sha256(std::span<const uint8_t> data, std::array<uint8_t, 32>& out) {
  unsigned int len = 0;
  return EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) == 1 &&
         len == out.size();
}

bool printable(uint8_t c) { return c >= 0x20 && c <= 0x7E; }

// What a file that does not start with 0xE9 looks like, for the refusal.
std::string describe_foreign_file(std::span<const uint8_t> d) {
  auto starts = [&](std::initializer_list<uint8_t> m) {
    return d.size() >= m.size() && std::equal(m.begin(), m.end(), d.begin());
  };
  if (starts({0x1F, 0x8B})) return "this is a gzip-compressed file; upload the uncompressed application .bin";
  if (starts({0x7F, 'E', 'L', 'F'}))
    return "this is an ELF file; upload the .bin that `idf.py build` / `esptool elf2image` makes from it";
  if (starts({'P', 'K', 0x03, 0x04})) return "this is a ZIP archive; upload the application .bin inside it";
  if (starts({'U', 'F', '2', '\n'})) return "this is a UF2 file; upload the application .bin";
  if (starts({0xAA, 0x50})) return "this looks like a partition table (entry magic 0x50AA), not an application";
  if (starts({0xEA})) return "this looks like an ESP8266 \"v2\" image (magic 0xEA), not an ESP32 application";
  size_t probe = std::min<size_t>(d.size(), 512);
  if (probe >= 16 && std::all_of(d.begin(), d.begin() + static_cast<long>(probe),
                                 [](uint8_t c) { return c == 0xFF; }))
    return "the file starts with erased flash (0xFF bytes)";
  if (std::all_of(d.begin(), d.begin() + static_cast<long>(probe),
                  [](uint8_t c) { return printable(c) || c == '\n' || c == '\r' || c == '\t'; })) {
    if (d[0] == ':') return "this looks like an Intel HEX text file; upload the binary .bin";
    if (d[0] == '<') return "this is an HTML/XML text file (a download error page?), not firmware";
    return "this is a text file, not firmware";
  }
  return "this is not an ESP image";
}

// A plausible esp_partition_info_t at `off`: magic 0x50AA, a known type,
// 4 KiB-aligned non-zero offset, non-zero size, printable NUL-padded label.
bool plausible_partition_entry(std::span<const uint8_t> d, size_t off) {
  if (off + 32 > d.size()) return false;
  if (d[off] != 0xAA || d[off + 1] != 0x50) return false;
  uint8_t type = d[off + 2];
  if (!(type == 0x00 || type == 0x01 || (type >= 0x40 && type != 0xFF))) return false;
  uint32_t poff = le32(d, off + 4), psize = le32(d, off + 8);
  if (poff == 0 || poff % 0x1000 != 0 || psize == 0) return false;
  bool ended = false;
  for (size_t i = 0; i < 16; ++i) {
    uint8_t c = d[off + 12 + i];
    if (c == 0) ended = true;
    else if (ended || !printable(c)) return false;
  }
  return d[off + 12] != 0;  // a named partition
}

// The start of an application image (0xE9 header, app descriptor magic at 0x20) at `off`.
bool app_image_at(std::span<const uint8_t> d, size_t off) {
  return off + kAppDescOffset + 4 <= d.size() && d[off] == kImageMagic &&
         le32(d, off + kAppDescOffset) == kAppDescMagic;
}

// Recognises a whole-flash image: bootloader (at flash 0x0 or 0x1000),
// partition table (default flash offset 0x8000), application (0x10000), as
// `esptool merge_bin` and web installers produce. The file may start at
// flash 0x0 or at the bootloader's own offset, so the partition table is
// searched at every 4 KiB boundary below 0x10000, and the application at the
// app partitions' offsets (shifted by the possible file origins) and 0x10000.
std::optional<EspImageError> detect_merged_flash_image(std::span<const uint8_t> d) {
  std::optional<size_t> table;
  for (size_t off = 0x4000; off < 0x10000; off += 0x1000) {
    if (plausible_partition_entry(d, off)) {
      table = off;
      break;
    }
  }
  std::vector<size_t> app_candidates;
  if (table) {
    for (size_t e = *table; e + 32 <= d.size() && e < *table + 0xC00; e += 32) {
      if (!plausible_partition_entry(d, e)) break;
      if (d[e + 2] != 0x00) continue;  // app partitions only
      uint32_t flash_off = le32(d, e + 4);
      for (uint32_t origin : {0x0u, 0x1000u, 0x2000u})
        if (flash_off >= origin) app_candidates.push_back(flash_off - origin);
    }
  }
  for (size_t off : {size_t{0x10000}, size_t{0xF000}, size_t{0xE000}}) app_candidates.push_back(off);
  std::optional<size_t> app;
  for (size_t off : app_candidates) {
    if (app_image_at(d, off)) {
      app = off;
      break;
    }
  }
  // An application found at an app-partition offset is enough on its own
  // only when the file also starts like flash does (a bootloader image or
  // erased flash); a partition table is enough on its own.
  bool flash_like_start = !d.empty() && (d[0] == kImageMagic || d[0] == 0xFF);
  if (!table && !(app && flash_like_start)) return std::nullopt;

  std::string where;
  if (table) where += format("a partition table at offset 0x%zX", *table);
  if (app) where += format("%san application image at offset 0x%zX", table ? " and " : "", *app);
  return fail(EspImageErrorCode::kMergedFlashImage, table ? *table : *app,
              "this looks like a merged flash image; upload the application binary. The file holds " +
                  where +
                  ": it is a whole-flash image (bootloader + partition table + application, e.g. from "
                  "`esptool merge_bin` or a web installer), but the server needs the application alone, "
                  "the .bin that is flashed to the app partition (usually at 0x10000)");
}

EspImageResult inspect_app(std::span<const uint8_t> d) {
  const size_t n = d.size();
  if (n == 0) return fail(EspImageErrorCode::kEmpty, 0, "the file is empty (0 bytes)");
  if (d[0] != kImageMagic)
    return fail(EspImageErrorCode::kBadMagic, 0,
                format("not an ESP application image: byte 0 is 0x%02X, expected the image magic 0xE9 (",
                       d[0]) +
                    describe_foreign_file(d) + ")");
  if (n < kHeaderSize)
    return fail(EspImageErrorCode::kTruncated, n,
                format("truncated: the file is %zu byte%s, shorter than the 24-byte image header "
                       "(8-byte header + 16-byte extended header)",
                       n, n == 1 ? "" : "s"));

  // 1. Header.
  const unsigned count = d[kOffSegmentCount];
  if (count == 0 || count > kMaxSegments)
    return fail(EspImageErrorCode::kBadHeader, kOffSegmentCount,
                format("segment count (byte 1) is %u; an image has 1 to %u segments "
                       "(ESP_IMAGE_MAX_SEGMENTS)",
                       count, kMaxSegments));
  EspAppInfo info;
  info.chip_id = le16(d, kOffChipId);
  if (info.chip_id == kChipIdInvalid)
    return fail(EspImageErrorCode::kBadHeader, kOffChipId,
                "chip id (bytes 12-13) is 0xFFFF (ESP_CHIP_ID_INVALID)");
  const uint8_t hash_flag = d[kOffHashAppended];
  if (hash_flag > 1)
    return fail(EspImageErrorCode::kBadHeader, kOffHashAppended,
                format("hash-appended flag (byte 23) is 0x%02X; it must be 0 or 1", hash_flag));
  info.min_chip_rev_full = le16(d, kOffMinRevFull);
  info.max_chip_rev_full = le16(d, kOffMaxRevFull);
  if (info.max_chip_rev_full != 0 && info.max_chip_rev_full != 0xFFFF &&
      info.min_chip_rev_full > info.max_chip_rev_full)
    return fail(EspImageErrorCode::kBadHeader, kOffMinRevFull,
                format("minimum chip revision (bytes 15-16) v%u.%u is above the maximum "
                       "(bytes 17-18) v%u.%u",
                       info.min_chip_rev_full / 100u, info.min_chip_rev_full % 100u,
                       info.max_chip_rev_full / 100u, info.max_chip_rev_full % 100u));
  info.entry_address = le32(d, kOffEntry);
  info.flash_mode = d[kOffFlashMode];
  info.flash_size_freq = d[kOffFlashSizeFreq];
  info.has_appended_sha256 = hash_flag == 1;
  const ChipInfo* chip = find_chip(info.chip_id);
  info.chip_name = esp_chip_name(info.chip_id);
  const std::span<const Region> map = chip ? chip->map : std::span<const Region>{};
  info.chip_memory_map_known = !map.empty();

  // 2. Segments.
  size_t pos = kHeaderSize;
  info.segments.reserve(count);
  for (unsigned i = 0; i < count; ++i) {
    if (pos + kSegmentHeaderSize > n)
      return fail(EspImageErrorCode::kTruncated, n,
                  format("truncated: segment %u's 8-byte header at offset 0x%zX runs past the end of "
                         "the file (%zu bytes)",
                         i, pos, n));
    const uint32_t load = le32(d, pos), len = le32(d, pos + 4);
    const size_t data = pos + kSegmentHeaderSize;
    if (len >= kMaxSegmentSize)
      return fail(EspImageErrorCode::kBadSegment, pos + 4,
                  format("segment %u (header at offset 0x%zX): length 0x%X is over the 16 MB limit",
                         i, pos, len));
    if (len % 4 != 0)
      return fail(EspImageErrorCode::kBadSegment, pos + 4,
                  format("segment %u (header at offset 0x%zX): length 0x%X (%u) is not a multiple of 4",
                         i, pos, len, len));
    if (len > n - data)
      return fail(EspImageErrorCode::kTruncated, n,
                  format("truncated: segment %u (header at offset 0x%zX) declares 0x%X bytes of data at "
                         "offset 0x%zX, which runs past the end of the file (%zu bytes)",
                         i, pos, len, data, n));
    EspSegment seg{load, static_cast<uint32_t>(data), len, EspSegmentKind::kUnknown};
    if (!map.empty()) {
      const Region* r = find_region(map, load, len);
      if (!r)
        return fail(EspImageErrorCode::kBadLoadAddress, pos,
                    format("segment %u (header at offset 0x%zX): load address 0x%08X + 0x%X bytes is "
                           "not inside any %s memory region",
                           i, pos, load, len, chip->name));
      seg.kind = r->kind;
      if (is_flash_kind(r->kind) && (data - load) % kMmuPage != 0)
        return fail(EspImageErrorCode::kBadLoadAddress, pos,
                    format("segment %u (header at offset 0x%zX) is flash-mapped at 0x%08X but its data "
                           "is at file offset 0x%zX; the MMU maps 64 KiB pages, so the two must be equal "
                           "modulo 0x10000",
                           i, pos, load, data));
    }
    info.segments.push_back(seg);
    pos = data + len;
  }

  // 3. Checksum: the last byte of the padding to a 16-byte boundary.
  const size_t checksum_at = pos | 15;
  if (checksum_at >= n)
    return fail(EspImageErrorCode::kTruncated, n,
                format("truncated: the checksum byte belongs at offset 0x%zX (after the last segment, "
                       "padded to 16 bytes) but the file is %zu bytes",
                       checksum_at, n));
  const size_t image_len = checksum_at + 1;
  if (info.has_appended_sha256 && n - image_len < kDigestSize)
    return fail(EspImageErrorCode::kTruncated, n,
                format("truncated: byte 23 says a SHA-256 digest is appended at offset 0x%zX, but the "
                       "file is %zu bytes",
                       image_len, n));
  uint8_t sum = kChecksumSeed;
  for (const EspSegment& s : info.segments) sum = xor_bytes(d.data() + s.file_offset, s.size, sum);
  info.checksum = d[checksum_at];
  if (sum != info.checksum)
    return fail(EspImageErrorCode::kBadChecksum, checksum_at,
                format("checksum mismatch: the byte at offset 0x%zX is 0x%02X, but the segment data "
                       "XORs to 0x%02X (seed 0xEF); the image is corrupted",
                       checksum_at, info.checksum, sum));

  // 4. Appended SHA-256 over everything before it.
  size_t end = image_len;
  if (info.has_appended_sha256) {
    std::array<uint8_t, 32> digest{};
    if (!sha256(d.first(image_len), digest))
      return fail(EspImageErrorCode::kBadSha256, image_len, "could not compute SHA-256 (OpenSSL error)");
    std::copy_n(d.begin() + static_cast<long>(image_len), kDigestSize, info.appended_sha256.begin());
    if (digest != info.appended_sha256)
      return fail(EspImageErrorCode::kBadSha256, image_len,
                  format("SHA-256 mismatch: the digest appended at offset 0x%zX does not match bytes "
                         "0x0-0x%zX; the image is corrupted or was modified after it was built",
                         image_len, image_len - 1));
    end += kDigestSize;
  }
  info.image_size = end;

  // 5. Only 0xFF padding may follow.
  auto junk = std::find_if(d.begin() + static_cast<long>(end), d.end(), [](uint8_t c) { return c != 0xFF; });
  if (junk != d.end()) {
    const size_t at = static_cast<size_t>(junk - d.begin());
    return fail(EspImageErrorCode::kTrailingData, at,
                format("unexpected data after the end of the image: the image ends at offset 0x%zX, the "
                       "file has %zu more byte%s and the one at offset 0x%zX is 0x%02X; only 0xFF padding "
                       "may follow an application image (a second image, a signature block or a merged "
                       "image's remainder is not accepted)",
                       end, n - end, n - end == 1 ? "" : "s", at, *junk));
  }
  info.trailing_padding = n - end;

  // 6. The application descriptor at the start of the first (DROM) segment.
  const EspSegment& first = info.segments.front();
  if (info.chip_memory_map_known && first.kind != EspSegmentKind::kDrom)
    return fail(EspImageErrorCode::kNotAnApplication, kHeaderSize,
                format("not an application: the first segment loads at 0x%08X (%s), but an "
                       "application's first segment is flash-mapped rodata (DROM) beginning with its "
                       "esp_app_desc_t; this looks like a bootloader or RAM-only image",
                       first.load_address, std::string(esp_segment_kind_name(first.kind)).c_str()));
  if (first.size < kAppDescSize)
    return fail(EspImageErrorCode::kBadAppDescriptor, kHeaderSize,
                format("no application descriptor: the first segment holds 0x%X bytes, too few for the "
                       "256-byte esp_app_desc_t at offset 0x20",
                       first.size));
  const auto desc = d.subspan(kAppDescOffset, kAppDescSize);
  const uint32_t magic = le32(desc, 0);
  if (magic != kAppDescMagic)
    return fail(EspImageErrorCode::kBadAppDescriptor, kAppDescOffset,
                format("no application descriptor: expected the esp_app_desc_t magic 0xABCD5432 at "
                       "offset 0x20 (start of the first segment's data), found 0x%08X",
                       magic));
  struct Field {
    const char* name;
    size_t offset, size;
    std::string* out;
  };
  const Field fields[] = {
      {"version", 16, 32, &info.version},          {"project_name", 48, 32, &info.project_name},
      {"time", 80, 16, &info.build_time},          {"date", 96, 16, &info.build_date},
      {"idf_ver", 112, 32, &info.idf_version},
  };
  for (const Field& f : fields) {
    std::string s;
    for (size_t i = 0; i < f.size; ++i) {
      const uint8_t c = desc[f.offset + i];
      if (c == 0) break;
      if (!printable(c))
        return fail(EspImageErrorCode::kBadAppDescriptor, kAppDescOffset + f.offset + i,
                    format("application descriptor field '%s' (offset 0x%zX) has a non-printable byte "
                           "0x%02X at offset 0x%zX",
                           f.name, kAppDescOffset + f.offset, c, kAppDescOffset + f.offset + i));
      s.push_back(static_cast<char>(c));
    }
    *f.out = std::move(s);
  }
  info.secure_version = le32(desc, kDescSecureVersion);
  std::copy_n(desc.begin() + kDescElfSha256, 32, info.app_elf_sha256.begin());

  // 7. The entry point is inside a loaded segment.
  const bool entry_ok = std::any_of(info.segments.begin(), info.segments.end(), [&](const EspSegment& s) {
    return s.kind != EspSegmentKind::kPadding && info.entry_address >= s.load_address &&
           uint64_t{info.entry_address} < uint64_t{s.load_address} + s.size;
  });
  if (!entry_ok)
    return fail(EspImageErrorCode::kBadEntryPoint, kOffEntry,
                format("entry point 0x%08X (bytes 4-7) is not inside any loaded segment",
                       info.entry_address));
  return info;
}

}  // namespace

std::string_view esp_segment_kind_name(EspSegmentKind kind) {
  switch (kind) {
    case EspSegmentKind::kPadding: return "padding";
    case EspSegmentKind::kDrom: return "DROM";
    case EspSegmentKind::kIrom: return "IROM";
    case EspSegmentKind::kDram: return "DRAM";
    case EspSegmentKind::kIram: return "IRAM";
    case EspSegmentKind::kRtc: return "RTC";
    case EspSegmentKind::kExtRam: return "external RAM";
    case EspSegmentKind::kUnknown: break;
  }
  return "unknown";
}

std::string_view esp_image_error_code_name(EspImageErrorCode code) {
  switch (code) {
    case EspImageErrorCode::kEmpty: return "empty";
    case EspImageErrorCode::kTruncated: return "truncated";
    case EspImageErrorCode::kBadMagic: return "bad_magic";
    case EspImageErrorCode::kBadHeader: return "bad_header";
    case EspImageErrorCode::kBadSegment: return "bad_segment";
    case EspImageErrorCode::kBadLoadAddress: return "bad_load_address";
    case EspImageErrorCode::kBadChecksum: return "bad_checksum";
    case EspImageErrorCode::kBadSha256: return "bad_sha256";
    case EspImageErrorCode::kTrailingData: return "trailing_data";
    case EspImageErrorCode::kBadAppDescriptor: return "bad_app_descriptor";
    case EspImageErrorCode::kBadEntryPoint: return "bad_entry_point";
    case EspImageErrorCode::kNotAnApplication: return "not_an_application";
    case EspImageErrorCode::kMergedFlashImage: return "merged_flash_image";
  }
  return "unknown";
}

std::string esp_chip_name(uint16_t chip_id) {
  if (const ChipInfo* c = find_chip(chip_id)) return c->name;
  return format("unknown (%u)", static_cast<unsigned>(chip_id));
}

std::optional<uint16_t> esp_chip_from_name(std::string_view name) {
  // Compared without case and without dashes.
  auto squash = [](std::string_view s) {
    std::string out;
    for (char c : s)
      if (c != '-') out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    return out;
  };
  const std::string wanted = squash(name);
  for (const ChipInfo& c : kChips)
    if (!wanted.empty() && squash(c.name) == wanted) return c.id;
  return std::nullopt;
}

EspImageResult inspect_esp_app_image(std::span<const uint8_t> image) {
  EspImageResult result = inspect_app(image);
  if (!result.ok() && result.error().code != EspImageErrorCode::kEmpty) {
    if (auto merged = detect_merged_flash_image(image)) return *merged;
  }
  return result;
}

}  // namespace ota::server
