// The device agent: the update state machine every device runs, on ESP32 and
// in the simulator alike. It reaches the world only through ports
// (ota/ports.h, ota/crypto_port.h); it never allocates and never throws.
//
// A device's life, as the firmware's main loop drives it:
//
//   Agent a;                                  // static: ~3 KiB plus the buffers below
//   agent_init(&a, &config, &ports);          // loads the persisted state, hashes the running image
//   agent_boot(&a);                           // first boot of a new image: self-test, confirm or roll back
//   for (;;) { agent_poll(&a); sleep(agent_next_check_in_s(&a, interval)); }   // or agent_poll_legacy
//
// One agent_poll is one cycle: deliver any pending outcome report, check in
// with a fresh nonce, verify the signed manifest (docs/protocol.md §2.2),
// download the record stream (resuming with HTTP Range after a cut, and
// after a reset from the last checkpoint), authenticate and decrypt every
// record, decode the patch into the inactive slot, hash the written slot,
// switch boot and restart. The next boot confirms the image after its
// self-test or rolls back, and tells the server.
//
// Power-loss safety: the boot selection changes only after the new slot's
// SHA-256 read back from flash equals the signed manifest's, and atomically
// (otadata). A reset at any other instant leaves the old image selected.
#ifndef OTA_AGENT_H
#define OTA_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "ota/crypto_port.h"
#include "ota/envelope.h"
#include "ota/manifest.h"
#include "ota/patch_decoder.h"
#include "ota/ports.h"
#include "ota/status.h"

namespace ota {

enum AgentResult : int8_t {
  kAgentIdle = 0,      // nothing (more) to do now
  kAgentRestart = 1,   // the agent asked the SystemPort to restart the device
  kAgentRetry = 2,     // the server or the link failed; progress is kept for the next poll
  kAgentFailed = -1,   // the update was refused or failed (reported); the boot selection is unchanged
};

struct AgentPorts {
  const FlashPort* flash;
  const TransportPort* transport;
  const StatePort* state;
  const StagingPort* staging;   // only for agent_poll_legacy; may be null otherwise
  const SystemPort* system;
  const CryptoPort* crypto;
  const DisplayPort* display;   // may be null
};

struct AgentConfig {
  const char* device_id;          // NUL-terminated, as provisioned
  const char* product;
  uint16_t chip_id;               // ESP image chip id of this device
  const char* token;              // device.token, for the versioned API
  uint8_t device_key[32];         // device.key
  uint8_t server_public_key[kPublicKeySize];  // from server_pub.pem (trusted until rotated)
  // Version label of the running image when the persisted state does not
  // know it (first start): the server's name for the firmware flashed at
  // the factory. Null: the version inside the image's app descriptor.
  const char* factory_version;
  // RAM the agent may use (the patch decoder's workspace and one record).
  // 24 KiB + 4,157 bytes serve every patch the server makes by default.
  uint8_t* workspace;             // 4-byte aligned
  uint32_t workspace_size;
  uint8_t* record_buffer;
  uint32_t record_buffer_size;    // >= 4,157 (one 4 KiB record); the original path needs up to 65,564
  // Delta resume: after this many payload bytes the agent persists what the
  // decoder needs (kBlobCheckpoint), so a reset resumes there. 0: never
  // (a reset restarts the download from zero).
  uint32_t checkpoint_interval;
  // Transport retries within one poll after a cut, continuing at the exact
  // byte with HTTP Range, before the poll gives up (kAgentRetry).
  uint8_t max_retries;
  uint32_t retry_delay_ms;
  // The application's self-test on the first boot of a new image; null: pass.
  int (*self_test)(void* ctx);    // 0: healthy
  void* self_test_ctx;
  // Tags the device reports about itself at every check-in, e.g.
  // "hw=B,region=eu": key=value pairs separated by commas (keys 1-32 of
  // [a-z0-9_.-], values printable, no comma; the server refuses others, at
  // most 16, 160 characters in all). Null: none (the server keeps no
  // device-reported tags). An admin's value for a key wins on the server.
  const char* tags;
};

// What the agent persists in kBlobState (fixed layout, CRC-protected; see
// docs/device.md). Readers refuse an unknown version.
struct AgentState {
  uint32_t security_counter;          // highest counter of a confirmed release
  TrustedKey keys[kMaxTrustedKeys];
  // The image the device runs when it is valid.
  char running_version[kMaxVersionLen + 1];
  uint8_t running_sha256[32];
  // An installed image waiting for its first boot and confirmation.
  uint8_t pending;                    // 1: switching or switched to `pending_*`
  uint8_t pending_slot;
  uint8_t pending_attempts;           // first boots interrupted before confirmation
  uint8_t pending_legacy;             // installed through the original endpoints
  char pending_version[kMaxVersionLen + 1];
  uint8_t pending_sha256[32];
  uint32_t pending_counter;
  // An outcome the server has not acknowledged yet (delivered before the
  // next check-in): "confirmed", "rolled_back" or "failed"; empty if none.
  char report_state[16];
  char report_version[kMaxVersionLen + 1];
  char report_detail[96];
  // The original path: a release that rolled back is not installed again.
  char legacy_blocked[kMaxVersionLen + 1];
  // The staged original-path download: which patch the staging file holds.
  char legacy_staged[2 * kMaxVersionLen + 2];
  uint32_t legacy_total;              // bytes of the whole staged file, once known
};

// Counters of this agent's life since agent_init (RAM only).
struct AgentStats {
  uint64_t bytes_downloaded;     // record-stream / staging bytes received
  uint32_t resumes;              // ranged requests that continued a download
  uint32_t resumed_from_checkpoint;  // downloads continued after a reset
  uint32_t checkpoints;          // checkpoints written
  uint32_t stream_size;          // of the last update started
};

struct Agent {
  AgentConfig cfg;
  AgentPorts ports;
  AgentState st;
  AgentStats stats;
  Status last_error;
  char last_detail[96];
  // The running image.
  int running_slot;
  uint32_t running_size;
  uint8_t running_sha256[32];
  char running_version[kMaxVersionLen + 1];
  uint8_t restarting;            // restart requested; every call returns kAgentRestart
  // The last check-in's "retry_after": the server holds the update back for
  // now (a rollout's download cap is reached) and asks for the next check-in
  // after this many seconds (at most a day). 0: none. See
  // agent_next_check_in_s.
  uint32_t retry_after_s;
  // The update in progress.
  uint8_t manifest_buf[kManifestMaxSize];
  uint32_t manifest_len;
  Manifest manifest;
  uint8_t nonce[kNonceSize];
  RecordDecoder rec;
  PatchDecoder patch;
  PatchIo patch_io;
  uint8_t in_update;             // decoders hold a download in progress
  uint8_t in_update_id[32];      // its first_record_sha256 (names the whole stream)
  uint8_t legacy;                // the download is the original path's
  uint8_t checkpoint_loaded;     // it was resumed from a checkpoint
  int target_slot;
  uint32_t write_pos;            // bytes of the new image written to flash
  uint32_t erased_to;            // bytes of the target slot erased (sector multiple)
  uint32_t stream_pos;           // record-stream bytes accepted
  uint32_t next_checkpoint;      // payload position of the next checkpoint
  uint32_t payload_pos;          // plaintext payload bytes passed on
  int io_error;                  // a flash port failure seen inside the decoders
  Sha256State sha;               // image and legacy-payload digests
  // One HTTP exchange.
  uint8_t http_mode;             // where the body goes (agent.cpp)
  int http_status;               // the last exchange's HTTP status; 0: no answer came
  int64_t http_length;           // Content-Length of the response, -1 unknown
  uint32_t resp_len;             // response bytes kept (small bodies)
  uint32_t skip;                 // body bytes to drop (a server that ignored Range)
  Status feed_error;             // the decoders' error that aborted a download
  char path[192];
  char url[160];                 // download URL from the check-in answer
  uint8_t signature[kMaxSignatureSize];  // the original path's detached signature
  uint32_t signature_len;
  PatchHeader legacy_header;     // the staged patch's header (original path)
};

// Loads the persisted state (or starts a fresh one from cfg), finds the
// running image in its slot and hashes it. kStatusOk or the port's error.
Status agent_init(Agent* a, const AgentConfig* cfg, const AgentPorts* ports);

// Call once after agent_init on every boot. On the first boot of a new
// image it runs the self-test and confirms the image (raising the stored
// security counter), or rolls back (kAgentRestart). It also notices a
// rollback the bootloader made and queues the report.
AgentResult agent_boot(Agent* a);

// One check-in cycle with the versioned API (see the top of this file).
AgentResult agent_poll(Agent* a);

// One cycle with the original description's endpoints: /check_update/,
// /get_signature/, /get_patch/ staged through the StagingPort, the detached
// signature checked over the whole decrypted patch before it is applied.
AgentResult agent_poll_legacy(Agent* a);

// Seconds until the next agent_poll: the server's retry_after when the last
// check-in had one, else the firmware's own `interval_s`.
uint32_t agent_next_check_in_s(const Agent* a, uint32_t interval_s);

// The version label and SHA-256 of the image the device runs now.
const char* agent_running_version(const Agent* a);
const uint8_t* agent_running_sha256(const Agent* a);

}  // namespace ota

#endif  // OTA_AGENT_H
