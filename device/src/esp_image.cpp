// esp_image_check: two passes over the image through the read callback.
//   1. Structure: the 24-byte header and each 8-byte segment header, every
//      bound checked against `limit` before anything is read past it; this
//      fixes the size without touching segment data.
//   2. Integrity: segment data XORed for the checksum byte and, when a
//      digest is appended and a crypto port given, every byte before the
//      digest hashed, in reads of at most 256 bytes.
// Then the application descriptor, if the first segment begins with one.
// All offsets stay below `limit` (a uint32_t), so uint32_t arithmetic never
// wraps: each bound is checked as `limit - pos < n` with pos <= limit.
#include "ota/esp_image.h"

#include <string.h>

namespace ota {
namespace {

constexpr uint8_t kImageMagic = 0xE9;
constexpr uint32_t kHeaderSize = 24;        // esp_image_header_t
constexpr uint32_t kSegmentHeaderSize = 8;  // esp_image_segment_header_t
constexpr uint8_t kChecksumSeed = 0xEF;     // ESP_ROM_CHECKSUM_INITIAL
constexpr uint32_t kDigestSize = 32;
constexpr uint16_t kChipIdInvalid = 0xFFFF;
constexpr uint32_t kChunk = 256;            // largest single read

// esp_image_header_t field offsets.
constexpr uint32_t kOffSegmentCount = 1;
constexpr uint32_t kOffEntry = 4;
constexpr uint32_t kOffChipId = 12;
constexpr uint32_t kOffHashAppended = 23;

// esp_app_desc_t: magic, secure_version, reserved[2], version[32],
// project_name[32], ... 256 bytes in all.
constexpr uint32_t kAppDescMagic = 0xABCD5432;
constexpr uint32_t kAppDescSize = 256;
constexpr uint32_t kDescSecureVersion = 4;
constexpr uint32_t kDescVersion = 16;
constexpr uint32_t kDescProjectName = 48;
constexpr uint32_t kDescStringSize = 32;
constexpr uint32_t kDescPrefix = kDescProjectName + kDescStringSize;  // the bytes we read

struct Segment {
  uint32_t data_offset;
  uint32_t length;
};

uint16_t le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Pass 2's reader: every byte it reads may be hashed, and segment data is
// XORed into the running checksum.
struct Reader {
  EspReadFn read;
  void* ctx;
  const CryptoPort* crypto;  // non-null: hash what is read
  Sha256State* sha;
  uint8_t sum;
  uint8_t buf[kChunk];
};

// Reads [offset, offset + len) in pieces; hashes them when hashing, XORs
// them into the checksum when `data`. The caller has bounds-checked.
Status stream(Reader* r, uint32_t offset, uint32_t len, bool data) {
  while (len > 0) {
    const uint32_t n = len < kChunk ? len : kChunk;
    if (r->read(r->ctx, offset, r->buf, n) != 0) return kStatusReadError;
    if (r->crypto && r->crypto->sha256_update(r->crypto->ctx, r->sha, r->buf, n) != 0)
      return kStatusHashError;
    if (data) {
      uint8_t s = r->sum;
      for (uint32_t i = 0; i < n; ++i) s ^= r->buf[i];
      r->sum = s;
    }
    offset += n;
    len -= n;
  }
  return kStatusOk;
}

// Copies a fixed-size descriptor string up to its first NUL, printable
// ASCII only, and NUL-terminates it (out has kDescStringSize + 1 bytes).
void copy_desc_string(const uint8_t* in, char* out) {
  uint32_t i = 0;
  for (; i < kDescStringSize && in[i] != 0; ++i)
    out[i] = (in[i] >= 0x20 && in[i] <= 0x7E) ? static_cast<char>(in[i]) : '?';
  out[i] = '\0';
}

// Pass 1: header and segment headers. Fills the header fields of *info,
// seg[] and *image_len (up to and including the checksum byte).
Status walk_structure(EspReadFn read, void* ctx, uint32_t limit, EspImageInfo* info,
                      Segment seg[kEspImageMaxSegments], uint32_t* image_len) {
  uint8_t h[kHeaderSize];
  if (limit < kHeaderSize) return kStatusBadImage;
  if (read(ctx, 0, h, kHeaderSize) != 0) return kStatusReadError;
  if (h[0] != kImageMagic) return kStatusBadImage;
  const uint8_t count = h[kOffSegmentCount];
  if (count == 0 || count > kEspImageMaxSegments) return kStatusBadImage;
  info->segment_count = count;
  info->entry_addr = le32(h + kOffEntry);
  info->chip_id = le16(h + kOffChipId);
  if (info->chip_id == kChipIdInvalid) return kStatusBadImage;
  info->hash_appended = h[kOffHashAppended];
  if (info->hash_appended > 1) return kStatusBadImage;

  uint32_t pos = kHeaderSize;  // invariant: pos <= limit
  for (uint8_t i = 0; i < count; ++i) {
    uint8_t sh[kSegmentHeaderSize];
    if (limit - pos < kSegmentHeaderSize) return kStatusBadImage;
    if (read(ctx, pos, sh, kSegmentHeaderSize) != 0) return kStatusReadError;
    pos += kSegmentHeaderSize;
    const uint32_t length = le32(sh + 4);
    if (length % 4 != 0 || length > limit - pos) return kStatusBadImage;
    seg[i].data_offset = pos;
    seg[i].length = length;
    pos += length;
  }
  // The checksum byte ends the padding to a 16-byte boundary.
  const uint32_t checksum_at = pos | 15u;
  if (checksum_at >= limit) return kStatusBadImage;
  *image_len = checksum_at + 1;
  uint32_t size = *image_len;
  if (info->hash_appended) {
    if (limit - size < kDigestSize) return kStatusBadImage;
    size += kDigestSize;
  }
  info->size = size;
  return kStatusOk;
}

// Pass 2 after the hash (if any) has begun: streams the image and checks
// the checksum byte; leaves the digest in r for the caller to finish.
Status check_integrity(Reader* r, const Segment* seg, uint8_t count, uint32_t image_len) {
  const bool hashing = r->crypto != nullptr;
  Status st = kStatusOk;
  if (hashing) st = stream(r, 0, kHeaderSize, false);
  for (uint8_t i = 0; i < count && st == kStatusOk; ++i) {
    if (hashing) st = stream(r, seg[i].data_offset - kSegmentHeaderSize, kSegmentHeaderSize, false);
    if (st == kStatusOk) st = stream(r, seg[i].data_offset, seg[i].length, true);
  }
  if (st != kStatusOk) return st;
  const uint32_t data_end = seg[count - 1].data_offset + seg[count - 1].length;
  const uint32_t checksum_at = image_len - 1;
  if (hashing) st = stream(r, data_end, checksum_at - data_end, false);  // padding
  if (st != kStatusOk) return st;
  const uint8_t expected = r->sum;
  st = stream(r, checksum_at, 1, false);
  if (st != kStatusOk) return st;
  return r->buf[0] == expected ? kStatusOk : kStatusBadImage;
}

Status read_app_desc(EspReadFn read, void* ctx, const Segment& first, EspImageInfo* info) {
  if (first.length < kAppDescSize) return kStatusOk;
  uint8_t d[kDescPrefix];
  if (read(ctx, first.data_offset, d, kDescPrefix) != 0) return kStatusReadError;
  if (le32(d) != kAppDescMagic) return kStatusOk;
  info->has_app_desc = 1;
  info->secure_version = le32(d + kDescSecureVersion);
  copy_desc_string(d + kDescVersion, info->version);
  copy_desc_string(d + kDescProjectName, info->project_name);
  return kStatusOk;
}

Status check(EspReadFn read, void* ctx, uint32_t limit, const CryptoPort* crypto,
             EspImageInfo* info) {
  Segment seg[kEspImageMaxSegments];
  uint32_t image_len = 0;
  Status st = walk_structure(read, ctx, limit, info, seg, &image_len);
  if (st != kStatusOk) return st;

  Sha256State sha;
  Reader r;
  r.read = read;
  r.ctx = ctx;
  r.crypto = (crypto && info->hash_appended) ? crypto : nullptr;
  r.sha = &sha;
  r.sum = kChecksumSeed;
  if (r.crypto && r.crypto->sha256_begin(r.crypto->ctx, &sha) != 0) return kStatusHashError;
  st = check_integrity(&r, seg, info->segment_count, image_len);
  if (r.crypto) {
    uint8_t digest[kDigestSize];
    const bool finished = r.crypto->sha256_finish(r.crypto->ctx, &sha, digest) == 0;
    if (st == kStatusOk && !finished) st = kStatusHashError;
    if (st == kStatusOk) {
      if (read(ctx, image_len, r.buf, kDigestSize) != 0) {
        st = kStatusReadError;
      } else if (memcmp(digest, r.buf, kDigestSize) != 0) {
        st = kStatusBadImage;
      }
    }
  }
  if (st != kStatusOk) return st;
  return read_app_desc(read, ctx, seg[0], info);
}

}  // namespace

Status esp_image_check(EspReadFn read, void* ctx, uint32_t limit, const CryptoPort* crypto,
                       EspImageInfo* info) {
  EspImageInfo local;
  memset(&local, 0, sizeof local);
  if (!read) {
    if (info) *info = local;
    return kStatusBadArgument;
  }
  const Status st = check(read, ctx, limit, crypto, &local);
  if (st != kStatusOk) memset(&local, 0, sizeof local);
  if (info) *info = local;
  return st;
}

}  // namespace ota
