// Server side of the security envelope (docs/protocol.md): cut a payload
// into hash-chained AES-256-CCM records, wrap content keys for devices, and
// sign manifests. The device side is device/include/ota/envelope.h.
#ifndef OTA_SERVER_ENVELOPE_H
#define OTA_SERVER_ENVELOPE_H

#include <algorithm>
#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ota/manifest.h"
#include "ota/server/crypto.h"

namespace ota::server {

// The chunk size the server uses: 4096, except on the original path
// (encryption 2) where a payload under 64 KiB is one record, byte-compatible
// with the original description's nonce | tag | ciphertext file.
uint32_t chunk_size_for(Encryption encryption, size_t payload_size);

struct RecordStream {
  Bytes bytes;                      // records, back to back
  Digest first_record_sha256{};
  uint32_t chunk_size = 0;
  uint32_t record_count = 0;
  std::array<uint8_t, 8> nonce_prefix{};
};

// Encrypts `payload` under `key` into chained records (built last to first,
// since each record carries the digest of the next). Deterministic for a
// given nonce prefix; make_nonce_prefix() draws a random one. Throws
// std::invalid_argument for an empty payload or impossible geometry.
RecordStream encrypt_records(std::span<const uint8_t> payload, std::span<const uint8_t, 32> key,
                             uint32_t chunk_size, const std::array<uint8_t, 8>& nonce_prefix);
std::array<uint8_t, 8> make_nonce_prefix();

// nonce(13) | tag(16) | AES-256-CCM(device_key, content_key), random nonce.
std::array<uint8_t, kWrappedKeySize> wrap_content_key(std::span<const uint8_t, 32> device_key,
                                                      std::span<const uint8_t, 32> content_key);

// Copies text into a manifest string; throws std::invalid_argument if too long.
template <uint8_t Max>
void set_text(ShortString<Max>& s, const std::string& text) {
  if (text.size() > Max) throw std::invalid_argument("manifest field too long: " + text);
  s.len = static_cast<uint8_t>(text.size());
  std::copy(text.begin(), text.end(), s.bytes);
}

// Fills the record fields of `m` from a stream (encryption, chunk size,
// counts, sizes, nonce prefix, first record digest).
void describe_stream(Manifest& m, Encryption encryption, const RecordStream& stream,
                     size_t payload_size);

// Serializes `m` (its key_id is set from `key`), signs it and appends the
// signature. Throws std::invalid_argument when a field is out of range; the
// result always passes manifest_parse.
Bytes sign_manifest(Manifest m, const SigningKey& key);

}  // namespace ota::server

#endif  // OTA_SERVER_ENVELOPE_H
