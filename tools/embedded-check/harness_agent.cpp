// Second link harness for the embedded cross-check: a whole device agent
// (ota/agent.h) as firmware links it, every port a stub over static data,
// so that the image measures the agent's code with everything it pulls in
// (envelope, patch and LZMA decoders, ESP image check, JSON scanner) and
// proves it needs no heap and no C++ runtime. Linked, never run.
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ota/agent.h"

extern "C" {
volatile uint32_t ota_agent_harness_in;
uint8_t ota_agent_harness_flash[2][8192];
uint8_t ota_agent_harness_blob[2048];
volatile uint32_t ota_agent_harness_sink;
// sizeof(ota::Agent) on the target: the symbol's size (nm -S) is the figure.
char ota_sizeof_agent[sizeof(ota::Agent)];
int ota_agent_harness(void);
}

namespace {

// The default device setting: LZMA workspace for the server's patches
// (lc1 lp0, 16 KiB dictionary) and one 4 KiB record.
alignas(4) uint8_t g_workspace[23148];
uint8_t g_record[4157];
ota::Agent g_agent;

int running_slot(void*) { return (int)(ota_agent_harness_in & 1); }
uint32_t slot_size(void*, int) { return sizeof ota_agent_harness_flash[0]; }
int flash_read(void*, int slot, uint32_t off, uint8_t* buf, uint32_t len) {
  if (off > sizeof ota_agent_harness_flash[0] || len > sizeof ota_agent_harness_flash[0] - off) return 1;
  memcpy(buf, ota_agent_harness_flash[slot & 1] + off, len);
  return 0;
}
int flash_erase(void*, int slot, uint32_t off, uint32_t len) {
  if (off > sizeof ota_agent_harness_flash[0] || len > sizeof ota_agent_harness_flash[0] - off) return 1;
  memset(ota_agent_harness_flash[slot & 1] + off, 0xFF, len);
  return 0;
}
int flash_write(void*, int slot, uint32_t off, const uint8_t* buf, uint32_t len) {
  if (off > sizeof ota_agent_harness_flash[0] || len > sizeof ota_agent_harness_flash[0] - off) return 1;
  memcpy(ota_agent_harness_flash[slot & 1] + off, buf, len);
  return 0;
}
int set_boot(void*, int slot) { return (int)(ota_agent_harness_sink = (uint32_t)slot) & 0; }
int running_state(void*) { return (int)(ota_agent_harness_in >> 1) & 7; }
int mark_valid(void*) { return 0; }
int rollback(void*) { return 0; }

int http_request(void*, const ota::HttpRequest* req, const ota::HttpSink* sink) {
  if (sink->begin(sink->ctx, (int)ota_agent_harness_in, -1) != 0) return 1;
  ota_agent_harness_sink += (uint32_t)req->body_len + req->range_from;
  return sink->data(sink->ctx, ota_agent_harness_blob, ota_agent_harness_in & 1023);
}

int blob_size(void*, uint8_t, uint32_t* size) {
  *size = ota_agent_harness_in & 2047;
  return 0;
}
int blob_read(void*, uint8_t, uint32_t off, uint8_t* buf, uint32_t len) {
  if (off > sizeof ota_agent_harness_blob || len > sizeof ota_agent_harness_blob - off) return 1;
  memcpy(buf, ota_agent_harness_blob + off, len);
  return 0;
}
int blob_begin(void*, uint8_t) { return 0; }
int blob_append(void*, const uint8_t* data, uint32_t len) {
  ota_agent_harness_sink += data[0] + len;
  return 0;
}
int blob_commit(void*) { return 0; }
int blob_remove(void*, uint8_t) { return 0; }
int staging_size(void* ctx, uint32_t* size) { return blob_size(ctx, 0, size); }
int staging_read(void* ctx, uint32_t off, uint8_t* buf, uint32_t len) { return blob_read(ctx, 0, off, buf, len); }
int staging_append(void* ctx, const uint8_t* data, uint32_t len) { return blob_append(ctx, data, len); }
int staging_clear(void*) { return 0; }

uint64_t now_ms(void*) { return ota_agent_harness_in; }
void sleep_ms(void*, uint32_t ms) { ota_agent_harness_sink += ms; }
int random_bytes(void*, uint8_t* buf, size_t len) {
  for (size_t i = 0; i < len; ++i) buf[i] = (uint8_t)(ota_agent_harness_in >> (i & 7));
  return 0;
}
void restart(void*) { ota_agent_harness_sink = 0; }

// Crypto: stand-ins (the real port is mbedTLS, excluded from the core's size).
int sha_begin(void*, ota::Sha256State* s) {
  memset(s, 0, sizeof *s);
  return 0;
}
int sha_update(void*, ota::Sha256State* s, const uint8_t* d, size_t n) {
  for (size_t i = 0; i < n; ++i) s->opaque[i & 31] ^= d[i];
  return 0;
}
int sha_finish(void*, ota::Sha256State* s, uint8_t out[32]) {
  memcpy(out, s->opaque, 32);
  return 0;
}
int ecdsa_verify(void*, const uint8_t pub[65], const uint8_t digest[32], const uint8_t* sig, size_t n) {
  return (pub[0] ^ digest[0] ^ sig[0]) != (uint8_t)n;
}
int ccm_decrypt(void*, const uint8_t key[32], const uint8_t nonce[13], const uint8_t* in, size_t len,
                const uint8_t tag[16], uint8_t* out) {
  for (size_t i = 0; i < len; ++i) out[i] = in[i] ^ key[i & 31] ^ nonce[i % 13] ^ tag[i & 15];
  return 0;
}

}  // namespace

int ota_agent_harness(void) {
  static const ota::FlashPort flash = {nullptr, running_slot, slot_size, flash_read, flash_erase,
                                       flash_write, set_boot, running_state, mark_valid, rollback};
  static const ota::TransportPort transport = {nullptr, http_request};
  static const ota::StatePort state = {nullptr, blob_size, blob_read, blob_begin,
                                       blob_append, blob_commit, blob_remove};
  static const ota::StagingPort staging = {nullptr, staging_size, staging_read, staging_append,
                                           staging_clear};
  static const ota::SystemPort system = {nullptr, now_ms, sleep_ms, random_bytes, restart};
  static const ota::CryptoPort crypto = {nullptr, sha_begin, sha_update, sha_finish, ecdsa_verify,
                                         ccm_decrypt};
  static const ota::AgentPorts ports = {&flash, &transport, &state, &staging, &system, &crypto, nullptr};
  static ota::AgentConfig cfg;
  cfg.device_id = "dev";
  cfg.product = "demo";
  cfg.token = "token";
  cfg.workspace = g_workspace;
  cfg.workspace_size = sizeof g_workspace;
  cfg.record_buffer = g_record;
  cfg.record_buffer_size = sizeof g_record;
  cfg.checkpoint_interval = 65536;
  cfg.max_retries = 3;
  if (ota::agent_init(&g_agent, &cfg, &ports) != ota::kStatusOk) return 1;
  int r = ota::agent_boot(&g_agent);
  r += (ota_agent_harness_in & 8) ? ota::agent_poll_legacy(&g_agent) : ota::agent_poll(&g_agent);
  ota_agent_harness_sink += (uint32_t)strlen(ota::agent_running_version(&g_agent)) +
                            ota::agent_running_sha256(&g_agent)[0] + (uint32_t)ota_sizeof_agent[0];
  return r;
}
