// BSDIFF40 layout: "BSDIFF40", then three 8-byte integers (bzip2 size of the
// control block, bzip2 size of the diff block, new size), then the three
// bzip2 streams. Integers are sign-magnitude little endian (bit 63 = sign).
// Each control entry is (add length, insert length, seek), as our records.
#include "ota/delta/bsdiff40.h"

#include <bzlib.h>

#include <cstring>
#include <stdexcept>

namespace ota::delta {

namespace {

void put_offt(std::vector<uint8_t>& out, int64_t v) {
  uint64_t mag = v < 0 ? static_cast<uint64_t>(-v) : static_cast<uint64_t>(v);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>(mag >> (8 * i)));
  if (v < 0) out.back() |= 0x80;
}

std::vector<uint8_t> bzip2(const std::vector<uint8_t>& in) {
  unsigned int cap = static_cast<unsigned int>(in.size() + in.size() / 100 + 600);
  std::vector<uint8_t> out(cap);
  int rc = BZ2_bzBuffToBuffCompress(reinterpret_cast<char*>(out.data()), &cap,
                                    const_cast<char*>(reinterpret_cast<const char*>(in.data())),
                                    static_cast<unsigned int>(in.size()), 9, 0, 0);
  if (rc != BZ_OK) throw std::runtime_error("bzip2 compression failed");
  out.resize(cap);
  return out;
}

}  // namespace

std::vector<uint8_t> make_bsdiff40(std::span<const uint8_t> old_image,
                                   std::span<const uint8_t> new_image,
                                   const MatchOptions& options) {
  std::vector<Record> records = match_images(old_image, new_image, options);
  std::vector<uint8_t> ctrl, diff, extra;
  int64_t old_pos = 0;
  size_t new_pos = 0;
  for (const Record& r : records) {
    put_offt(ctrl, r.add_len);
    put_offt(ctrl, r.insert_len);
    put_offt(ctrl, r.seek);
    for (uint32_t i = 0; i < r.add_len; ++i)
      diff.push_back(static_cast<uint8_t>(new_image[new_pos + i] - old_image[old_pos + i]));
    new_pos += r.add_len;
    old_pos += r.add_len;
    extra.insert(extra.end(), new_image.begin() + new_pos,
                 new_image.begin() + new_pos + r.insert_len);
    new_pos += r.insert_len;
    old_pos += r.seek;
  }
  std::vector<uint8_t> c = bzip2(ctrl), d = bzip2(diff), e = bzip2(extra);
  std::vector<uint8_t> out(8);
  std::memcpy(out.data(), "BSDIFF40", 8);
  put_offt(out, static_cast<int64_t>(c.size()));
  put_offt(out, static_cast<int64_t>(d.size()));
  put_offt(out, static_cast<int64_t>(new_image.size()));
  out.insert(out.end(), c.begin(), c.end());
  out.insert(out.end(), d.begin(), d.end());
  out.insert(out.end(), e.begin(), e.end());
  return out;
}

}  // namespace ota::delta
