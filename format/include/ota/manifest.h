// The signed manifest, version 1 (docs/protocol.md §2): layout, parse and
// serialize. Parsing checks the layout only; the signature and the policy
// (device, nonce, counter, base image) are checked by the device core.
// C headers only: shared by the device and the server.
#ifndef OTA_MANIFEST_H
#define OTA_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "ota/status.h"

namespace ota {

constexpr uint8_t kManifestMagic[4] = {'O', 'T', 'A', 'M'};
constexpr uint8_t kManifestVersion = 1;
constexpr size_t kManifestMaxSize = 640;
constexpr size_t kKeyIdSize = 8;
constexpr size_t kNonceSize = 16;
constexpr size_t kPublicKeySize = 65;     // uncompressed P-256 point
constexpr size_t kMaxSignatureSize = 72;  // DER ECDSA P-256
constexpr size_t kWrappedKeySize = 61;    // nonce 13 | tag 16 | key 32
constexpr uint8_t kMaxProductLen = 32;
constexpr uint8_t kMaxDeviceIdLen = 64;
constexpr uint8_t kMaxVersionLen = 32;
constexpr uint16_t kChipAny = 0xFFFF;

enum ManifestKind : uint8_t {
  kManifestUpdate = 1,
  kManifestKey = 2,
};

enum PayloadType : uint8_t {
  kPayloadFullImage = 0,
  kPayloadPatch = 1,
};

enum Encryption : uint8_t {
  kEncryptionNone = 0,
  kEncryptionWrappedKey = 1,  // content key wrapped for the device (versioned API)
  kEncryptionDeviceKey = 2,   // records under the device key (original path)
};

// A length-prefixed string, stored inline (no heap); not NUL-terminated.
template <uint8_t Max>
struct ShortString {
  uint8_t len;
  char bytes[Max];
};

struct Manifest {
  uint8_t version;
  uint8_t kind;
  uint8_t key_id[kKeyIdSize];
  uint32_t security_counter;
  uint8_t device_nonce[kNonceSize];
  uint64_t issued_at;
  // kind 1 (update)
  ShortString<kMaxProductLen> product;
  uint16_t chip_id;
  ShortString<kMaxDeviceIdLen> device_id;
  ShortString<kMaxVersionLen> from_version;
  uint8_t from_sha256[32];
  ShortString<kMaxVersionLen> to_version;
  uint8_t to_sha256[32];
  uint32_t to_size;
  uint8_t payload_type;
  uint32_t payload_size;
  uint8_t payload_sha256[32];
  uint8_t payload_codec;
  uint32_t payload_ram;
  uint8_t encryption;
  uint32_t chunk_size;
  uint32_t record_count;
  uint32_t stream_size;
  uint8_t nonce_prefix[8];
  uint8_t first_record_sha256[32];
  uint8_t wrapped_key[kWrappedKeySize];
  // kind 2 (key manifest)
  uint8_t new_public_key[kPublicKeySize];
  uint8_t retire_key_id[kKeyIdSize];
  // Where the signed bytes end and the signature lies in the parsed buffer.
  uint16_t signed_size;
  uint8_t signature_size;
  uint8_t signature[kMaxSignatureSize];
};

// Record-stream geometry (docs/protocol.md §3).
constexpr uint32_t kRecordOverhead = 29;   // nonce 13 + tag 16
constexpr uint32_t kChainHashSize = 32;    // SHA-256 of the next record
constexpr uint32_t kDefaultChunkSize = 4096;
constexpr uint32_t kMaxRecordPlaintext = 65535;  // CCM with a 13-byte nonce

// Number of records and total stream bytes for a payload cut into chunks;
// false when the geometry is impossible (chunk 0, a record over 65,535
// bytes, sizes overflowing 32 bits).
bool record_geometry(uint32_t payload_size, uint32_t chunk_size, uint32_t* record_count,
                     uint32_t* stream_size);

// Ciphertext bytes of record `index` (chunk plus chain hash except the last).
uint32_t record_ciphertext_size(uint32_t payload_size, uint32_t chunk_size,
                                uint32_t record_count, uint32_t index);

// The 13-byte nonce of record `index`.
void record_nonce(const uint8_t prefix[8], uint32_t index, bool last, uint8_t out[13]);

// Parses a whole manifest (signature included). Checks the layout, string
// lengths and characters, enumerations, record geometry, and that nothing
// follows the signature. Returns kStatusOk or kStatusManifestMalformed.
Status manifest_parse(const uint8_t* buf, size_t len, Manifest* m);

// Writes the signed part (fields 1..27 for kind 1, 1..9 for kind 2) into
// out; returns its size, or 0 if it does not fit or a field is out of range.
size_t manifest_write_signed_part(const Manifest& m, uint8_t* out, size_t cap);

}  // namespace ota

#endif  // OTA_MANIFEST_H
