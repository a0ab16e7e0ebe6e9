// Manifest verification and the record stream (docs/protocol.md §2–§3).
#include "ota/envelope.h"

#include <string.h>

#include "ota/patch_format.h"

namespace ota {

namespace {

// Constant-time equality: the time does not depend on where bytes differ.
bool ct_equal(const uint8_t* a, const uint8_t* b, size_t n) {
  uint8_t diff = 0;
  for (size_t i = 0; i < n; ++i) diff |= (uint8_t)(a[i] ^ b[i]);
  return diff == 0;
}

void wipe(void* p, size_t n) {
  volatile uint8_t* v = (volatile uint8_t*)p;
  while (n--) *v++ = 0;
}

template <uint8_t Max>
bool text_equals(const ShortString<Max>& s, const char* text) {
  size_t n = text ? strlen(text) : 0;
  return n == s.len && memcmp(s.bytes, text, n) == 0;
}

// One-shot SHA-256. A begun state is always finished (a port may hold
// hardware from begin to finish).
Status sha256(const CryptoPort* c, const uint8_t* data, size_t len, uint8_t out[32]) {
  Sha256State s;
  if (c->sha256_begin(c->ctx, &s) != 0) return kStatusCryptoError;
  int update_rc = c->sha256_update(c->ctx, &s, data, len);
  int finish_rc = c->sha256_finish(c->ctx, &s, out);
  return (update_rc == 0 && finish_rc == 0) ? kStatusOk : kStatusCryptoError;
}

// Steps 1–3 and 6–7 of §2.2, shared by both manifest kinds.
Status check_signed(const CryptoPort* crypto, const DeviceIdentity* dev, const uint8_t* buf,
                    size_t len, Manifest* m) {
  Status s = manifest_parse(buf, len, m);
  if (s != kStatusOk) return s;
  const TrustedKey* signer = nullptr;
  for (int i = 0; i < kMaxTrustedKeys; ++i)
    if (dev->keys[i].in_use && memcmp(dev->keys[i].key_id, m->key_id, kKeyIdSize) == 0)
      signer = &dev->keys[i];
  if (!signer) return kStatusUnknownKey;
  uint8_t digest[32];
  s = sha256(crypto, buf, m->signed_size, digest);
  if (s != kStatusOk) return s;
  if (crypto->ecdsa_p256_verify(crypto->ctx, signer->public_key, digest, m->signature,
                                m->signature_size) != 0)
    return kStatusBadSignature;
  return kStatusOk;
}

Status check_fresh(const DeviceIdentity* dev, const Manifest* m) {
  if (!ct_equal(m->device_nonce, dev->nonce, kNonceSize)) return kStatusStaleManifest;
  if (m->security_counter < dev->security_counter) return kStatusDowngrade;
  return kStatusOk;
}

}  // namespace

Status key_id_of(const CryptoPort* crypto, const uint8_t public_key[kPublicKeySize],
                 uint8_t key_id[kKeyIdSize]) {
  uint8_t digest[32];
  Status s = sha256(crypto, public_key, kPublicKeySize, digest);
  if (s == kStatusOk) memcpy(key_id, digest, kKeyIdSize);
  return s;
}

Status manifest_verify(const CryptoPort* crypto, const DeviceIdentity* dev, const uint8_t* buf,
                       size_t len, Manifest* m) {
  if (!crypto || !dev || !m) return kStatusBadArgument;
  Status s = check_signed(crypto, dev, buf, len, m);
  if (s != kStatusOk) return s;
  if (m->kind != kManifestUpdate) return kStatusManifestMalformed;
  if (!text_equals(m->product, dev->product) ||
      (m->chip_id != kChipAny && m->chip_id != dev->chip_id))
    return kStatusWrongProduct;
  if (!text_equals(m->device_id, dev->device_id)) return kStatusWrongDevice;
  s = check_fresh(dev, m);
  if (s != kStatusOk) return s;
  if (m->payload_type == kPayloadPatch && !ct_equal(m->from_sha256, dev->running_sha256, 32))
    return kStatusOldHashMismatch;
  bool codec_known = m->payload_type == kPayloadFullImage
                         ? m->payload_codec == 0
                         : (m->payload_codec == kCodecNone || m->payload_codec == kCodecLzma);
  if (!codec_known || m->payload_ram > dev->ram_budget ||
      record_buffer_size(m) > dev->record_budget)
    return kStatusUnsupportedPayload;
  return kStatusOk;
}

Status key_manifest_verify(const CryptoPort* crypto, const DeviceIdentity* dev,
                           const uint8_t* buf, size_t len, Manifest* m) {
  if (!crypto || !dev || !m) return kStatusBadArgument;
  Status s = check_signed(crypto, dev, buf, len, m);
  if (s != kStatusOk) return s;
  if (m->kind != kManifestKey) return kStatusManifestMalformed;
  return check_fresh(dev, m);
}

Status manifest_record_key(const CryptoPort* crypto, const Manifest* m,
                           const uint8_t device_key[32], uint8_t key[32]) {
  if (m->encryption == kEncryptionDeviceKey) {
    memcpy(key, device_key, 32);
    return kStatusOk;
  }
  if (m->encryption != kEncryptionWrappedKey) return kStatusUnsupportedPayload;
  // wrapped_key = nonce(13) | tag(16) | AES-256-CCM(device key, content key)
  const uint8_t* w = m->wrapped_key;
  if (crypto->aes256_ccm_decrypt(crypto->ctx, device_key, w, w + 29, 32, w + 13, key) != 0) {
    wipe(key, 32);
    return kStatusKeyUnwrapFailed;
  }
  return kStatusOk;
}

uint32_t record_buffer_size(const Manifest* m) {
  uint32_t largest = record_ciphertext_size(m->payload_size, m->chunk_size, m->record_count, 0);
  return kRecordOverhead + largest;
}

Status record_decoder_init(RecordDecoder* d, const CryptoPort* crypto, const Manifest* m,
                           const uint8_t key[32], uint8_t* buf, uint32_t buf_size,
                           RecordSink sink) {
  if (!d) return kStatusBadArgument;
  memset(d, 0, sizeof(*d));
  d->status = kStatusBadArgument;
  if (!crypto || !m || !key || !buf || !sink.chunk || m->kind != kManifestUpdate)
    return kStatusBadArgument;
  if (buf_size < record_buffer_size(m)) return kStatusWorkspaceTooSmall;
  d->crypto = crypto;
  d->sink = sink;
  memcpy(d->key, key, 32);
  memcpy(d->nonce_prefix, m->nonce_prefix, 8);
  memcpy(d->expected, m->first_record_sha256, 32);
  memcpy(d->payload_sha256, m->payload_sha256, 32);
  d->payload_size = m->payload_size;
  d->chunk_size = m->chunk_size;
  d->record_count = m->record_count;
  d->buf = buf;
  d->buf_size = buf_size;
  d->anchored = 1;
  d->check_payload = 1;
  if (crypto->sha256_begin(crypto->ctx, &d->payload_hash) != 0) return kStatusCryptoError;
  d->hash_open = 1;
  d->status = kStatusOk;
  return kStatusOk;
}

Status record_decoder_resume(RecordDecoder* d, const CryptoPort* crypto, const Manifest* m,
                             const uint8_t key[32], uint8_t* buf, uint32_t buf_size,
                             RecordSink sink, uint32_t index, const uint8_t expected[32]) {
  if (!d) return kStatusBadArgument;
  Status s = record_decoder_init(d, crypto, m, key, buf, buf_size, sink);
  if (s != kStatusOk) return s;
  uint8_t scratch[32];
  d->hash_open = 0;
  if (crypto->sha256_finish(crypto->ctx, &d->payload_hash, scratch) != 0) {
    wipe(d->key, 32);
    d->status = kStatusCryptoError;
    return kStatusCryptoError;
  }
  d->check_payload = 0;
  if (!expected || index == 0 || index >= d->record_count) {
    wipe(d->key, 32);
    d->status = kStatusBadArgument;
    return kStatusBadArgument;
  }
  d->index = index;
  memcpy(d->expected, expected, 32);
  return kStatusOk;
}

bool legacy_stream_geometry(uint32_t stream_size, uint32_t* payload_size, uint32_t* chunk_size) {
  const uint32_t one_record_max = kRecordOverhead + kMaxRecordPlaintext;  // 65,564
  if (stream_size <= kRecordOverhead) return false;
  if (stream_size <= one_record_max) {
    *payload_size = stream_size - kRecordOverhead;
    *chunk_size = *payload_size;
    return true;
  }
  const uint32_t full = kRecordOverhead + kDefaultChunkSize + kChainHashSize;  // 4,157
  uint32_t n = (stream_size - kRecordOverhead - 1) / full + 1;
  uint64_t overhead = (uint64_t)kRecordOverhead * n + (uint64_t)kChainHashSize * (n - 1);
  if (overhead >= stream_size) return false;
  uint32_t payload = (uint32_t)(stream_size - overhead);
  // The last chunk holds 1..4096 bytes.
  if (payload <= (uint64_t)(n - 1) * kDefaultChunkSize || payload > (uint64_t)n * kDefaultChunkSize)
    return false;
  *payload_size = payload;
  *chunk_size = kDefaultChunkSize;
  return true;
}

Status record_decoder_init_unanchored(RecordDecoder* d, const CryptoPort* crypto,
                                      uint32_t stream_size, const uint8_t key[32], uint8_t* buf,
                                      uint32_t buf_size, RecordSink sink) {
  if (!d) return kStatusBadArgument;
  memset(d, 0, sizeof(*d));
  d->status = kStatusBadArgument;
  if (!crypto || !key || !buf || !sink.chunk) return kStatusBadArgument;
  uint32_t payload = 0, chunk = 0, count = 0, total = 0;
  if (!legacy_stream_geometry(stream_size, &payload, &chunk) ||
      !record_geometry(payload, chunk, &count, &total) || total != stream_size)
    return kStatusUnsupportedPayload;
  uint32_t largest = kRecordOverhead + record_ciphertext_size(payload, chunk, count, 0);
  if (buf_size < largest) return kStatusWorkspaceTooSmall;
  d->crypto = crypto;
  d->sink = sink;
  memcpy(d->key, key, 32);
  d->payload_size = payload;
  d->chunk_size = chunk;
  d->record_count = count;
  d->buf = buf;
  d->buf_size = buf_size;
  d->learn_prefix = 1;
  d->status = kStatusOk;
  return kStatusOk;
}

namespace {

Status fail(RecordDecoder* d, Status s) {
  d->status = s;
  if (d->hash_open) {  // every begun hash is finished (see crypto_port.h)
    uint8_t scratch[32];
    d->crypto->sha256_finish(d->crypto->ctx, &d->payload_hash, scratch);
    d->hash_open = 0;
  }
  wipe(d->key, 32);
  wipe(d->buf, d->buf_size);
  return s;
}

// A whole record is in buf: check it against the chain, open it, pass it on.
Status open_record(RecordDecoder* d, uint32_t size) {
  const CryptoPort* c = d->crypto;
  bool last = d->index + 1 == d->record_count;
  uint8_t nonce[13];
  if (d->learn_prefix && d->index == 0) memcpy(d->nonce_prefix, d->buf, 8);
  record_nonce(d->nonce_prefix, d->index, last, nonce);
  if (!ct_equal(nonce, d->buf, 13)) return kStatusRecordOutOfOrder;
  uint8_t digest[32];
  Status s = sha256(c, d->buf, size, digest);
  if (s != kStatusOk) return s;
  if (d->anchored && !ct_equal(digest, d->expected, 32)) return kStatusRecordChainBroken;
  d->anchored = 1;
  uint32_t ct_len = size - kRecordOverhead;
  uint8_t* plain = d->buf + kRecordOverhead;
  if (c->aes256_ccm_decrypt(c->ctx, d->key, d->buf, plain, ct_len, d->buf + 13, plain) != 0)
    return kStatusRecordAuthFailed;
  uint32_t chunk_len = ct_len;
  if (!last) {
    chunk_len -= kChainHashSize;
    memcpy(d->expected, plain + chunk_len, kChainHashSize);
  }
  if (d->check_payload &&
      c->sha256_update(c->ctx, &d->payload_hash, plain, chunk_len) != 0)
    return kStatusCryptoError;
  if (last && d->check_payload) {
    // Every chunk was authenticated on its own; this is the final cross-check
    // against the manifest's payload digest, before the sink's last chunk.
    d->hash_open = 0;
    if (c->sha256_finish(c->ctx, &d->payload_hash, digest) != 0) return kStatusCryptoError;
    if (!ct_equal(digest, d->payload_sha256, 32)) return kStatusPayloadHashMismatch;
  }
  return d->sink.chunk(d->sink.ctx, plain, chunk_len);
}

}  // namespace

Status record_decoder_feed(RecordDecoder* d, const uint8_t* data, size_t n) {
  if (!d) return kStatusBadArgument;
  if (status_is_error(d->status)) return kStatusAfterError;
  if (n == 0) return d->status;
  if (d->status == kStatusDone) return fail(d, kStatusTrailingData);
  if (!data) return fail(d, kStatusBadArgument);
  while (n > 0) {
    if (d->index == d->record_count) return fail(d, kStatusTrailingData);
    uint32_t size = kRecordOverhead +
                    record_ciphertext_size(d->payload_size, d->chunk_size, d->record_count, d->index);
    uint32_t take = size - d->fill;
    if (take > n) take = (uint32_t)n;
    memcpy(d->buf + d->fill, data, take);
    d->fill += take;
    data += take;
    n -= take;
    if (d->fill < size) break;
    Status s = open_record(d, size);
    if (s != kStatusOk) return fail(d, s);
    d->fill = 0;
    ++d->index;
  }
  if (d->index == d->record_count) {
    wipe(d->key, 32);
    d->status = kStatusDone;
  }
  return d->status;
}

uint32_t record_decoder_drop_partial(RecordDecoder* d) {
  if (!d || d->status != kStatusOk) return 0;
  uint32_t dropped = d->fill;
  if (d->buf) wipe(d->buf, d->fill);
  d->fill = 0;
  return dropped;
}

Status record_decoder_finish(RecordDecoder* d) {
  if (!d) return kStatusBadArgument;
  if (d->status == kStatusOk) return fail(d, kStatusTruncated);
  return d->status;
}

}  // namespace ota
