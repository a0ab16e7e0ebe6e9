// ESP32 application image validator: the server runs it on every uploaded
// firmware (and the delta encoder uses its segment map to choose the
// firmware-aware mode). It accepts a real ESP-IDF/Arduino application image
// and refuses anything else with a reason that names what is wrong and where.
//
// Format sources (facts only; the code is our own):
//   * esptool "Firmware Image Format" (docs/en/advanced-topics/
//     firmware-image-format.rst): 8-byte header, 16-byte extended header,
//     segments, checksum byte, appended SHA-256.
//   * ESP-IDF esp_app_format.h (esp_image_header_t, esp_image_segment_header_t,
//     ESP_IMAGE_MAX_SEGMENTS = 16, esp_chip_id_t) and esp_app_desc.h
//     (esp_app_desc_t, ESP_APP_DESC_MAGIC_WORD = 0xABCD5432).
//   * ESP-IDF "App Image Format" (api-reference/system/app_image_format.rst):
//     esp_app_desc_t sits at the fixed offset sizeof(esp_image_header_t) +
//     sizeof(esp_image_segment_header_t) = 0x20, at the start of the DROM
//     segment; the SHA-256 covers everything from the first byte up to it.
//   * esptool targets/esp32*.py (MEMORY_MAP, IROM/DROM_MAP_*) and
//     bin_image.py (segment length a multiple of 4 and under 16 MB; flash-
//     mapped segments placed so file offset = load address mod 64 KiB;
//     hash_appended must be 0 or 1; --pad-to-size pads with 0xFF).
#ifndef OTA_SERVER_ESP_IMAGE_H
#define OTA_SERVER_ESP_IMAGE_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ota::server {

// What a segment's load address is, from the chip's memory map (esptool's
// names). Unknown chips get kUnknown for every segment.
enum class EspSegmentKind : uint8_t {
  kUnknown,
  kPadding,  // load address in 0x0-0x10000: esptool's alignment padding
  kDrom,     // flash-mapped read-only data
  kIrom,     // flash-mapped code
  kDram,
  kIram,
  kRtc,      // RTC fast/slow memory
  kExtRam,   // external RAM (PSRAM) data
};
std::string_view esp_segment_kind_name(EspSegmentKind kind);

struct EspSegment {
  uint32_t load_address;
  uint32_t file_offset;  // offset of the segment's data (its 8-byte header is just before)
  uint32_t size;
  EspSegmentKind kind;
  bool flash_mapped() const { return kind == EspSegmentKind::kDrom || kind == EspSegmentKind::kIrom; }
};

struct EspAppInfo {
  uint16_t chip_id = 0;           // extended header bytes 4-5 (file byte 12): 0 ESP32, 2 S2, 5 C3, 9 S3, ...
  std::string chip_name;          // "ESP32", "ESP32-C3", ... or "unknown (N)"
  bool chip_memory_map_known = false;  // load addresses were checked against the chip's map
  uint32_t entry_address = 0;
  uint8_t flash_mode = 0;         // header byte 2 (0 QIO, 1 QOUT, 2 DIO, 3 DOUT)
  uint8_t flash_size_freq = 0;    // header byte 3 (size code << 4 | frequency code)
  uint16_t min_chip_rev_full = 0; // major * 100 + minor
  uint16_t max_chip_rev_full = 0; // 0 or 0xFFFF: no maximum recorded
  std::vector<EspSegment> segments;
  uint8_t checksum = 0;           // stored (and verified) XOR checksum byte
  bool has_appended_sha256 = false;
  std::array<uint8_t, 32> appended_sha256{};  // zero when absent
  // esp_app_desc_t, strings NUL-trimmed and checked printable
  uint32_t secure_version = 0;
  std::string version;
  std::string project_name;
  std::string idf_version;
  std::string build_date;         // __DATE__, e.g. "Mar  9 2022"
  std::string build_time;         // __TIME__, e.g. "20:21:58"
  std::array<uint8_t, 32> app_elf_sha256{};
  size_t image_size = 0;          // header + segments + checksum padding (+ SHA-256)
  size_t trailing_padding = 0;    // 0xFF bytes after image_size (allowed, e.g. --pad-to-size)
};

// Kinds of refusal, for callers that react differently (the HTTP layer maps
// them all to 400; tests assert them). The reason text is what users see.
enum class EspImageErrorCode : uint8_t {
  kEmpty,               // zero bytes
  kTruncated,           // the file ends inside a structure the header declares
  kBadMagic,            // byte 0 is not 0xE9 (reason says what the file looks like)
  kBadHeader,           // segment count, chip id, hash flag, revision range
  kBadSegment,          // length not a multiple of 4, too large, runs past the end
  kBadLoadAddress,      // outside the chip's memory map, or mis-placed flash mapping
  kBadChecksum,         // XOR checksum byte
  kBadSha256,           // appended SHA-256
  kTrailingData,        // non-0xFF bytes after the image
  kBadAppDescriptor,    // esp_app_desc_t missing or malformed
  kBadEntryPoint,       // entry address not inside a loaded segment
  kNotAnApplication,    // a valid ESP image, but not an application (e.g. a bootloader)
  kMergedFlashImage,    // bootloader + partition table + app, as flashed at 0x0
};
std::string_view esp_image_error_code_name(EspImageErrorCode code);

struct EspImageError {
  EspImageErrorCode code;
  size_t offset;       // file offset the reason refers to
  std::string reason;  // human-readable, names the field and the offset
};

// The result of an inspection: the app's description or why it was refused.
class EspImageResult {
 public:
  EspImageResult(EspAppInfo info) : v_(std::move(info)) {}     // NOLINT: implicit by design
  EspImageResult(EspImageError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  const EspAppInfo& info() const { return std::get<0>(v_); }   // throws std::bad_variant_access if !ok()
  const EspImageError& error() const { return std::get<1>(v_); }  // throws if ok()

 private:
  std::variant<EspAppInfo, EspImageError> v_;
};

// Validates an ESP32-family application image (see esp_image.cpp for the full
// list of checks). Never throws for malformed input (only std::bad_alloc);
// never reads outside `image`. One pass of XOR and one of SHA-256: a 1.5 MB
// image takes a few milliseconds.
EspImageResult inspect_esp_app_image(std::span<const uint8_t> image);

// "ESP32", "ESP32-S2", "ESP32-C3", ... for a chip id; "unknown (N)" otherwise.
std::string esp_chip_name(uint16_t chip_id);
// The chip id of a known chip's name, however written: "ESP32-C3",
// "esp32c3", "esp32-c3"; nullopt for anything else.
std::optional<uint16_t> esp_chip_from_name(std::string_view name);

}  // namespace ota::server

#endif  // OTA_SERVER_ESP_IMAGE_H
