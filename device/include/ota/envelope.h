// The device side of the security envelope (docs/protocol.md): verify a
// signed manifest against the device's identity and trust store, unwrap the
// content key, and open the encrypted record stream chunk by chunk, each
// chunk authenticated against the signer before it is passed on.
//
// No heap, no exceptions; all cryptography through the CryptoPort.
#ifndef OTA_ENVELOPE_H
#define OTA_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "ota/crypto_port.h"
#include "ota/manifest.h"
#include "ota/status.h"

namespace ota {

struct TrustedKey {
  uint8_t in_use;
  uint8_t key_id[kKeyIdSize];
  uint8_t public_key[kPublicKeySize];  // 04 || X || Y
};

constexpr int kMaxTrustedKeys = 2;

// What the device knows about itself when it checks a manifest.
struct DeviceIdentity {
  const char* product;               // NUL-terminated
  uint16_t chip_id;
  const char* device_id;             // NUL-terminated
  TrustedKey keys[kMaxTrustedKeys];
  uint32_t security_counter;         // highest counter of a confirmed release
  uint8_t nonce[kNonceSize];         // the nonce sent with this check-in
  uint8_t running_sha256[32];        // SHA-256 of the image now running
  uint32_t ram_budget;               // bytes the device can give the payload decoder
  uint32_t record_budget;            // bytes of record buffer (RAM, or staging on the original path)
};

// Computes a key id: the first 8 bytes of SHA-256 of the public point.
Status key_id_of(const CryptoPort* crypto, const uint8_t public_key[kPublicKeySize],
                 uint8_t key_id[kKeyIdSize]);

// Parses and checks an update manifest (kind 1) in the order of
// docs/protocol.md §2.2; on kStatusOk *m holds it. Nothing is downloaded or
// written before this returns kStatusOk.
Status manifest_verify(const CryptoPort* crypto, const DeviceIdentity* device, const uint8_t* buf,
                       size_t len, Manifest* m);

// Checks a key manifest (kind 2): trusted signer, signature, device nonce,
// counter. The caller then stores m->new_public_key and retires
// m->retire_key_id if it is non-zero.
Status key_manifest_verify(const CryptoPort* crypto, const DeviceIdentity* device,
                           const uint8_t* buf, size_t len, Manifest* m);

// The key that opens the records: for encryption 1 the content key
// unwrapped with the device key, for encryption 2 the device key itself.
Status manifest_record_key(const CryptoPort* crypto, const Manifest* m,
                           const uint8_t device_key[32], uint8_t key[32]);

// Receives each authenticated plaintext chunk, in order. A non-OK status
// stops the stream and is returned by record_decoder_feed.
struct RecordSink {
  void* ctx;
  Status (*chunk)(void* ctx, const uint8_t* data, size_t len);
};

// Bytes of buffer the record decoder needs for this manifest: one whole
// record (29 + chunk + 32; 4,157 at the default 4 KiB chunk).
uint32_t record_buffer_size(const Manifest* m);

struct RecordDecoder {
  const CryptoPort* crypto;
  RecordSink sink;
  uint8_t key[32];
  uint8_t nonce_prefix[8];
  uint8_t expected[32];        // SHA-256 the next record must have
  uint8_t payload_sha256[32];
  Sha256State payload_hash;
  uint32_t payload_size;
  uint32_t chunk_size;
  uint32_t record_count;
  uint32_t index;              // record being received
  uint32_t fill;               // bytes of it in buf
  uint8_t* buf;
  uint32_t buf_size;
  Status status;               // sticky error, or kStatusDone
  uint8_t hash_open;           // payload_hash begun and not yet finished
  uint8_t anchored;            // `expected` holds record index's digest
  uint8_t check_payload;       // payload_sha256 is checked at the end
  uint8_t learn_prefix;        // take nonce_prefix from record 0 (no manifest)
};

// REQUIRES: m was accepted by manifest_verify; key from
// manifest_record_key; buf of at least record_buffer_size(m) bytes. The
// decoder copies the key and wipes it when the stream ends or fails.
Status record_decoder_init(RecordDecoder* d, const CryptoPort* crypto, const Manifest* m,
                           const uint8_t key[32], uint8_t* buf, uint32_t buf_size,
                           RecordSink sink);

// Continues a stream from a checkpoint taken between two records: record
// `index` comes next and must hash to `expected` (the chain digest the
// previous record carried). The payload digest is not checked again on a
// resumed stream: the hash chain, anchored in the signed manifest, already
// authenticates every record before it is used.
Status record_decoder_resume(RecordDecoder* d, const CryptoPort* crypto, const Manifest* m,
                             const uint8_t key[32], uint8_t* buf, uint32_t buf_size,
                             RecordSink sink, uint32_t index, const uint8_t expected[32]);

// The original path's stream without a manifest (docs/protocol.md §3): the
// geometry from the stream's size alone; false if no geometry gives it.
bool legacy_stream_geometry(uint32_t stream_size, uint32_t* payload_size, uint32_t* chunk_size);

// Opens such a stream under the device key: nonces and chain digests are
// checked from record 1 on; record 0 and the whole payload are the caller's
// to authenticate (the detached signature over the decrypted patch).
Status record_decoder_init_unanchored(RecordDecoder* d, const CryptoPort* crypto,
                                      uint32_t stream_size, const uint8_t key[32], uint8_t* buf,
                                      uint32_t buf_size, RecordSink sink);

// Takes stream bytes as they arrive (any split). Returns kStatusOk (more
// expected), kStatusDone (every record authenticated, the payload digest
// matches and the sink accepted everything) or the first error.
Status record_decoder_feed(RecordDecoder* d, const uint8_t* data, size_t n);

// Forgets the bytes of a record received only in part (a transport that
// stopped mid-record), so the stream continues at that record's first byte
// and the record buffer is free meanwhile. Returns how many bytes were
// dropped (the caller's stream offset goes back by as many).
uint32_t record_decoder_drop_partial(RecordDecoder* d);

// At the end of the transport: kStatusDone, kStatusTruncated or the error.
Status record_decoder_finish(RecordDecoder* d);

}  // namespace ota

#endif  // OTA_ENVELOPE_H
