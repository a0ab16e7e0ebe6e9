// Raw LZMA1 decoder for the device core, written from the LZMA specification
// (LZMA SDK's lzma-specification.txt). Push-fed like zlib's inflate(): the
// caller hands in whatever bytes have arrived, split anywhere, and takes out
// whatever is decoded. No heap, no exceptions, bounded stack: the
// probability table and the dictionary live in a workspace the caller owns.
//
// The stream is "raw": no .lzma or .xz header. Parameters (lc, lp, pb,
// dictionary size) and the exact uncompressed size come from outside (the
// patch header). The stream carries no end-of-payload marker: it is what
// liblzma's LZMA_FILTER_LZMA1EXT encoder writes without
// LZMA_LZMA1EXT_ALLOW_EOPM, and it ends after out_size bytes, plus one final
// range coder normalization, with the code at 0, exactly as liblzma's
// decoder requires.
#ifndef OTA_LZMA_DECODER_H
#define OTA_LZMA_DECODER_H

#include <stddef.h>
#include <stdint.h>

namespace ota {

enum LzmaResult : int8_t {
  kLzmaOk = 0,        // progress made; call again with more input or output room
  kLzmaStreamEnd = 1, // all out_size bytes produced and the stream is finished
  kLzmaDataError = -1,// corrupt stream (never reads or writes out of bounds)
  kLzmaParamError = -2,
};

// Bytes of workspace for these parameters: 16-bit probabilities
// (1846 + (0x300 << (lc + lp)) of them) followed by dict_size bytes.
// Saturates at 0xFFFFFFFF (and returns that for lc > 8 or lp > 4).
uint32_t lzma_workspace_size(uint8_t lc, uint8_t lp, uint32_t dict_size);

// Decoder state; fixed size, caller-allocated. Fields are private.
struct LzmaDecoder {
  // Range coder.
  uint32_t range;
  uint32_t code;
  // Model state.
  uint32_t state;
  uint32_t rep[4];
  uint16_t* probs;
  uint8_t* dict;
  uint32_t dict_size;
  uint32_t dict_pos;     // next write position in the circular dictionary
  uint32_t dict_full;    // bytes of history available (<= dict_size)
  uint64_t out_size;     // declared uncompressed size
  uint64_t out_done;     // bytes produced so far
  uint32_t pending_len;  // bytes of a match still to copy out (match split across calls)
  uint8_t lc, lp, pb;
  uint8_t phase;         // init bytes / decoding / finishing / ended / error
  // Input staging for symbols split across feed calls (a symbol needs at
  // most 20 bytes of input).
  uint8_t tmp[20];
  uint8_t tmp_len;
  uint8_t init_bytes;    // range coder init bytes consumed so far (of 5)
};

// Prepares d to decode a stream with these parameters into out_size bytes.
// REQUIRES: workspace is 2-byte aligned and workspace_size >=
// lzma_workspace_size(lc, lp, dict_size). Returns kLzmaParamError when the
// parameters are out of range (lc > 8, lp > 4, pb > 4, dict_size < 4096) or
// the workspace is too small.
LzmaResult lzma_init(LzmaDecoder* d, uint8_t lc, uint8_t lp, uint8_t pb, uint32_t dict_size,
                     void* workspace, uint32_t workspace_size, uint64_t out_size);

// Consumes input from in[0..*in_len) and writes decoded bytes to
// out[0..*out_len). On return *in_len and *out_len hold the bytes consumed
// and produced. All input it is given is either consumed or left for the
// next call; it never needs the caller to re-present consumed bytes.
// Returns kLzmaStreamEnd once out_size bytes were produced and the stream
// is complete (every byte of a liblzma-made stream consumed, none after it);
// input after that is not consumed. After kLzmaDataError every call returns kLzmaDataError.
LzmaResult lzma_decode(LzmaDecoder* d, const uint8_t* in, size_t* in_len, uint8_t* out,
                       size_t* out_len);

// Checkpoints (ota/agent.h persists a decoder to resume after a reset):
// the state is the struct itself plus the first lzma_workspace_used() bytes
// of the workspace (probabilities and the filled part of the dictionary).
uint32_t lzma_workspace_used(const LzmaDecoder* d);

// After the struct was copied back from a checkpoint and the used part of
// the workspace restored into `workspace`: re-points the decoder at it.
// kLzmaParamError when the restored parameters do not fit the workspace.
LzmaResult lzma_rebind(LzmaDecoder* d, void* workspace, uint32_t workspace_size);

}  // namespace ota

#endif  // OTA_LZMA_DECODER_H
