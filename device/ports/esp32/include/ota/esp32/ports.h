// The device agent's ports on ESP32 (ESP-IDF 5.x, and Arduino-ESP32 3.x,
// which is built on it): thin glue from ota/ports.h to esp_partition,
// esp_ota_ops, esp_http_client, NVS, the VFS, esp_timer and esp_log. All
// update logic stays in the core (ota/agent.h); these files only move bytes.
//
// Each port is a context struct the caller owns (static storage is the
// usual choice on a device) plus a function that returns the port struct
// pointing at it. A context must outlive the agent that uses its port.
//
//   static ota::esp32::Flash flash;      ota::esp32::flash_open(&flash);
//   static ota::esp32::State state;      ota::esp32::state_open(&state, "ota_agent", "otastate");
//   static ota::esp32::Transport http;   ota::esp32::transport_init(&http, &http_config);
//   ota::FlashPort f = ota::esp32::flash_port(&flash);  ...
//
// Requirements on the application (docs/esp32.md):
// - a partition table with two OTA app slots (ota_0, ota_1), otadata, nvs,
//   and optionally a 64 KiB partition "otastate" (type 0x40) for download
//   checkpoints; no factory app (the agent runs from ota_0 or ota_1);
// - nvs_flash_init() before state_open() (Arduino-ESP32 does it at start);
// - CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE=y for the bootloader to roll back
//   an image that never confirms itself;
// - Wi-Fi (or Bluetooth) started before the agent asks for random numbers:
//   esp_fill_random() is only a true RNG with the RF subsystem running
//   (esp_random.h, ESP-IDF 5.x).
#ifndef OTA_ESP32_PORTS_H
#define OTA_ESP32_PORTS_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_partition.h"
#include "nvs.h"
#include "ota/ports.h"

namespace ota {
namespace esp32 {

// ---------------------------------------------------------------------------
// Flash: slot 0 = partition subtype ota_0, slot 1 = ota_1.

struct Flash {
  const esp_partition_t* slots[2];
  int running;                      // 0 or 1
  const uint8_t* running_map;       // the running slot mapped for data reads, or null
  esp_partition_mmap_handle_t map_handle;
};

// Finds both slots and the running one, and maps the running slot for
// reading. ESP_OK; ESP_ERR_NOT_FOUND without two OTA slots or when the
// running app is not in one of them (a factory app); ESP_ERR_NOT_SUPPORTED
// for encrypted app partitions (see flash.cpp).
esp_err_t flash_open(Flash* f);
FlashPort flash_port(Flash* f);

// ---------------------------------------------------------------------------
// Transport: esp_http_client, one connection per exchange.

struct TransportConfig {
  const char* base_url;    // "https://host:port" (device.json server_url), no trailing path
  const char* ca_pem;      // NUL-terminated PEM (ca.pem); required for https://
  int timeout_ms;          // per network operation; 0: 15000
  const char* user_agent;  // null: "ota-agent-esp32"
};

struct Transport {
  TransportConfig cfg;
  char url[320];
  char auth[96];
  char range[32];
  uint8_t buf[1024];
  esp_err_t last_error;    // of the last failed exchange (ESP_OK after a success)
  int last_tls_error;      // mbedTLS error code of the last TLS failure, 0 if none
  int last_tls_flags;      // certificate verification flags of that failure
};

// Keeps cfg (and the strings it points to) for the life of the transport.
void transport_init(Transport* t, const TransportConfig* cfg);
TransportPort transport_port(Transport* t);

// ---------------------------------------------------------------------------
// State: kBlobState in NVS (one blob, replaced by nvs_set_blob + nvs_commit);
// kBlobCheckpoint in a partition of type 0x40 with two halves, each replacement
// written to the half that does not hold the current copy and made current
// by a header written last (state.cpp has the layout).

constexpr uint32_t kStateBlobMax = 1024;  // kBlobState is < 1 KiB (docs/device.md)

struct State {
  nvs_handle_t nvs;
  bool nvs_open;
  const esp_partition_t* part;  // null: no checkpoint partition (checkpoints off)
  uint32_t half_size;           // bytes of each half
  // The current checkpoint copy: half 0/1, or -1 when none is valid.
  int cp_half;
  uint32_t cp_seq;
  uint32_t cp_len;
  int cp_other_valid;           // the other half also holds a valid (older) copy
  // The replacement in progress.
  int open_blob;                // -1 none, else the StateBlob
  int w_half;
  uint32_t w_len;
  uint32_t w_erased;            // bytes of the half erased so far
  uint32_t w_crc;
  bool w_failed;
  uint8_t small[kStateBlobMax];  // kBlobState: the replacement being built
  uint8_t cache[kStateBlobMax];  // kBlobState: the committed blob
  uint32_t cache_len;
  bool cache_valid;
};

// Opens the NVS namespace (nvs_flash_init() must have run) and finds the
// checkpoint partition by label (type 0x40; null or missing: no
// checkpoints). ESP_OK or the NVS error.
esp_err_t state_open(State* s, const char* nvs_namespace, const char* checkpoint_partition);
// True when checkpoints can be stored (use 0 as checkpoint_interval otherwise).
bool state_has_checkpoints(const State* s);
// The largest checkpoint the partition holds.
uint32_t state_checkpoint_capacity(const State* s);
StatePort state_port(State* s);

// ---------------------------------------------------------------------------
// Staging for the original endpoints' path: one file on a mounted VFS
// filesystem (LittleFS on Arduino: "/littlefs/..."; any esp_vfs path on
// ESP-IDF). Appends are flushed and fsync'ed before they return.

struct FileStaging {
  char path[96];
};

void staging_init(FileStaging* s, const char* path);
StagingPort staging_port(FileStaging* s);

// ---------------------------------------------------------------------------
// System: esp_timer_get_time, vTaskDelay, esp_fill_random, esp_restart.

SystemPort system_port();

// ---------------------------------------------------------------------------
// Display: the serial log through esp_log (tag "ota"), with progress every
// 10%. The Arduino example's OLED display is ota/esp32/oled_display.h.

struct LogDisplay {
  const char* tag;
  uint32_t last_tenth;  // progress already logged, in tenths (11: none yet)
};

void log_display_init(LogDisplay* d, const char* tag);
DisplayPort log_display_port(LogDisplay* d);

}  // namespace esp32
}  // namespace ota

#endif  // OTA_ESP32_PORTS_H
