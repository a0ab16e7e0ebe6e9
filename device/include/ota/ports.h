// The device agent's ports: the only ways the update state machine
// (ota/agent.h) reaches the world, in the spirit of LevelDB's Env. Each is a
// struct of plain function pointers and a context, so the same core runs on
// ESP32 (device/ports/esp32) and in the simulator (device/ports/posix).
//
// Every function returns 0 on success and non-zero on failure unless it
// says otherwise. All calls are synchronous; none may allocate on behalf of
// the core. Cryptography has its own port (ota/crypto_port.h).
#ifndef OTA_PORTS_H
#define OTA_PORTS_H

#include <stddef.h>
#include <stdint.h>

namespace ota {

// ---------------------------------------------------------------------------
// Flash: two application slots and the boot selection, with ESP32 semantics
// (esp_partition.h, esp_ota_ops.h): bytes can only be written where they are
// erased, erasure works on whole sectors, and the boot selection (otadata)
// is replaced atomically.

constexpr uint32_t kFlashSectorSize = 4096;

// ESP-IDF's esp_ota_img_states_t, as the agent needs it.
enum ImageState : uint8_t {
  kImageValid = 0,          // confirmed (or rollback is not enabled)
  kImagePendingVerify = 1,  // first boot of a new image: confirm or roll back
  kImageNew = 2,            // selected, not booted yet
  kImageInvalid = 3,
  kImageAborted = 4,
  kImageUndefined = 5,
};

struct FlashPort {
  void* ctx;
  // The slot (0 or 1) the running image was booted from.
  int (*running_slot)(void* ctx);
  // Bytes of a slot (a multiple of kFlashSectorSize).
  uint32_t (*slot_size)(void* ctx, int slot);
  int (*read)(void* ctx, int slot, uint32_t offset, uint8_t* buf, uint32_t len);
  // offset and len are multiples of kFlashSectorSize.
  int (*erase)(void* ctx, int slot, uint32_t offset, uint32_t len);
  // Only into erased bytes (a port may refuse anything else).
  int (*write)(void* ctx, int slot, uint32_t offset, const uint8_t* buf, uint32_t len);
  // The next boot starts `slot` as a new image that must confirm itself
  // (esp_ota_set_boot_partition with rollback enabled). Atomic.
  int (*set_boot)(void* ctx, int slot);
  // State of the running image (ImageState).
  int (*running_state)(void* ctx);
  // The running image confirms itself (esp_ota_mark_app_valid_cancel_rollback).
  int (*mark_valid)(void* ctx);
  // The running image is bad: select the previous one for the next boot
  // (esp_ota_mark_app_invalid_rollback_and_reboot, which also restarts and
  // so may not return; the agent restarts through SystemPort otherwise).
  int (*rollback)(void* ctx);
};

// ---------------------------------------------------------------------------
// Transport: one HTTP(S) exchange at a time, with the server the port was
// configured for. The port verifies the server's certificate against the
// provisioning bundle's CA; it never skips that check.

struct HttpRequest {
  const char* method;        // "GET" or "POST"
  const char* path;          // path and query, e.g. "/api/v1/devices/d1/check-in"
  const char* bearer;        // Authorization: Bearer <token>, or null
  const char* content_type;  // for a body, or null
  const uint8_t* body;
  size_t body_len;
  uint32_t range_from;       // non-zero: "Range: bytes=<range_from>-"
};

// Receives the response as it arrives. A non-zero return from either
// callback aborts the exchange (request then returns non-zero).
struct HttpSink {
  void* ctx;
  // Once, before any body byte: the status code and the body's length
  // (Content-Length; -1 when unknown).
  int (*begin)(void* ctx, int status, int64_t content_length);
  int (*data)(void* ctx, const uint8_t* data, size_t len);
};

struct TransportPort {
  void* ctx;
  // 0 when a whole response was received (any status); non-zero when the
  // connection failed, the certificate was refused, or the response was
  // cut (some body bytes may have been delivered already).
  int (*request)(void* ctx, const HttpRequest* req, const HttpSink* sink);
};

// ---------------------------------------------------------------------------
// State store: small blobs that survive resets, each replaced atomically
// (POSIX: write a temporary file, fsync, rename; ESP32: NVS / a dedicated
// partition with two copies). A power cut before commit leaves the old blob.

enum StateBlob : uint8_t {
  kBlobState = 0,       // the agent's persistent state (ota/agent.h), < 1 KiB
  kBlobCheckpoint = 1,  // a resumable download, up to ~30 KiB
};

struct StatePort {
  void* ctx;
  // Bytes of the blob; 0 (and success) when it does not exist.
  int (*size)(void* ctx, uint8_t blob, uint32_t* size);
  int (*read)(void* ctx, uint8_t blob, uint32_t offset, uint8_t* buf, uint32_t len);
  // A replacement: begin, any number of appends, commit. Only one open at a
  // time; an abandoned replacement (no commit) changes nothing.
  int (*begin)(void* ctx, uint8_t blob);
  int (*append)(void* ctx, const uint8_t* data, uint32_t len);
  int (*commit)(void* ctx);
  int (*remove)(void* ctx, uint8_t blob);
};

// Staging for the original description's path: the encrypted patch file is
// downloaded to the filesystem (LittleFS on ESP32) before it is checked and
// applied, as the original client did. Appends are durable as they return,
// so a download continues from size() after a reset.
struct StagingPort {
  void* ctx;
  int (*size)(void* ctx, uint32_t* size);
  int (*read)(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len);
  int (*append)(void* ctx, const uint8_t* data, uint32_t len);
  int (*clear)(void* ctx);
};

// ---------------------------------------------------------------------------
// System: clock, randomness, restart.

struct SystemPort {
  void* ctx;
  uint64_t (*now_ms)(void* ctx);  // monotonic milliseconds
  void (*sleep_ms)(void* ctx, uint32_t ms);
  // Cryptographically secure random bytes (esp_fill_random, getrandom).
  int (*random)(void* ctx, uint8_t* buf, size_t len);
  // Restarts the device. On hardware it does not return; in the simulator
  // it returns and the agent unwinds (agent calls then return kAgentRestart).
  void (*restart)(void* ctx);
};

// ---------------------------------------------------------------------------
// Display and log: a status line and progress (the two OLEDs on ESP32, the
// serial log, the simulator's stdout). Any member may be null.

enum LogLevel : uint8_t { kLogError = 0, kLogWarn = 1, kLogInfo = 2, kLogDebug = 3 };

struct DisplayPort {
  void* ctx;
  // A state change: `state` is a short word ("checking", "downloading", ...),
  // `detail` a human line (may be empty). Both NUL-terminated.
  void (*status)(void* ctx, const char* state, const char* detail);
  // Progress of the current step, in bytes.
  void (*progress)(void* ctx, uint32_t done, uint32_t total);
  void (*log)(void* ctx, uint8_t level, const char* message);
};

}  // namespace ota

#endif  // OTA_PORTS_H
