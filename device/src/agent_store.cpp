// What the agent persists: its state (kBlobState) and download checkpoints
// (kBlobCheckpoint), in the fixed layouts of docs/device.md, each ending in
// a CRC-32 of everything before it.
#include <string.h>

#include "agent_internal.h"
#include "ota/crc32.h"

namespace ota {
namespace agent_detail {

namespace {

constexpr uint8_t kStateMagic[4] = {'O', 'T', 'A', 'S'};
constexpr uint8_t kStateVersion = 1;
constexpr uint8_t kCheckpointMagic[4] = {'O', 'T', 'C', 'K'};
constexpr uint8_t kCheckpointVersion = 1;

// A checkpoint holds raw decoder structs: it is only valid for the build
// that wrote it. The layout word changes whenever their sizes do; a new
// firmware never meets an old checkpoint anyway (it is removed when an
// update completes or is abandoned).
uint32_t decoder_layout() {
  return (uint32_t)sizeof(PatchDecoder) ^ ((uint32_t)sizeof(LzmaDecoder) << 16) ^
         ((uint32_t)kCheckpointVersion << 28);
}

void flush(BlobWriter* w) {
  if (w->len == 0 || w->error) return;
  if (w->port->append(w->port->ctx, w->buf, w->len) != 0) w->error = 1;
  w->len = 0;
}

}  // namespace

void writer_begin(BlobWriter* w, const StatePort* port, uint8_t blob) {
  memset(w, 0, sizeof(*w));
  w->port = port;
  if (port->begin(port->ctx, blob) != 0) w->error = 1;
}

void put(BlobWriter* w, const void* data, uint32_t len) {
  const uint8_t* p = (const uint8_t*)data;
  w->crc = crc32_update(w->crc, p, len);
  w->total += len;
  while (len > 0 && !w->error) {
    uint32_t take = (uint32_t)sizeof(w->buf) - w->len;
    if (take > len) take = len;
    memcpy(w->buf + w->len, p, take);
    w->len += take;
    p += take;
    len -= take;
    if (w->len == sizeof(w->buf)) flush(w);
  }
}

void put_u8(BlobWriter* w, uint8_t v) { put(w, &v, 1); }

void put_u32(BlobWriter* w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(w, b, 4);
}

int writer_commit(BlobWriter* w) {
  put_u32(w, w->crc);
  flush(w);
  if (w->error) return -1;
  return w->port->commit(w->port->ctx);
}

void reader_begin(BlobReader* r, const StatePort* port, uint8_t blob, uint32_t size) {
  memset(r, 0, sizeof(*r));
  r->port = port;
  r->blob = blob;
  r->size = size;
}

void get(BlobReader* r, void* out, uint32_t len) {
  if (r->error || len > r->size - r->pos ||
      r->port->read(r->port->ctx, r->blob, r->pos, (uint8_t*)out, len) != 0) {
    r->error = 1;
    memset(out, 0, len);
    return;
  }
  r->crc = crc32_update(r->crc, (const uint8_t*)out, len);
  r->pos += len;
}

uint8_t get_u8(BlobReader* r) {
  uint8_t v = 0;
  get(r, &v, 1);
  return v;
}

uint32_t get_u32(BlobReader* r) {
  uint8_t b[4];
  get(r, b, 4);
  return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

bool blob_crc_ok(const StatePort* port, uint8_t blob, uint32_t size, uint8_t* scratch,
                 uint32_t scratch_size) {
  if (size < 8 || scratch_size < 4) return false;
  uint32_t crc = 0;
  uint32_t pos = 0;
  uint32_t body = size - 4;
  while (pos < body) {
    uint32_t take = body - pos < scratch_size ? body - pos : scratch_size;
    if (port->read(port->ctx, blob, pos, scratch, take) != 0) return false;
    crc = crc32_update(crc, scratch, take);
    pos += take;
  }
  uint8_t b[4];
  if (port->read(port->ctx, blob, body, b, 4) != 0) return false;
  uint32_t stored = (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
  return stored == crc;
}

// ---------------------------------------------------------------------------
// State.

namespace {

void put_str(BlobWriter* w, const char* s, uint32_t field) {
  uint8_t zero[1] = {0};
  uint32_t n = 0;
  while (n + 1 < field && s[n] != 0) ++n;
  put(w, s, n);
  for (uint32_t i = n; i < field; ++i) put(w, zero, 1);
}

void get_str(BlobReader* r, char* s, uint32_t field) {
  get(r, s, field);
  s[field - 1] = 0;
}

}  // namespace

Status state_save(Agent* a) {
  const AgentState& st = a->st;
  BlobWriter w;
  writer_begin(&w, a->ports.state, kBlobState);
  put(&w, kStateMagic, 4);
  put_u8(&w, kStateVersion);
  put_u32(&w, st.security_counter);
  for (int i = 0; i < kMaxTrustedKeys; ++i) {
    put_u8(&w, st.keys[i].in_use);
    put(&w, st.keys[i].key_id, kKeyIdSize);
    put(&w, st.keys[i].public_key, kPublicKeySize);
  }
  put_str(&w, st.running_version, sizeof(st.running_version));
  put(&w, st.running_sha256, 32);
  put_u8(&w, st.pending);
  put_u8(&w, st.pending_slot);
  put_u8(&w, st.pending_attempts);
  put_u8(&w, st.pending_legacy);
  put_str(&w, st.pending_version, sizeof(st.pending_version));
  put(&w, st.pending_sha256, 32);
  put_u32(&w, st.pending_counter);
  put_str(&w, st.report_state, sizeof(st.report_state));
  put_str(&w, st.report_version, sizeof(st.report_version));
  put_str(&w, st.report_detail, sizeof(st.report_detail));
  put_str(&w, st.legacy_blocked, sizeof(st.legacy_blocked));
  put_str(&w, st.legacy_staged, sizeof(st.legacy_staged));
  put_u32(&w, st.legacy_total);
  return writer_commit(&w) == 0 ? kStatusOk : kStatusStateError;
}

Status state_load(Agent* a, bool* found) {
  *found = false;
  const StatePort* port = a->ports.state;
  uint32_t size = 0;
  if (port->size(port->ctx, kBlobState, &size) != 0) return kStatusStateError;
  if (size == 0) return kStatusOk;
  uint8_t scratch[128];
  if (!blob_crc_ok(port, kBlobState, size, scratch, sizeof(scratch))) return kStatusStateError;
  BlobReader r;
  reader_begin(&r, port, kBlobState, size);
  uint8_t magic[4];
  get(&r, magic, 4);
  if (memcmp(magic, kStateMagic, 4) != 0 || get_u8(&r) != kStateVersion) return kStatusStateError;
  AgentState st;
  memset(&st, 0, sizeof(st));
  st.security_counter = get_u32(&r);
  for (int i = 0; i < kMaxTrustedKeys; ++i) {
    st.keys[i].in_use = get_u8(&r);
    get(&r, st.keys[i].key_id, kKeyIdSize);
    get(&r, st.keys[i].public_key, kPublicKeySize);
  }
  get_str(&r, st.running_version, sizeof(st.running_version));
  get(&r, st.running_sha256, 32);
  st.pending = get_u8(&r);
  st.pending_slot = get_u8(&r);
  st.pending_attempts = get_u8(&r);
  st.pending_legacy = get_u8(&r);
  get_str(&r, st.pending_version, sizeof(st.pending_version));
  get(&r, st.pending_sha256, 32);
  st.pending_counter = get_u32(&r);
  get_str(&r, st.report_state, sizeof(st.report_state));
  get_str(&r, st.report_version, sizeof(st.report_version));
  get_str(&r, st.report_detail, sizeof(st.report_detail));
  get_str(&r, st.legacy_blocked, sizeof(st.legacy_blocked));
  get_str(&r, st.legacy_staged, sizeof(st.legacy_staged));
  st.legacy_total = get_u32(&r);
  if (r.error || r.pos + 4 != size || st.pending_slot > 1) return kStatusStateError;
  a->st = st;
  *found = true;
  return kStatusOk;
}

// ---------------------------------------------------------------------------
// Checkpoints.
//
// Taken between two records, after record k-1 was passed on: everything a
// reset would lose. The new image's bytes in flash up to write_pos survive a
// reset, but the sector holding write_pos is only partly written and the
// decoder will write the rest of it again: so the checkpoint also carries
// that sector's head, and a restore erases the sector and writes the head
// back before the decoder continues.

Status checkpoint_save(Agent* a) {
  const Manifest& m = a->manifest;
  BlobWriter w;
  writer_begin(&w, a->ports.state, kBlobCheckpoint);
  put(&w, kCheckpointMagic, 4);
  put_u32(&w, decoder_layout());
  put_u32(&w, a->manifest_len);
  put(&w, a->manifest_buf, a->manifest_len);
  put_u32(&w, a->stream_pos);
  put_u32(&w, a->rec.index);
  put(&w, a->rec.expected, 32);
  put_u32(&w, a->payload_pos);
  put_u32(&w, a->write_pos);
  put_u8(&w, (uint8_t)a->target_slot);
  if (m.payload_type == kPayloadPatch) {
    put_u32(&w, (uint32_t)sizeof(PatchDecoder));
    put(&w, &a->patch, sizeof(PatchDecoder));
    uint32_t used = patch_decoder_workspace_used(&a->patch);
    put_u32(&w, used);
    put(&w, a->cfg.workspace, used);
  } else {
    put_u32(&w, 0);
  }
  // The head of the sector being written, read back from flash.
  uint32_t head = a->write_pos % kFlashSectorSize;
  uint32_t at = a->write_pos - head;
  put_u32(&w, head);
  uint8_t piece[128];
  while (head > 0 && !w.error) {
    uint32_t take = head < sizeof(piece) ? head : (uint32_t)sizeof(piece);
    if (a->ports.flash->read(a->ports.flash->ctx, a->target_slot, at, piece, take) != 0) {
      w.error = 1;
      break;
    }
    put(&w, piece, take);
    at += take;
    head -= take;
  }
  if (writer_commit(&w) != 0) return kStatusStateError;
  a->stats.checkpoints++;
  return kStatusOk;
}

void checkpoint_remove(Agent* a) {
  uint32_t size = 0;
  const StatePort* port = a->ports.state;
  if (port->size(port->ctx, kBlobCheckpoint, &size) == 0 && size > 0)
    port->remove(port->ctx, kBlobCheckpoint);
}

namespace {

// The same stream: every byte the device will receive is the same.
bool same_stream(const Manifest& x, const Manifest& y) {
  return x.payload_type == y.payload_type && x.payload_size == y.payload_size &&
         x.stream_size == y.stream_size && x.chunk_size == y.chunk_size &&
         x.to_size == y.to_size && memcmp(x.to_sha256, y.to_sha256, 32) == 0 &&
         memcmp(x.from_sha256, y.from_sha256, 32) == 0 &&
         memcmp(x.payload_sha256, y.payload_sha256, 32) == 0 &&
         memcmp(x.first_record_sha256, y.first_record_sha256, 32) == 0 &&
         memcmp(x.nonce_prefix, y.nonce_prefix, 8) == 0;
}

}  // namespace

bool checkpoint_restore(Agent* a, const uint8_t record_key[32]) {
  const StatePort* port = a->ports.state;
  uint32_t size = 0;
  if (port->size(port->ctx, kBlobCheckpoint, &size) != 0 || size == 0) return false;
  // The record buffer is free until the download starts: use it to check
  // the CRC, then to hold the stored manifest.
  if (!blob_crc_ok(port, kBlobCheckpoint, size, a->cfg.record_buffer, a->cfg.record_buffer_size)) {
    log_line(a, kLogWarn, "checkpoint is corrupt: starting over");
    checkpoint_remove(a);
    return false;
  }
  BlobReader r;
  reader_begin(&r, port, kBlobCheckpoint, size);
  uint8_t magic[4];
  get(&r, magic, 4);
  uint32_t layout = get_u32(&r);
  uint32_t mlen = get_u32(&r);
  if (r.error || memcmp(magic, kCheckpointMagic, 4) != 0 || layout != decoder_layout() ||
      mlen == 0 || mlen > kManifestMaxSize || mlen > a->cfg.record_buffer_size) {
    checkpoint_remove(a);
    return false;
  }
  uint8_t* stored = a->cfg.record_buffer;
  get(&r, stored, mlen);
  Manifest old;
  if (r.error || manifest_parse(stored, mlen, &old) != kStatusOk || !same_stream(old, a->manifest)) {
    log_line(a, kLogInfo, "checkpoint is for another release: starting over");
    checkpoint_remove(a);
    return false;
  }
  uint32_t stream_pos = get_u32(&r);
  uint32_t index = get_u32(&r);
  uint8_t expected[32];
  get(&r, expected, 32);
  uint32_t payload_pos = get_u32(&r);
  uint32_t write_pos = get_u32(&r);
  uint8_t slot = get_u8(&r);
  uint32_t decoder_size = get_u32(&r);
  const Manifest& m = a->manifest;
  bool ok = !r.error && slot == (uint8_t)(1 - a->running_slot) && stream_pos < m.stream_size &&
            payload_pos < m.payload_size && write_pos <= m.to_size;
  if (ok && m.payload_type == kPayloadPatch) {
    ok = decoder_size == sizeof(PatchDecoder);
    if (ok) get(&r, &a->patch, sizeof(PatchDecoder));
    uint32_t used = ok ? get_u32(&r) : 0;
    ok = ok && !r.error && used <= a->cfg.workspace_size;
    if (ok) get(&r, a->cfg.workspace, used);
    ok = ok && !r.error &&
         patch_decoder_rebind(&a->patch, &a->patch_io, a->cfg.workspace, a->cfg.workspace_size) ==
             kStatusOk;
    if (ok) patch_decoder_expect(&a->patch, m.from_sha256, m.to_sha256, m.to_size);
  } else if (ok) {
    ok = decoder_size == 0 && write_pos == payload_pos;
  }
  uint32_t head = get_u32(&r);
  ok = ok && !r.error && head == write_pos % kFlashSectorSize;
  a->target_slot = slot;
  if (ok) {
    ok = record_decoder_resume(&a->rec, a->ports.crypto, &m, record_key, a->cfg.record_buffer,
                               a->cfg.record_buffer_size, RecordSink{a, record_chunk}, index,
                               expected) == kStatusOk;
  }
  // The expected stream offset of record `index` must be where we resume.
  if (ok) {
    uint32_t per = kRecordOverhead + m.chunk_size + kChainHashSize;
    ok = (uint64_t)index * per == stream_pos && (uint64_t)index * m.chunk_size == payload_pos;
  }
  // Put the partly written sector back: erase it, rewrite its head. A reset
  // in between is harmless: the checkpoint still holds the head.
  const FlashPort* f = a->ports.flash;
  uint32_t sector = write_pos - head;
  if (ok && head > 0) {
    ok = f->erase(f->ctx, slot, sector, kFlashSectorSize) == 0;
    uint8_t piece[128];
    uint32_t at = sector;
    uint32_t left = head;
    while (ok && left > 0) {
      uint32_t take = left < sizeof(piece) ? left : (uint32_t)sizeof(piece);
      get(&r, piece, take);
      ok = !r.error && f->write(f->ctx, slot, at, piece, take) == 0;
      at += take;
      left -= take;
    }
  }
  if (!ok) {
    log_line(a, kLogWarn, "checkpoint does not match this download: starting over");
    record_decoder_finish(&a->rec);
    checkpoint_remove(a);
    return false;
  }
  a->stream_pos = stream_pos;
  a->payload_pos = payload_pos;
  a->write_pos = write_pos;
  a->erased_to = head > 0 ? sector + kFlashSectorSize : write_pos;
  a->stats.resumed_from_checkpoint++;
  return true;
}

}  // namespace agent_detail
}  // namespace ota
