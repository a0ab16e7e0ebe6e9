// The device agent's state machine (ota/agent.h): boot check, check-in,
// manifest verification, download with resume, decrypt, decode into the
// inactive slot, verify, switch, confirm or roll back, and status reports.
#include "ota/agent.h"

#include <string.h>

#include "agent_internal.h"
#include "ota/esp_image.h"
#include "ota/json_scan.h"
#include "ota/pem.h"
#include "ota/text.h"

namespace ota {

using namespace agent_detail;

namespace agent_detail {

bool str_eq(const char* x, const char* y) {
  while (*x && *x == *y) {
    ++x;
    ++y;
  }
  return *x == *y;
}

void copy_str(char* dst, size_t cap, const char* src) {
  size_t n = 0;
  if (src)
    while (n + 1 < cap && src[n]) {
      dst[n] = src[n];
      ++n;
    }
  dst[n] = 0;
}

void log_line(Agent* a, uint8_t level, const char* a1, const char* a2, const char* a3) {
  const DisplayPort* d = a->ports.display;
  if (!d || !d->log) return;
  char line[160];
  size_t n = 0;
  const char* parts[3] = {a1, a2, a3};
  for (const char* part : parts)
    for (const char* p = part; p && *p && n + 1 < sizeof(line); ++p) line[n++] = *p;
  line[n] = 0;
  d->log(d->ctx, level, line);
}

}  // namespace agent_detail

namespace {

constexpr uint8_t kMaxSwitchAttempts = 3;
// A server's retry_after is honoured up to a day.
constexpr uint32_t kMaxRetryAfterS = 86400;

enum HttpMode : uint8_t { kHttpCollect = 0, kHttpStream = 1, kHttpStage = 2 };

// A bounded text builder (request paths and JSON bodies).
struct Text {
  char* p;
  size_t cap;
  size_t len;
};

void add(Text* t, const char* s) {
  while (s && *s && t->len + 1 < t->cap) t->p[t->len++] = *s++;
  t->p[t->len] = 0;
}

void add_u32(Text* t, uint32_t v) {
  char out[11];
  format_u32(v, out);
  add(t, out);
}

void add_hex(Text* t, const uint8_t* b, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n && t->len + 2 < t->cap; ++i) {
    t->p[t->len++] = kHex[b[i] >> 4];
    t->p[t->len++] = kHex[b[i] & 15];
  }
  t->p[t->len] = 0;
}

// A JSON string literal; ids and versions are plain, details are ours.
void add_json_str(Text* t, const char* s) {
  add(t, "\"");
  for (; s && *s && t->len + 3 < t->cap; ++s) {
    char c = *s;
    if (c == '"' || c == '\\') {
      t->p[t->len++] = '\\';
      t->p[t->len++] = c;
    } else if ((unsigned char)c >= 0x20) {
      t->p[t->len++] = c;
    }
  }
  t->p[t->len] = 0;
  add(t, "\"");
}

// ,"tags":{"k":"v",...} from "k=v,k=v" (at most 160 characters of it; a
// pair without '=' is skipped).
void add_tags(Text* t, const char* tags) {
  char key[33], value[161];
  add(t, ",\"tags\":{");
  bool first = true;
  size_t used = 0;
  for (const char* p = tags; *p && used < 160;) {
    const char* end = p;
    while (*end && *end != ',') ++end;
    const char* eq = p;
    while (eq < end && *eq != '=') ++eq;
    size_t klen = (size_t)(eq - p), vlen = eq < end ? (size_t)(end - eq - 1) : 0;
    if (eq < end && klen > 0 && klen < sizeof key && vlen < sizeof value) {
      memcpy(key, p, klen);
      key[klen] = 0;
      memcpy(value, eq + 1, vlen);
      value[vlen] = 0;
      if (!first) add(t, ",");
      add_json_str(t, key);
      add(t, ":");
      add_json_str(t, value);
      first = false;
    }
    used += (size_t)(end - p) + 1;
    p = *end ? end + 1 : end;
  }
  add(t, "}");
}

void show(Agent* a, const char* state, const char* detail) {
  const DisplayPort* d = a->ports.display;
  if (d && d->status) d->status(d->ctx, state, detail ? detail : "");
}

void progress(Agent* a, uint32_t done, uint32_t total) {
  const DisplayPort* d = a->ports.display;
  if (d && d->progress) d->progress(d->ctx, done, total);
}

// The poll cannot go on now (the server or the link failed); progress is
// kept. `why` becomes the agent's last_detail.
AgentResult retry_later(Agent* a, const char* why) {
  copy_str(a->last_detail, sizeof(a->last_detail), why);
  return kAgentRetry;
}

// The server answered with an HTTP error: "what: STATUS CODE", the code
// being the server's own when the body is its JSON error
// ({"error":{"code":...}}), becomes last_detail; the poll goes on later.
// http_status keeps the status, so a caller tells a refusal from a cut.
AgentResult refused_by_server(Agent* a, const char* what) {
  char detail[sizeof a->last_detail];
  Text t = {detail, sizeof detail, 0};
  add(&t, what);
  add(&t, ": ");
  add_u32(&t, a->http_status > 0 ? (uint32_t)a->http_status : 0);
  const char* body = (const char*)a->cfg.record_buffer;
  const char* error = nullptr;
  size_t error_len = 0;
  char code[48];
  if (json_get_object(body, a->resp_len, "error", &error, &error_len) == kStatusOk &&
      json_get_string(error, error_len, "code", code, sizeof code, nullptr) == kStatusOk) {
    add(&t, " ");
    add(&t, code);
  }
  return retry_later(a, detail);
}

AgentResult restart(Agent* a) {
  a->restarting = 1;
  a->ports.system->restart(a->ports.system->ctx);
  return kAgentRestart;
}

// --- HTTP ------------------------------------------------------------------

int http_begin(void* ctx, int status, int64_t length) {
  Agent* a = (Agent*)ctx;
  a->http_status = status;
  a->http_length = length;
  a->resp_len = 0;
  if (status != 200) a->skip = 0;  // 206 starts at the range; errors are collected whole
  // The original path learns the staged file's size from its first answer.
  if (a->http_mode == kHttpStage && length >= 0 && a->st.legacy_total == 0 &&
      (status == 200 || status == 206)) {
    uint64_t total = (uint64_t)length + (status == 206 ? a->stream_pos : 0);
    if (total == 0 || total > 0xFFFFFFFFu) return -1;
    a->st.legacy_total = (uint32_t)total;
  }
  return 0;
}

int http_data(void* ctx, const uint8_t* data, size_t len) {
  Agent* a = (Agent*)ctx;
  bool ok_status = a->http_status == 200 || a->http_status == 206;
  // An error answer to a download is not kept: the record buffer may hold
  // a partly received record that the retry continues.
  if (!ok_status && a->http_mode != kHttpCollect) return 0;
  if (a->http_mode == kHttpCollect) {
    // Small answers (JSON, a signature) and error bodies: kept in the
    // record buffer, free between downloads (a download kept in RAM for the
    // next poll holds no partial record: see agent_poll).
    uint32_t room = a->cfg.record_buffer_size - 1 - a->resp_len;
    if (len > room) {
      if (a->http_mode == kHttpCollect && ok_status) return -1;  // an answer we cannot hold
      len = room;
    }
    memcpy(a->cfg.record_buffer + a->resp_len, data, len);
    a->resp_len += (uint32_t)len;
    a->cfg.record_buffer[a->resp_len] = 0;
    return 0;
  }
  a->stats.bytes_downloaded += len;
  // A server that ignored our Range sends the stream from its start.
  if (a->skip > 0) {
    size_t drop = len < a->skip ? len : a->skip;
    a->skip -= (uint32_t)drop;
    data += drop;
    len -= drop;
    if (len == 0) return 0;
  }
  if (a->http_mode == kHttpStage) {
    const StagingPort* sp = a->ports.staging;
    if (sp->append(sp->ctx, data, (uint32_t)len) != 0) {
      a->feed_error = kStatusWriteError;
      return -1;
    }
    a->stream_pos += (uint32_t)len;
    progress(a, a->stream_pos, a->st.legacy_total);
    return 0;
  }
  Status s = record_decoder_feed(&a->rec, data, len);
  if (status_is_error(s)) {
    a->feed_error = s;
    return -1;
  }
  a->stream_pos += (uint32_t)len;
  return 0;
}

// One exchange. Returns 0 when a whole response arrived (see http_status).
int http(Agent* a, const char* method, const char* path, const char* body, uint8_t mode,
         uint32_t range_from) {
  HttpRequest req;
  memset(&req, 0, sizeof(req));
  req.method = method;
  req.path = path;
  req.bearer = mode == kHttpStage || !a->cfg.token || !a->cfg.token[0] ? nullptr : a->cfg.token;
  if (body) {
    req.content_type = "application/json";
    req.body = (const uint8_t*)body;
    req.body_len = strlen(body);
  }
  req.range_from = range_from;
  a->http_mode = mode;
  a->http_status = 0;
  a->http_length = -1;
  a->resp_len = 0;
  a->skip = range_from;
  a->feed_error = kStatusOk;
  HttpSink sink = {a, http_begin, http_data};
  const TransportPort* t = a->ports.transport;
  return t->request(t->ctx, &req, &sink);
}

bool http_ok(const Agent* a) { return a->http_status >= 200 && a->http_status < 300; }

// Best-effort progress report on the versioned API.
bool post_status(Agent* a, const char* state, const char* version, const char* detail) {
  char path[192];
  Text p = {path, sizeof(path), 0};
  add(&p, "/api/v1/devices/");
  add(&p, a->cfg.device_id);
  add(&p, "/status");
  char body[256];
  Text b = {body, sizeof(body), 0};
  add(&b, "{\"state\":");
  add_json_str(&b, state);
  if (version && *version) {
    add(&b, ",\"version\":");
    add_json_str(&b, version);
  }
  if (detail && *detail) {
    add(&b, ",\"detail\":");
    add_json_str(&b, detail);
  }
  add(&b, "}");
  if (http(a, "POST", path, body, kHttpCollect, 0) != 0) return false;
  if (!http_ok(a)) log_line(a, kLogWarn, "status report refused by the server: ", state);
  return true;  // delivered (or refused for good: not retried forever)
}

void queue_report(Agent* a, const char* state, const char* version, const char* detail) {
  copy_str(a->st.report_state, sizeof(a->st.report_state), state);
  copy_str(a->st.report_version, sizeof(a->st.report_version), version);
  copy_str(a->st.report_detail, sizeof(a->st.report_detail), detail);
}

// --- Flash -------------------------------------------------------------------

Status hash_slot(Agent* a, int slot, uint32_t size, uint8_t out[32]) {
  const CryptoPort* c = a->ports.crypto;
  const FlashPort* f = a->ports.flash;
  if (c->sha256_begin(c->ctx, &a->sha) != 0) return kStatusCryptoError;
  Status s = kStatusOk;
  uint8_t piece[256];
  for (uint32_t at = 0; at < size && s == kStatusOk;) {
    uint32_t take = size - at < sizeof(piece) ? size - at : (uint32_t)sizeof(piece);
    if (f->read(f->ctx, slot, at, piece, take) != 0)
      s = kStatusReadError;
    else if (c->sha256_update(c->ctx, &a->sha, piece, take) != 0)
      s = kStatusCryptoError;
    at += take;
  }
  if (c->sha256_finish(c->ctx, &a->sha, out) != 0 && s == kStatusOk) s = kStatusCryptoError;
  return s;
}

int read_slot(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  Agent* a = (Agent*)ctx;
  return a->ports.flash->read(a->ports.flash->ctx, a->running_slot, offset, buf, len);
}

int read_target(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  Agent* a = (Agent*)ctx;
  return a->ports.flash->read(a->ports.flash->ctx, a->target_slot, offset, buf, len);
}

// --- Update flow ---------------------------------------------------------------

void abandon_download(Agent* a) {
  if (!a->in_update) return;
  record_decoder_finish(&a->rec);  // wipes the key
  if (a->patch.io) patch_decoder_finish(&a->patch);  // harmless when it already ended
  a->in_update = 0;
}

// The update cannot go on: tell the server, forget the download.
AgentResult fail_update(Agent* a, Status s, const char* what) {
  a->last_error = s;
  copy_str(a->last_detail, sizeof(a->last_detail), what);
  size_t n = strlen(a->last_detail);
  if (n + 2 < sizeof(a->last_detail)) {
    a->last_detail[n++] = ':';
    a->last_detail[n++] = ' ';
    copy_str(a->last_detail + n, sizeof(a->last_detail) - n, status_message(s));
  }
  abandon_download(a);
  checkpoint_remove(a);
  log_line(a, kLogError, "update failed: ", a->last_detail);
  show(a, "failed", a->last_detail);
  char version[kMaxVersionLen + 1];
  copy_str(version, sizeof(version), "");
  if (a->manifest.to_version.len) {
    memcpy(version, a->manifest.to_version.bytes, a->manifest.to_version.len);
    version[a->manifest.to_version.len] = 0;
  }
  if (!a->legacy) post_status(a, "failed", version, a->last_detail);
  return kAgentFailed;
}

// The new image is in its slot and verified: select it and restart.
AgentResult install(Agent* a, const char* version, const uint8_t sha[32], uint32_t counter,
                    bool legacy) {
  AgentState& st = a->st;
  st.pending = 1;
  st.pending_slot = (uint8_t)a->target_slot;
  st.pending_attempts = 0;
  st.pending_legacy = legacy ? 1 : 0;
  copy_str(st.pending_version, sizeof(st.pending_version), version);
  memcpy(st.pending_sha256, sha, 32);
  st.pending_counter = counter;
  if (state_save(a) != kStatusOk) return fail_update(a, kStatusStateError, "saving the state");
  const FlashPort* f = a->ports.flash;
  if (f->set_boot(f->ctx, a->target_slot) != 0) {
    st.pending = 0;
    state_save(a);
    return fail_update(a, kStatusWriteError, "switching the boot slot");
  }
  checkpoint_remove(a);
  show(a, "rebooting", version);
  if (!legacy) post_status(a, "rebooting", version, "");
  return restart(a);
}

// The self-test passed (or the image was already confirmed before a reset).
void confirm(Agent* a) {
  AgentState& st = a->st;
  if (st.pending_counter > st.security_counter) st.security_counter = st.pending_counter;
  copy_str(st.running_version, sizeof(st.running_version), st.pending_version);
  memcpy(st.running_sha256, st.pending_sha256, 32);
  copy_str(a->running_version, sizeof(a->running_version), st.pending_version);
  if (!st.pending_legacy) queue_report(a, "confirmed", st.pending_version, "");
  st.pending = 0;
  if (state_save(a) != kStatusOk) log_line(a, kLogError, "cannot save the state after confirmation");
  show(a, "confirmed", a->running_version);
}

// Decoder RAM this device gives a patch: the decoder struct and its workspace.
uint32_t ram_budget(const Agent* a) { return (uint32_t)sizeof(PatchDecoder) + a->cfg.workspace_size; }

DeviceIdentity identity(Agent* a) {
  DeviceIdentity id;
  memset(&id, 0, sizeof(id));
  id.product = a->cfg.product;
  id.chip_id = a->cfg.chip_id;
  id.device_id = a->cfg.device_id;
  memcpy(id.keys, a->st.keys, sizeof(id.keys));
  id.security_counter = a->st.security_counter;
  memcpy(id.nonce, a->nonce, kNonceSize);
  memcpy(id.running_sha256, a->running_sha256, 32);
  id.ram_budget = ram_budget(a);
  id.record_budget = a->cfg.record_buffer_size;
  return id;
}

// Starts the download of a.manifest, or continues it: in RAM after a cut
// in an earlier poll, or from a checkpoint after a reset.
Status start_download(Agent* a, const uint8_t key[32]) {
  const Manifest& m = a->manifest;
  if (a->in_update && memcmp(a->in_update_id, m.first_record_sha256, 32) == 0) return kStatusOk;
  abandon_download(a);
  a->legacy = 0;
  a->target_slot = 1 - a->running_slot;
  memset(&a->patch_io, 0, sizeof(a->patch_io));
  a->patch_io.ctx = a;
  a->patch_io.read_old = read_old_image;
  a->patch_io.write_new = write_new_image;
  a->io_error = 0;
  bool resumed = a->cfg.checkpoint_interval > 0 && checkpoint_restore(a, key);
  if (resumed) {
    char detail[48];
    Text t = {detail, sizeof(detail), 0};
    add(&t, "resumed at byte ");
    add_u32(&t, a->stream_pos);
    log_line(a, kLogInfo, "download ", detail);
  } else {
    checkpoint_remove(a);
    Status s = record_decoder_init(&a->rec, a->ports.crypto, &m, key, a->cfg.record_buffer,
                                   a->cfg.record_buffer_size, RecordSink{a, record_chunk});
    if (s != kStatusOk) return s;
    if (m.payload_type == kPayloadPatch) {
      s = patch_decoder_init(&a->patch, &a->patch_io, a->cfg.workspace, a->cfg.workspace_size);
      if (s != kStatusOk) {
        record_decoder_finish(&a->rec);
        return s;
      }
      patch_decoder_expect(&a->patch, m.from_sha256, m.to_sha256, m.to_size);
    }
    a->stream_pos = 0;
    a->payload_pos = 0;
    a->write_pos = 0;
    a->erased_to = 0;
  }
  a->next_checkpoint = a->payload_pos + a->cfg.checkpoint_interval;
  a->in_update = 1;
  memcpy(a->in_update_id, m.first_record_sha256, 32);
  a->stats.stream_size = m.stream_size;
  return kStatusOk;
}

// Downloads until the record stream is complete, continuing after cuts
// with Range from the exact byte. kStatusDone, kStatusTransportError (the
// link keeps failing: progress is kept) or the decoders' error.
Status download(Agent* a, const char* url, uint8_t mode) {
  uint8_t failures = 0;
  for (;;) {
    if (mode == kHttpStream && a->rec.status == kStatusDone) return kStatusDone;
    if (mode == kHttpStage && a->st.legacy_total > 0 && a->stream_pos >= a->st.legacy_total)
      return kStatusDone;
    uint32_t from = a->stream_pos;
    if (from > 0) a->stats.resumes++;
    int rc = http(a, "GET", url, nullptr, mode, from);
    if (a->feed_error != kStatusOk) return a->feed_error;
    if (rc == 0 && !http_ok(a) && a->http_status < 500) {
      // The server refuses the download (gone, forbidden, a range past the
      // end): nothing to resume. A 5xx is retried like a cut.
      log_line(a, kLogError, "download refused by the server");
      return kStatusServerError;
    }
    bool progressed = a->stream_pos > from;
    if (mode == kHttpStream && a->rec.status == kStatusDone) return kStatusDone;
    if (mode == kHttpStage && a->st.legacy_total > 0 && a->stream_pos >= a->st.legacy_total)
      return kStatusDone;
    failures = progressed ? 0 : (uint8_t)(failures + 1);
    if (failures > a->cfg.max_retries) return kStatusTransportError;
    log_line(a, kLogWarn, rc != 0 ? "connection cut: resuming" : "short answer: resuming");
    if (a->cfg.retry_delay_ms) a->ports.system->sleep_ms(a->ports.system->ctx, a->cfg.retry_delay_ms);
  }
}

AgentResult deliver_report(Agent* a) {
  AgentState& st = a->st;
  if (!st.report_state[0]) return kAgentIdle;
  if (!post_status(a, st.report_state, st.report_version, st.report_detail))
    return retry_later(a, "status report: server unreachable");
  st.report_state[0] = 0;
  if (state_save(a) != kStatusOk) log_line(a, kLogError, "cannot save the state");
  return kAgentIdle;
}

}  // namespace

// --- Decoder sinks -------------------------------------------------------------

namespace agent_detail {

// Appends to the new image in the target slot, erasing each sector as the
// writer enters it (a sector may hold bytes of an abandoned attempt).
int write_new_image(void* ctx, const uint8_t* buf, uint32_t len) {
  Agent* a = (Agent*)ctx;
  const FlashPort* f = a->ports.flash;
  uint32_t slot_size = f->slot_size(f->ctx, a->target_slot);
  if (len > slot_size || a->write_pos > slot_size - len) return a->io_error = -1;
  while (len > 0) {
    if (a->write_pos == a->erased_to) {
      if (f->erase(f->ctx, a->target_slot, a->erased_to, kFlashSectorSize) != 0) return a->io_error = -1;
      a->erased_to += kFlashSectorSize;
    }
    uint32_t take = a->erased_to - a->write_pos;
    if (take > len) take = len;
    if (f->write(f->ctx, a->target_slot, a->write_pos, buf, take) != 0) return a->io_error = -1;
    a->write_pos += take;
    buf += take;
    len -= take;
  }
  return 0;
}

int read_old_image(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  Agent* a = (Agent*)ctx;
  if (offset > a->running_size || len > a->running_size - offset) return -1;
  return a->ports.flash->read(a->ports.flash->ctx, a->running_slot, offset, buf, len);
}

// Each authenticated chunk of the payload, in order.
Status record_chunk(void* ctx, const uint8_t* data, size_t len) {
  Agent* a = (Agent*)ctx;
  const Manifest& m = a->manifest;
  if (m.payload_type == kPayloadPatch) {
    Status s = patch_decoder_feed(&a->patch, data, len);
    if (status_is_error(s)) return s;
  } else if (write_new_image(a, data, (uint32_t)len) != 0) {
    return kStatusWriteError;
  }
  a->payload_pos += (uint32_t)len;
  progress(a, a->payload_pos, m.payload_size);
  // A checkpoint between records: record index+1 comes next.
  if (!a->legacy && a->cfg.checkpoint_interval > 0 && a->payload_pos >= a->next_checkpoint &&
      a->payload_pos < m.payload_size) {
    uint32_t next = a->rec.index + 1;
    uint32_t stream_pos = next * (kRecordOverhead + m.chunk_size + kChainHashSize);
    uint32_t saved = a->stream_pos;
    a->stream_pos = stream_pos;
    uint32_t index = a->rec.index;
    a->rec.index = next;  // as the decoder will hold it once this chunk returns
    if (checkpoint_save(a) != kStatusOk) log_line(a, kLogWarn, "checkpoint not saved");
    a->rec.index = index;
    a->stream_pos = saved;
    a->next_checkpoint = a->payload_pos + a->cfg.checkpoint_interval;
  }
  return kStatusOk;
}

}  // namespace agent_detail

// --- Public API ------------------------------------------------------------------

Status agent_init(Agent* a, const AgentConfig* cfg, const AgentPorts* ports) {
  if (!a || !cfg || !ports) return kStatusBadArgument;
  memset(a, 0, sizeof(*a));
  if (!ports->flash || !ports->transport || !ports->state || !ports->system || !ports->crypto ||
      !cfg->device_id || !cfg->product || !cfg->workspace || !cfg->record_buffer ||
      ((uintptr_t)cfg->workspace & 3u) != 0 || cfg->record_buffer_size < 4157)
    return kStatusBadArgument;
  a->cfg = *cfg;
  a->ports = *ports;
  bool found = false;
  Status s = state_load(a, &found);
  if (s != kStatusOk) {
    // Atomic replacement makes this a damaged store, not an interrupted
    // write: start again from the provisioned trust, and say so.
    log_line(a, kLogError, "persisted state is unreadable: starting from the provisioned keys");
    memset(&a->st, 0, sizeof(a->st));
  }
  if (!found) {
    a->st.keys[0].in_use = 1;
    memcpy(a->st.keys[0].public_key, cfg->server_public_key, kPublicKeySize);
    s = key_id_of(ports->crypto, cfg->server_public_key, a->st.keys[0].key_id);
    if (s != kStatusOk) return s;
  }
  // The running image: measure it in its slot and hash it.
  const FlashPort* f = ports->flash;
  a->running_slot = f->running_slot(f->ctx);
  if (a->running_slot != 0 && a->running_slot != 1) return kStatusBadArgument;
  EspImageInfo info;
  s = esp_image_check(read_slot, a, f->slot_size(f->ctx, a->running_slot), nullptr, &info);
  if (s != kStatusOk) return s;
  a->running_size = info.size;
  s = hash_slot(a, a->running_slot, info.size, a->running_sha256);
  if (s != kStatusOk) return s;
  const AgentState& st = a->st;
  if (st.pending && memcmp(st.pending_sha256, a->running_sha256, 32) == 0)
    copy_str(a->running_version, sizeof(a->running_version), st.pending_version);
  else if (st.running_version[0] && memcmp(st.running_sha256, a->running_sha256, 32) == 0)
    copy_str(a->running_version, sizeof(a->running_version), st.running_version);
  else if (cfg->factory_version && cfg->factory_version[0])
    copy_str(a->running_version, sizeof(a->running_version), cfg->factory_version);
  else if (info.version[0])
    copy_str(a->running_version, sizeof(a->running_version), info.version);
  else
    copy_str(a->running_version, sizeof(a->running_version), "unknown");
  return kStatusOk;
}

AgentResult agent_boot(Agent* a) {
  if (a->restarting) return kAgentRestart;
  AgentState& st = a->st;
  const FlashPort* f = a->ports.flash;
  int state = f->running_state(f->ctx);
  bool first_boot = state == kImagePendingVerify || state == kImageNew;
  if (st.pending && memcmp(st.pending_sha256, a->running_sha256, 32) == 0) {
    if (!first_boot) {  // confirmed before a reset that came before saving it
      confirm(a);
      return kAgentIdle;
    }
    show(a, "self-test", st.pending_version);
    int rc = a->cfg.self_test ? a->cfg.self_test(a->cfg.self_test_ctx) : 0;
    if (rc == 0) {
      if (f->mark_valid(f->ctx) != 0) {
        log_line(a, kLogError, "cannot confirm the new image");
        return retry_later(a, "cannot confirm the new image");
      }
      confirm(a);
      return kAgentIdle;
    }
    log_line(a, kLogError, "self-test failed: rolling back from ", st.pending_version);
    queue_report(a, "rolled_back", st.pending_version, "self-test failed");
    if (st.pending_legacy) copy_str(st.legacy_blocked, sizeof(st.legacy_blocked), st.pending_version);
    st.pending = 0;
    state_save(a);
    show(a, "rolled back", "self-test failed");
    f->rollback(f->ctx);
    return restart(a);
  }
  if (st.pending) {
    // The old image runs although a new one was selected: either the switch
    // never completed (a reset just before or inside it) or the new image
    // never confirmed itself and the bootloader rolled it back. Try again,
    // a bounded number of times, while the new slot still verifies.
    a->target_slot = st.pending_slot;
    uint8_t sha[32];
    EspImageInfo info;
    bool ok = st.pending_slot == (uint8_t)(1 - a->running_slot) &&
              esp_image_check(read_target, a, f->slot_size(f->ctx, st.pending_slot), nullptr, &info) ==
                  kStatusOk &&
              hash_slot(a, st.pending_slot, info.size, sha) == kStatusOk &&
              memcmp(sha, st.pending_sha256, 32) == 0;
    if (ok && st.pending_attempts + 1 < kMaxSwitchAttempts) {
      st.pending_attempts++;
      if (state_save(a) == kStatusOk && f->set_boot(f->ctx, st.pending_slot) == 0) {
        log_line(a, kLogWarn, "new image did not start: switching again to ", st.pending_version);
        show(a, "rebooting", st.pending_version);
        return restart(a);
      }
    }
    log_line(a, kLogError, "new image never confirmed itself: staying on ", a->running_version);
    queue_report(a, "rolled_back", st.pending_version, "new image never confirmed itself");
    if (st.pending_legacy) copy_str(st.legacy_blocked, sizeof(st.legacy_blocked), st.pending_version);
    st.pending = 0;
    state_save(a);
    show(a, "rolled back", st.pending_version);
    return kAgentIdle;
  }
  if (first_boot) {
    // A new image we did not install (e.g. flashed over USB with rollback on).
    int rc = a->cfg.self_test ? a->cfg.self_test(a->cfg.self_test_ctx) : 0;
    if (rc != 0) {
      log_line(a, kLogError, "self-test failed: rolling back");
      f->rollback(f->ctx);
      return restart(a);
    }
    if (f->mark_valid(f->ctx) != 0) return retry_later(a, "cannot confirm the running image");
  }
  return kAgentIdle;
}

AgentResult agent_poll(Agent* a) {
  if (a->restarting) return kAgentRestart;
  a->legacy = 0;
  a->last_detail[0] = 0;
  a->retry_after_s = 0;
  if (deliver_report(a) == kAgentRetry) return kAgentRetry;

  // Check in with a fresh nonce.
  show(a, "checking", a->running_version);
  if (a->ports.system->random(a->ports.system->ctx, a->nonce, kNonceSize) != 0) {
    log_line(a, kLogError, "no random numbers");
    return retry_later(a, "no random numbers");
  }
  // The RAM budget lets the server pick a firmware-aware delta when it fits.
  char body[480];
  Text b = {body, sizeof(body), 0};
  add(&b, "{\"version\":");
  add_json_str(&b, a->running_version);
  add(&b, ",\"image_sha256\":\"");
  add_hex(&b, a->running_sha256, 32);
  add(&b, "\",\"nonce\":\"");
  add_hex(&b, a->nonce, kNonceSize);
  add(&b, "\",\"ram_budget\":");
  add_u32(&b, ram_budget(a));
  if (a->cfg.tags) add_tags(&b, a->cfg.tags);
  add(&b, "}");
  Text p = {a->path, sizeof(a->path), 0};
  add(&p, "/api/v1/devices/");
  add(&p, a->cfg.device_id);
  add(&p, "/check-in");
  if (http(a, "POST", a->path, body, kHttpCollect, 0) != 0) {
    log_line(a, kLogWarn, "check-in failed: server unreachable");
    show(a, "offline", "");
    return retry_later(a, "check-in: server unreachable");
  }
  if (!http_ok(a)) {
    log_line(a, kLogWarn, "check-in refused: ", (const char*)a->cfg.record_buffer);
    show(a, "refused", "");
    return refused_by_server(a, "check-in refused by the server");
  }
  const char* json = (const char*)a->cfg.record_buffer;
  size_t json_len = a->resp_len;
  bool update = false;
  if (json_get_bool(json, json_len, "update", &update) != kStatusOk) {
    log_line(a, kLogError, "check-in answer is malformed");
    return retry_later(a, "check-in answer is malformed");
  }
  if (!update) {
    if (a->in_update) abandon_download(a);
    checkpoint_remove(a);
    uint64_t retry_after = 0;
    if (json_get_u64(json, json_len, "retry_after", &retry_after) == kStatusOk && retry_after > 0) {
      a->retry_after_s = retry_after > kMaxRetryAfterS ? kMaxRetryAfterS : (uint32_t)retry_after;
      log_line(a, kLogInfo, "the server holds the update back: check in again later");
      show(a, "deferred", a->running_version);
      return kAgentIdle;
    }
    show(a, "idle", a->running_version);
    return kAgentIdle;
  }
  // The manifest's hex goes after the answer in the record buffer.
  char* hex = (char*)a->cfg.record_buffer + json_len + 1;
  size_t hex_cap = a->cfg.record_buffer_size - json_len - 1;
  size_t hex_len = 0;
  size_t url_len = 0;
  if (json_get_string(json, json_len, "manifest", hex, hex_cap, &hex_len) != kStatusOk ||
      hex_len % 2 != 0 || hex_len / 2 > kManifestMaxSize ||
      !hex_decode(hex, hex_len, a->manifest_buf, hex_len / 2) ||
      json_get_string(json, json_len, "download_url", a->url, sizeof(a->url), &url_len) != kStatusOk ||
      url_len == 0 || a->url[0] != '/') {
    log_line(a, kLogError, "check-in answer is malformed");
    return retry_later(a, "check-in answer is malformed");
  }
  a->manifest_len = (uint32_t)(hex_len / 2);

  // Everything in docs/protocol.md §2.2, before a byte is downloaded.
  // A download kept in RAM from an earlier poll continues only if this
  // manifest names the same stream (in_update_id); parsing it in place is
  // safe because a different one restarts the decoders anyway.
  DeviceIdentity id = identity(a);
  Status s = manifest_verify(a->ports.crypto, &id, a->manifest_buf, a->manifest_len, &a->manifest);
  if (s != kStatusOk) {
    abandon_download(a);
    a->manifest.to_version.len = 0;
    return fail_update(a, s, "manifest refused");
  }
  const Manifest& m = a->manifest;
  const FlashPort* f = a->ports.flash;
  if (m.to_size > f->slot_size(f->ctx, 1 - a->running_slot))
    return fail_update(a, kStatusNoSpace, "new image");
  char version[kMaxVersionLen + 1];
  memcpy(version, m.to_version.bytes, m.to_version.len);
  version[m.to_version.len] = 0;

  uint8_t key[32];
  s = manifest_record_key(a->ports.crypto, &m, a->cfg.device_key, key);
  if (s != kStatusOk) return fail_update(a, s, "content key");
  bool fresh = !(a->in_update && memcmp(a->in_update_id, m.first_record_sha256, 32) == 0);
  s = start_download(a, key);
  memset(key, 0, sizeof(key));
  if (s != kStatusOk) return fail_update(a, s, "starting the download");
  a->stats.stream_size = m.stream_size;
  if (fresh) {
    show(a, "downloading", version);
    post_status(a, "downloading", version, a->stream_pos ? "resumed after a reset" : "");
  }

  s = download(a, a->url, kHttpStream);
  if (s == kStatusTransportError) {
    // The next poll's check-in answer is read into the record buffer: give
    // up the part of a record received so far (at most one record comes
    // again), keeping every whole record and the decoders' state.
    a->stream_pos -= record_decoder_drop_partial(&a->rec);
    show(a, "offline", "download interrupted");
    // The decoders keep their state for the next poll.
    return retry_later(a, "download interrupted: the link keeps failing");
  }
  if (s != kStatusDone) return fail_update(a, s, "download");
  if (m.payload_type == kPayloadPatch) {
    s = patch_decoder_finish(&a->patch);
    if (s != kStatusDone) return fail_update(a, s, "patch");
  }
  a->in_update = 0;
  if (a->write_pos != m.to_size) return fail_update(a, kStatusSizeMismatch, "new image");

  // The image as it is in flash must be the one the manifest signs.
  show(a, "verifying", version);
  post_status(a, "applying", version, "verifying the new image");
  uint8_t sha[32];
  s = hash_slot(a, a->target_slot, m.to_size, sha);
  if (s != kStatusOk) return fail_update(a, s, "reading the new image");
  if (memcmp(sha, m.to_sha256, 32) != 0) return fail_update(a, kStatusNewHashMismatch, "new image");
  return install(a, version, sha, m.security_counter, false);
}

// --- The original description's path ------------------------------------------

namespace {

// Query-string form of an id or version ('+' is the only character of
// theirs that a query changes).
void add_query_value(Text* t, const char* v) {
  for (; *v; ++v) {
    if (*v == '+') {
      add(t, "%2B");
    } else {
      char c[2] = {*v, 0};
      add(t, c);
    }
  }
}

Status legacy_hash_chunk(void* ctx, const uint8_t* data, size_t len) {
  Agent* a = (Agent*)ctx;
  // The patch header (first kPatchHeaderSize bytes) is kept for pass 2.
  if (a->payload_pos < kPatchHeaderSize) {
    uint32_t take = kPatchHeaderSize - a->payload_pos;
    if (take > len) take = (uint32_t)len;
    memcpy(a->manifest_buf + a->payload_pos, data, take);
  }
  a->payload_pos += (uint32_t)len;
  const CryptoPort* c = a->ports.crypto;
  return c->sha256_update(c->ctx, &a->sha, data, len) == 0 ? kStatusOk : kStatusCryptoError;
}

// Feeds the whole staged file through the record decoder into `sink`.
Status feed_staged(Agent* a, Status (*sink)(void*, const uint8_t*, size_t)) {
  const StagingPort* sp = a->ports.staging;
  uint32_t total = a->st.legacy_total;
  Status s = record_decoder_init_unanchored(&a->rec, a->ports.crypto, total, a->cfg.device_key,
                                            a->cfg.record_buffer, a->cfg.record_buffer_size,
                                            RecordSink{a, sink});
  if (s != kStatusOk) return s;
  a->payload_pos = 0;
  uint8_t piece[256];
  for (uint32_t at = 0; at < total;) {
    uint32_t take = total - at < sizeof(piece) ? total - at : (uint32_t)sizeof(piece);
    if (sp->read(sp->ctx, at, piece, take) != 0) {
      record_decoder_finish(&a->rec);
      return kStatusReadError;
    }
    s = record_decoder_feed(&a->rec, piece, take);
    if (status_is_error(s)) return s;
    at += take;
  }
  return record_decoder_finish(&a->rec);
}

void clear_staging(Agent* a) {
  a->ports.staging->clear(a->ports.staging->ctx);
  a->st.legacy_staged[0] = 0;
  a->st.legacy_total = 0;
  state_save(a);
}

AgentResult legacy_fail(Agent* a, Status s, const char* what) {
  clear_staging(a);
  return fail_update(a, s, what);
}

}  // namespace

AgentResult agent_poll_legacy(Agent* a) {
  if (a->restarting) return kAgentRestart;
  if (!a->ports.staging) return kAgentFailed;
  a->legacy = 1;
  a->last_detail[0] = 0;
  a->manifest.to_version.len = 0;
  AgentState& st = a->st;
  if (st.report_state[0]) {  // the original endpoints take no reports
    log_line(a, kLogInfo, "outcome: ", st.report_state, st.report_detail);
    st.report_state[0] = 0;
    state_save(a);
  }
  show(a, "checking", a->running_version);
  Text p = {a->path, sizeof(a->path), 0};
  add(&p, "/check_update/?device_id=");
  add_query_value(&p, a->cfg.device_id);
  add(&p, "&version=");
  add_query_value(&p, a->running_version);
  if (http(a, "GET", a->path, nullptr, kHttpCollect, 0) != 0) {
    show(a, "offline", "");
    return retry_later(a, "check_update: server unreachable");
  }
  if (!http_ok(a)) {
    show(a, "refused", "");
    return refused_by_server(a, "check_update refused by the server");
  }
  const char* json = (const char*)a->cfg.record_buffer;
  size_t json_len = a->resp_len;
  bool update = false;
  if (json_get_bool(json, json_len, "update_available", &update) != kStatusOk) {
    log_line(a, kLogError, "check_update answer is malformed");
    return retry_later(a, "check_update answer is malformed");
  }
  if (!update) {
    show(a, "idle", a->running_version);
    return kAgentIdle;
  }
  char version[kMaxVersionLen + 1];
  char sig_url[160];
  size_t n = 0;
  if (json_get_string(json, json_len, "new_version", version, sizeof(version), &n) != kStatusOk ||
      n == 0 ||
      json_get_string(json, json_len, "patch_url", a->url, sizeof(a->url), &n) != kStatusOk ||
      a->url[0] != '/' ||
      json_get_string(json, json_len, "signature_url", sig_url, sizeof(sig_url), &n) != kStatusOk ||
      sig_url[0] != '/') {
    log_line(a, kLogError, "check_update answer is malformed");
    return retry_later(a, "check_update answer is malformed");
  }
  if (str_eq(version, st.legacy_blocked)) {
    show(a, "idle", "release rolled back before: not installed again");
    return kAgentIdle;
  }
  a->manifest.to_version.len = (uint8_t)strlen(version);
  memcpy(a->manifest.to_version.bytes, version, a->manifest.to_version.len);
  show(a, "downloading", version);

  // The detached signature (DER, at most 72 bytes).
  if (http(a, "GET", sig_url, nullptr, kHttpCollect, 0) != 0 || !http_ok(a))
    return retry_later(a, "signature download failed");
  if (a->resp_len < 8 || a->resp_len > kMaxSignatureSize) return legacy_fail(a, kStatusBadResponse, "signature");
  memcpy(a->signature, a->cfg.record_buffer, a->resp_len);
  a->signature_len = a->resp_len;

  // Stage the encrypted patch, continuing a download of the same patch.
  char key[sizeof(st.legacy_staged)];
  Text k = {key, sizeof(key), 0};
  add(&k, a->running_version);
  add(&k, ">");
  add(&k, version);
  const StagingPort* sp = a->ports.staging;
  uint32_t staged = 0;
  if (!str_eq(key, st.legacy_staged) || sp->size(sp->ctx, &staged) != 0) {
    if (sp->clear(sp->ctx) != 0) return retry_later(a, "cannot clear the staging file");
    copy_str(st.legacy_staged, sizeof(st.legacy_staged), key);
    st.legacy_total = 0;
    staged = 0;
    if (state_save(a) != kStatusOk) return retry_later(a, "cannot save the state");
  }
  if (st.legacy_total > 0 && staged > st.legacy_total) return legacy_fail(a, kStatusTrailingData, "staged patch");
  a->stream_pos = staged;
  uint32_t known_total = st.legacy_total;
  Status s = download(a, a->url, kHttpStage);
  if (st.legacy_total != known_total) state_save(a);
  if (s == kStatusTransportError) return retry_later(a, "download interrupted: the link keeps failing");
  if (s != kStatusDone) return legacy_fail(a, s, "download");

  // Pass 1: decrypt everything, check the chain and the detached signature
  // over the whole patch before a byte of it is applied.
  show(a, "verifying", version);
  const CryptoPort* c = a->ports.crypto;
  if (c->sha256_begin(c->ctx, &a->sha) != 0) return legacy_fail(a, kStatusCryptoError, "hash");
  s = feed_staged(a, legacy_hash_chunk);
  uint8_t digest[32];
  int fin = c->sha256_finish(c->ctx, &a->sha, digest);
  if (s != kStatusDone) return legacy_fail(a, s, "staged patch");
  if (fin != 0) return legacy_fail(a, kStatusCryptoError, "hash");
  bool signed_ok = false;
  for (int i = 0; i < kMaxTrustedKeys; ++i)
    if (st.keys[i].in_use &&
        c->ecdsa_p256_verify(c->ctx, st.keys[i].public_key, digest, a->signature, a->signature_len) == 0)
      signed_ok = true;
  if (!signed_ok) return legacy_fail(a, kStatusBadSignature, "patch signature");
  if (a->payload_pos < kPatchHeaderSize) return legacy_fail(a, kStatusTruncated, "patch");
  s = patch_header_parse(a->manifest_buf, &a->legacy_header);
  if (s != kStatusOk) return legacy_fail(a, s, "patch header");
  const PatchHeader& h = a->legacy_header;
  if (memcmp(h.old_sha256, a->running_sha256, 32) != 0)
    return legacy_fail(a, kStatusOldHashMismatch, "patch");
  const FlashPort* f = a->ports.flash;
  a->target_slot = 1 - a->running_slot;
  if (h.new_size > f->slot_size(f->ctx, a->target_slot)) return legacy_fail(a, kStatusNoSpace, "new image");

  // Pass 2: decrypt again and apply into the inactive slot.
  show(a, "applying", version);
  memset(&a->patch_io, 0, sizeof(a->patch_io));
  a->patch_io.ctx = a;
  a->patch_io.read_old = read_old_image;
  a->patch_io.write_new = write_new_image;
  s = patch_decoder_init(&a->patch, &a->patch_io, a->cfg.workspace, a->cfg.workspace_size);
  if (s != kStatusOk) return legacy_fail(a, s, "patch");
  uint8_t new_sha[32];
  memcpy(new_sha, h.new_sha256, 32);
  patch_decoder_expect(&a->patch, a->running_sha256, new_sha, h.new_size);
  a->manifest.payload_type = kPayloadPatch;
  a->manifest.payload_size = a->rec.payload_size;
  a->write_pos = 0;
  a->erased_to = 0;
  a->in_update = 1;
  s = feed_staged(a, record_chunk);
  Status ps = patch_decoder_finish(&a->patch);
  a->in_update = 0;
  if (s != kStatusDone) return legacy_fail(a, s, "applying the patch");
  if (ps != kStatusDone) return legacy_fail(a, ps, "applying the patch");
  if (a->write_pos != h.new_size) return legacy_fail(a, kStatusSizeMismatch, "new image");
  uint8_t sha[32];
  s = hash_slot(a, a->target_slot, h.new_size, sha);
  if (s != kStatusOk) return legacy_fail(a, s, "reading the new image");
  if (memcmp(sha, new_sha, 32) != 0) return legacy_fail(a, kStatusNewHashMismatch, "new image");
  sp->clear(sp->ctx);
  st.legacy_staged[0] = 0;
  st.legacy_total = 0;
  return install(a, version, sha, st.security_counter, true);
}

uint32_t agent_next_check_in_s(const Agent* a, uint32_t interval_s) {
  return a->retry_after_s ? a->retry_after_s : interval_s;
}

const char* agent_running_version(const Agent* a) { return a->running_version; }
const uint8_t* agent_running_sha256(const Agent* a) { return a->running_sha256; }

}  // namespace ota
