#include "ota/server/envelope.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace ota::server {

uint32_t chunk_size_for(Encryption encryption, size_t payload_size) {
  if (encryption == kEncryptionDeviceKey && payload_size > 0 && payload_size <= kMaxRecordPlaintext)
    return static_cast<uint32_t>(payload_size);
  return kDefaultChunkSize;
}

std::array<uint8_t, 8> make_nonce_prefix() {
  Bytes r = random_bytes(8);
  std::array<uint8_t, 8> p{};
  std::copy(r.begin(), r.end(), p.begin());
  return p;
}

RecordStream encrypt_records(std::span<const uint8_t> payload, std::span<const uint8_t, 32> key,
                             uint32_t chunk_size, const std::array<uint8_t, 8>& nonce_prefix) {
  RecordStream out;
  uint32_t stream_size = 0;
  if (payload.size() > 0xFFFFFFFFu ||
      !record_geometry(static_cast<uint32_t>(payload.size()), chunk_size, &out.record_count,
                       &stream_size))
    throw std::invalid_argument("payload cannot be cut into records of this chunk size");
  out.chunk_size = chunk_size;
  out.nonce_prefix = nonce_prefix;
  const uint32_t n = out.record_count;

  // Last record first: record i's plaintext ends with SHA-256(record i+1).
  std::vector<Bytes> records(n);
  Digest next{};
  for (uint32_t i = n; i-- > 0;) {
    size_t begin = static_cast<size_t>(i) * chunk_size;
    size_t len = std::min<size_t>(chunk_size, payload.size() - begin);
    Bytes plain(payload.begin() + static_cast<long>(begin),
                payload.begin() + static_cast<long>(begin + len));
    bool last = i + 1 == n;
    if (!last) plain.insert(plain.end(), next.begin(), next.end());
    std::array<uint8_t, 13> nonce;
    record_nonce(nonce_prefix.data(), i, last, nonce.data());
    CcmSealed sealed = aes256_ccm_encrypt(key, nonce, plain);
    Bytes& rec = records[i];
    rec.reserve(kRecordOverhead + sealed.ciphertext.size());
    rec.insert(rec.end(), nonce.begin(), nonce.end());
    rec.insert(rec.end(), sealed.tag.begin(), sealed.tag.end());
    rec.insert(rec.end(), sealed.ciphertext.begin(), sealed.ciphertext.end());
    next = sha256(rec);
  }
  out.first_record_sha256 = next;
  out.bytes.reserve(stream_size);
  for (const Bytes& r : records) out.bytes.insert(out.bytes.end(), r.begin(), r.end());
  if (out.bytes.size() != stream_size) throw std::logic_error("record stream size");
  return out;
}

std::array<uint8_t, kWrappedKeySize> wrap_content_key(std::span<const uint8_t, 32> device_key,
                                                      std::span<const uint8_t, 32> content_key) {
  Bytes nonce_bytes = random_bytes(13);
  std::array<uint8_t, 13> nonce{};
  std::copy(nonce_bytes.begin(), nonce_bytes.end(), nonce.begin());
  CcmSealed sealed = aes256_ccm_encrypt(device_key, nonce, content_key);
  std::array<uint8_t, kWrappedKeySize> w;
  std::copy(nonce.begin(), nonce.end(), w.begin());
  std::copy(sealed.tag.begin(), sealed.tag.end(), w.begin() + 13);
  std::copy(sealed.ciphertext.begin(), sealed.ciphertext.end(), w.begin() + 29);
  return w;
}

void describe_stream(Manifest& m, Encryption encryption, const RecordStream& stream,
                     size_t payload_size) {
  m.encryption = encryption;
  m.chunk_size = stream.chunk_size;
  m.record_count = stream.record_count;
  m.stream_size = static_cast<uint32_t>(stream.bytes.size());
  m.payload_size = static_cast<uint32_t>(payload_size);
  std::copy(stream.nonce_prefix.begin(), stream.nonce_prefix.end(), m.nonce_prefix);
  std::copy(stream.first_record_sha256.begin(), stream.first_record_sha256.end(),
            m.first_record_sha256);
}

Bytes sign_manifest(Manifest m, const SigningKey& key) {
  m.version = kManifestVersion;
  KeyId id = key.key_id();
  std::copy(id.begin(), id.end(), m.key_id);
  Bytes out(kManifestMaxSize);
  size_t n = manifest_write_signed_part(m, out.data(), out.size());
  if (n == 0) throw std::invalid_argument("manifest field out of range");
  out.resize(n);
  Bytes sig = key.sign_digest(sha256(out));
  if (sig.size() > kMaxSignatureSize) throw std::logic_error("signature too long");
  out.push_back(static_cast<uint8_t>(sig.size()));
  out.insert(out.end(), sig.begin(), sig.end());
  Manifest check;
  if (manifest_parse(out.data(), out.size(), &check) != kStatusOk)
    throw std::invalid_argument("manifest fields are inconsistent (see docs/protocol.md §2)");
  return out;
}

}  // namespace ota::server
