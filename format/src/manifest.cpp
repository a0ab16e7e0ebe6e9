#include "ota/manifest.h"

#include <string.h>

#include "ota/patch_format.h"

namespace ota {

namespace {

// Bounded little-endian reader over the manifest buffer: every read checks
// the remaining length, and the first failure sticks.
struct Reader {
  const uint8_t* p;
  size_t left;
  bool ok;

  bool take(void* out, size_t n) {
    if (!ok || left < n) return ok = false;
    memcpy(out, p, n);
    p += n;
    left -= n;
    return true;
  }
  uint8_t u8() {
    uint8_t v = 0;
    take(&v, 1);
    return v;
  }
  uint16_t u16() {
    uint8_t b[2] = {0, 0};
    take(b, 2);
    return (uint16_t)(b[0] | (b[1] << 8));
  }
  uint32_t u32() {
    uint8_t b[4] = {0, 0, 0, 0};
    take(b, 4);
    return load_le32(b);
  }
  uint64_t u64() {
    uint32_t lo = u32();
    uint32_t hi = u32();
    return (uint64_t)hi << 32 | lo;
  }
  template <uint8_t Max>
  void str(ShortString<Max>* s) {
    s->len = u8();
    if (s->len > Max) {
      ok = false;
      return;
    }
    take(s->bytes, s->len);
  }
};

struct Writer {
  uint8_t* p;
  size_t cap;
  size_t used;
  bool ok;

  void put(const void* data, size_t n) {
    if (!ok || cap - used < n) {
      ok = false;
      return;
    }
    memcpy(p + used, data, n);
    used += n;
  }
  void u8(uint8_t v) { put(&v, 1); }
  void u16(uint16_t v) {
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(b, 2);
  }
  void u32(uint32_t v) {
    uint8_t b[4];
    store_le32(b, v);
    put(b, 4);
  }
  void u64(uint64_t v) {
    u32((uint32_t)v);
    u32((uint32_t)(v >> 32));
  }
  template <uint8_t Max>
  void str(const ShortString<Max>& s) {
    if (s.len > Max) {
      ok = false;
      return;
    }
    u8(s.len);
    put(s.bytes, s.len);
  }
};

bool id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Ids: 1..Max of [A-Za-z0-9._-]; versions additionally allow '+' and may be
// empty where the field is optional.
template <uint8_t Max>
bool valid_text(const ShortString<Max>& s, bool allow_empty, bool allow_plus) {
  if (s.len == 0) return allow_empty;
  for (uint8_t i = 0; i < s.len; ++i)
    if (!id_char(s.bytes[i]) && !(allow_plus && s.bytes[i] == '+')) return false;
  return true;
}

bool all_zero(const uint8_t* p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

void write_common(Writer& w, const Manifest& m) {
  w.put(kManifestMagic, 4);
  w.u8(m.version);
  w.u8(m.kind);
  w.put(m.key_id, kKeyIdSize);
  w.u32(m.security_counter);
  w.put(m.device_nonce, kNonceSize);
  w.u64(m.issued_at);
}

void write_update(Writer& w, const Manifest& m) {
  w.str(m.product);
  w.u16(m.chip_id);
  w.str(m.device_id);
  w.str(m.from_version);
  w.put(m.from_sha256, 32);
  w.str(m.to_version);
  w.put(m.to_sha256, 32);
  w.u32(m.to_size);
  w.u8(m.payload_type);
  w.u32(m.payload_size);
  w.put(m.payload_sha256, 32);
  w.u8(m.payload_codec);
  w.u32(m.payload_ram);
  w.u8(m.encryption);
  w.u32(m.chunk_size);
  w.u32(m.record_count);
  w.u32(m.stream_size);
  w.put(m.nonce_prefix, 8);
  w.put(m.first_record_sha256, 32);
  w.put(m.wrapped_key, kWrappedKeySize);
}

void read_update(Reader& r, Manifest* m) {
  r.str(&m->product);
  m->chip_id = r.u16();
  r.str(&m->device_id);
  r.str(&m->from_version);
  r.take(m->from_sha256, 32);
  r.str(&m->to_version);
  r.take(m->to_sha256, 32);
  m->to_size = r.u32();
  m->payload_type = r.u8();
  m->payload_size = r.u32();
  r.take(m->payload_sha256, 32);
  m->payload_codec = r.u8();
  m->payload_ram = r.u32();
  m->encryption = r.u8();
  m->chunk_size = r.u32();
  m->record_count = r.u32();
  m->stream_size = r.u32();
  r.take(m->nonce_prefix, 8);
  r.take(m->first_record_sha256, 32);
  r.take(m->wrapped_key, kWrappedKeySize);
}

// Field-level rules of a kind-1 manifest beyond its layout.
bool valid_update(const Manifest& m) {
  if (!valid_text(m.product, false, false) || !valid_text(m.device_id, false, false) ||
      !valid_text(m.to_version, false, true))
    return false;
  if (m.to_size == 0 || m.payload_size == 0) return false;
  switch (m.payload_type) {
    case kPayloadFullImage:
      if (m.from_version.len != 0 || !all_zero(m.from_sha256, 32)) return false;
      if (m.payload_size != m.to_size || m.payload_codec != 0) return false;
      break;
    case kPayloadPatch:
      if (!valid_text(m.from_version, false, true)) return false;
      break;
    default:
      return false;
  }
  if (m.encryption != kEncryptionWrappedKey && m.encryption != kEncryptionDeviceKey) return false;
  if (m.encryption == kEncryptionDeviceKey && !all_zero(m.wrapped_key, kWrappedKeySize))
    return false;
  uint32_t count = 0, stream = 0;
  if (!record_geometry(m.payload_size, m.chunk_size, &count, &stream)) return false;
  return count == m.record_count && stream == m.stream_size;
}

}  // namespace

bool record_geometry(uint32_t payload_size, uint32_t chunk_size, uint32_t* record_count,
                     uint32_t* stream_size) {
  if (chunk_size == 0 || payload_size == 0) return false;
  uint64_t n = ((uint64_t)payload_size + chunk_size - 1) / chunk_size;
  // Every record but the last carries a full chunk plus the chain hash.
  if (n > 1 && (uint64_t)chunk_size + kChainHashSize > kMaxRecordPlaintext) return false;
  if (n == 1 && payload_size > kMaxRecordPlaintext) return false;
  uint64_t stream = n * kRecordOverhead + payload_size + (n - 1) * kChainHashSize;
  if (stream > 0xFFFFFFFFu) return false;
  *record_count = (uint32_t)n;
  *stream_size = (uint32_t)stream;
  return true;
}

uint32_t record_ciphertext_size(uint32_t payload_size, uint32_t chunk_size,
                                uint32_t record_count, uint32_t index) {
  if (index + 1 < record_count) return chunk_size + kChainHashSize;
  return payload_size - (record_count - 1) * chunk_size;
}

void record_nonce(const uint8_t prefix[8], uint32_t index, bool last, uint8_t out[13]) {
  memcpy(out, prefix, 8);
  out[8] = (uint8_t)(index >> 24);
  out[9] = (uint8_t)(index >> 16);
  out[10] = (uint8_t)(index >> 8);
  out[11] = (uint8_t)index;
  out[12] = last ? 0x01 : 0x00;
}

Status manifest_parse(const uint8_t* buf, size_t len, Manifest* m) {
  if (!buf || !m || len > kManifestMaxSize) return kStatusManifestMalformed;
  memset(m, 0, sizeof(*m));
  Reader r{buf, len, true};
  uint8_t magic[4] = {0, 0, 0, 0};
  r.take(magic, 4);
  if (!r.ok || memcmp(magic, kManifestMagic, 4) != 0) return kStatusManifestMalformed;
  m->version = r.u8();
  m->kind = r.u8();
  if (m->version != kManifestVersion) return kStatusManifestMalformed;
  r.take(m->key_id, kKeyIdSize);
  m->security_counter = r.u32();
  r.take(m->device_nonce, kNonceSize);
  m->issued_at = r.u64();
  if (m->kind == kManifestUpdate) {
    read_update(r, m);
  } else if (m->kind == kManifestKey) {
    r.take(m->new_public_key, kPublicKeySize);
    r.take(m->retire_key_id, kKeyIdSize);
  } else {
    return kStatusManifestMalformed;
  }
  if (!r.ok) return kStatusManifestMalformed;
  m->signed_size = (uint16_t)(len - r.left);
  m->signature_size = r.u8();
  if (m->signature_size < 8 || m->signature_size > kMaxSignatureSize) return kStatusManifestMalformed;
  r.take(m->signature, m->signature_size);
  if (!r.ok || r.left != 0) return kStatusManifestMalformed;
  if (m->kind == kManifestUpdate && !valid_update(*m)) return kStatusManifestMalformed;
  if (m->kind == kManifestKey && m->new_public_key[0] != 0x04) return kStatusManifestMalformed;
  return kStatusOk;
}

size_t manifest_write_signed_part(const Manifest& m, uint8_t* out, size_t cap) {
  Writer w{out, cap, 0, true};
  write_common(w, m);
  if (m.kind == kManifestUpdate) {
    write_update(w, m);
  } else if (m.kind == kManifestKey) {
    w.put(m.new_public_key, kPublicKeySize);
    w.put(m.retire_key_id, kKeyIdSize);
  } else {
    return 0;
  }
  return w.ok ? w.used : 0;
}

}  // namespace ota
