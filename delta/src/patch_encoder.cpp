#include "ota/delta/patch_encoder.h"

#include <cstring>
#include <stdexcept>

#include "ota/delta/lzma_compress.h"
#include "ota/delta/sha256.h"

namespace ota::delta {

namespace {

void put_varint(std::vector<uint8_t>& out, uint32_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<uint8_t>(v));
}

uint32_t zigzag(int64_t v) {
  if (v < INT32_MIN || v > INT32_MAX) throw std::runtime_error("seek out of range");
  int32_t s = static_cast<int32_t>(v);
  return (static_cast<uint32_t>(s) << 1) ^ static_cast<uint32_t>(s >> 31);
}

void check_options(const EncodeOptions& o) {
  if (o.codec == kCodecNone) return;
  if (o.codec != kCodecLzma) throw std::invalid_argument("unknown codec");
  if (o.lc > kLzmaMaxLc || o.lp > kLzmaMaxLp || o.pb > kLzmaMaxPb ||
      o.lc + o.lp > kLzmaMaxLcPlusLp)
    throw std::invalid_argument("LZMA lc/lp/pb out of range (lc<=4, lp<=4, lc+lp<=4, pb<=4)");
  if (o.dict_size < kLzmaMinDict || o.dict_size > kLzmaMaxDict)
    throw std::invalid_argument("dictionary size must be 4096..16777216 bytes");
}

}  // namespace

std::vector<uint8_t> build_instruction_stream(std::span<const uint8_t> old_image,
                                              std::span<const uint8_t> new_image,
                                              const std::vector<Record>& records) {
  std::vector<uint8_t> out;
  out.reserve(new_image.size() + records.size() * 6);
  int64_t old_pos = 0;
  size_t new_pos = 0;
  for (const Record& r : records) {
    if (new_pos + r.add_len + r.insert_len > new_image.size() ||
        (r.add_len && (old_pos < 0 || old_pos + r.add_len > (int64_t)old_image.size())))
      throw std::logic_error("matcher produced a record outside the images");
    put_varint(out, r.add_len);
    put_varint(out, r.insert_len);
    put_varint(out, zigzag(r.seek));
    for (uint32_t i = 0; i < r.add_len; ++i)
      out.push_back(static_cast<uint8_t>(new_image[new_pos + i] - old_image[old_pos + i]));
    new_pos += r.add_len;
    old_pos += r.add_len;
    out.insert(out.end(), new_image.begin() + new_pos, new_image.begin() + new_pos + r.insert_len);
    new_pos += r.insert_len;
    old_pos += r.seek;
  }
  if (new_pos != new_image.size()) throw std::logic_error("records do not cover the new image");
  return out;
}

std::vector<Record> squash_excursions(const std::vector<Record>& records, uint32_t min_len) {
  constexpr int64_t kBlock = 4096;  // the device's T(OLD) block (ota/reloc.h)
  std::vector<Record> out;
  out.reserve(records.size());
  int64_t old_pos = 0, cached = -1;
  for (const Record& r : records) {
    int64_t first = old_pos / kBlock, last = (old_pos + int64_t(r.add_len) - 1) / kBlock;
    bool leaves = r.add_len > 0 && (first != cached || last != cached);
    if (!out.empty() && r.add_len > 0 && r.add_len < min_len && leaves && old_pos >= 0 &&
        uint64_t(out.back().insert_len) + r.add_len + r.insert_len <= UINT32_MAX) {
      Record& p = out.back();
      p.insert_len += r.add_len + r.insert_len;
      p.seek += int64_t(r.add_len) + r.seek;
    } else {
      if (r.add_len > 0) cached = last;
      out.push_back(r);
    }
    old_pos += int64_t(r.add_len) + r.seek;
  }
  return out;
}

std::vector<uint8_t> make_patch(std::span<const uint8_t> old_image,
                                std::span<const uint8_t> new_image,
                                const EncodeOptions& options) {
  check_options(options);
  if (old_image.size() > UINT32_MAX || new_image.size() > UINT32_MAX)
    throw std::invalid_argument("images must be smaller than 4 GiB");
  return make_patch_from_records(old_image, new_image,
                                 match_images(old_image, new_image, options.match), options);
}

std::vector<uint8_t> make_patch_from_records(std::span<const uint8_t> old_image,
                                             std::span<const uint8_t> new_image,
                                             const std::vector<Record>& records,
                                             const EncodeOptions& options) {
  check_options(options);
  if (old_image.size() > UINT32_MAX || new_image.size() > UINT32_MAX)
    throw std::invalid_argument("images must be smaller than 4 GiB");
  std::vector<uint8_t> stream = build_instruction_stream(
      old_image, new_image,
      options.min_excursion ? squash_excursions(records, options.min_excursion) : records);

  PatchHeader h{};
  h.format_version = kPatchFormatVersion;
  h.transform = kTransformNone;
  h.old_size = static_cast<uint32_t>(old_image.size());
  h.new_size = static_cast<uint32_t>(new_image.size());
  h.stream_size = static_cast<uint32_t>(stream.size());
  Digest old_digest = sha256(old_image), new_digest = sha256(new_image);
  std::memcpy(h.old_sha256, old_digest.data(), 32);
  std::memcpy(h.new_sha256, new_digest.data(), 32);

  std::vector<uint8_t> payload;
  // An empty image has an empty stream: nothing to compress.
  if (options.codec == kCodecLzma && !stream.empty()) {
    h.codec = kCodecLzma;
    h.lzma_lc = options.lc;
    h.lzma_lp = options.lp;
    h.lzma_pb = options.pb;
    h.dict_size = options.dict_size;
    payload = lzma_compress_raw(stream, {options.dict_size, options.lc, options.lp, options.pb});
  } else {
    h.codec = kCodecNone;
    payload = std::move(stream);
  }
  h.payload_size = static_cast<uint32_t>(payload.size());

  std::vector<uint8_t> patch(kPatchHeaderSize + payload.size());
  patch_header_write(h, patch.data());
  if (!payload.empty()) std::memcpy(patch.data() + kPatchHeaderSize, payload.data(), payload.size());
  return patch;
}

}  // namespace ota::delta
