#include "ota/delta/lzma_compress.h"

#include <lzma.h>

#include <stdexcept>
#include <string>

namespace ota::delta {

std::vector<uint8_t> lzma_compress_raw(std::span<const uint8_t> data, const LzmaParams& params) {
  lzma_options_lzma opt;
  if (lzma_lzma_preset(&opt, 9 | LZMA_PRESET_EXTREME))
    throw std::runtime_error("liblzma: preset unavailable");
  opt.dict_size = params.dict_size;
  opt.lc = params.lc;
  opt.lp = params.lp;
  opt.pb = params.pb;
  opt.nice_len = 273;
  opt.mf = LZMA_MF_BT4;
  opt.depth = 0;  // liblzma's default for bt4 at nice_len 273
  opt.ext_flags = 0;  // no end marker: the header carries the size
  lzma_filter filters[2] = {{LZMA_FILTER_LZMA1EXT, &opt}, {LZMA_VLI_UNKNOWN, nullptr}};

  lzma_stream strm = LZMA_STREAM_INIT;
  lzma_ret ret = lzma_raw_encoder(&strm, filters);
  if (ret != LZMA_OK)
    throw std::runtime_error("liblzma: raw encoder refused the parameters (code " +
                             std::to_string(static_cast<int>(ret)) + ")");
  std::vector<uint8_t> out(data.size() + data.size() / 2 + 1024);
  strm.next_in = data.data();
  strm.avail_in = data.size();
  strm.next_out = out.data();
  strm.avail_out = out.size();
  for (;;) {
    ret = lzma_code(&strm, LZMA_FINISH);
    if (ret == LZMA_STREAM_END) break;
    if (ret != LZMA_OK) {
      lzma_end(&strm);
      throw std::runtime_error("liblzma: compression failed (code " +
                               std::to_string(static_cast<int>(ret)) + ")");
    }
    if (strm.avail_out == 0) {
      size_t used = out.size();
      out.resize(out.size() * 2);
      strm.next_out = out.data() + used;
      strm.avail_out = out.size() - used;
    }
  }
  out.resize(strm.total_out);
  lzma_end(&strm);
  return out;
}

}  // namespace ota::delta
