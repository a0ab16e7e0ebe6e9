// ESP-IDF example: an ESP32 that keeps itself up to date with the OTA
// server through the device agent (ota/agent.h) - check-in, signed
// manifest, encrypted delta streamed into the inactive slot, switch,
// self-test, confirmation or rollback. The identity and keys come from the
// provisioning bundle's ota_device_config.h; Wi-Fi from menuconfig.
//
// Serial log (idf.py monitor), as the original client's:
//   I (...) ota-client: PUBKEY found
//   I (...) ota-client: WiFi connecting...
//   I (...) ota-client: WiFi connected
//   I (...) ota-client: Starting update flow...
//   I (...) ota: [downloading] 1.0.1          <- the agent's status lines
//   I (...) ota: progress 40% (64212/160472 bytes)
#include <string.h>

#include "crypto_mbedtls.h"
#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "nvs_flash.h"
#include "ota/agent.h"
#include "ota/esp32/ports.h"
#include "ota/esp32/provisioning.h"
#include "ota_device_config.h"
#include "sdkconfig.h"
#include "wifi_sta.h"

namespace {

const char* kTag = "ota-client";

// 48 KiB for the patch decoder, so the server sends firmware-aware deltas
// (docs/reloc.md, about a third smaller; 23,148 bytes of workspace are the
// plain 32 KiB mode), and one 4 KiB record.
constexpr uint32_t kWorkspaceSize = 48 * 1024 - sizeof(ota::PatchDecoder);
// A checkpoint holds the workspace a patch uses plus the manifest and the
// head of a flash sector (8 KiB covers both): a plain patch uses 23,148 bytes.
constexpr uint32_t kPlainWorkspaceSize = 23148;
constexpr uint32_t kRecordBufferSize = 4157;
// A checkpoint every 64 KiB of payload: a reset costs at most that much
// download again (docs/device.md, "Checkpoints").
constexpr uint32_t kCheckpointInterval = 64 * 1024;
constexpr uint32_t kWifiWaitMs = 30000;

alignas(4) uint8_t g_workspace[kWorkspaceSize];
uint8_t g_record[kRecordBufferSize];
ota::Agent g_agent;
ota::esp32::Provisioning g_prov;
ota::esp32::Flash g_flash;
ota::esp32::State g_state;
ota::esp32::Transport g_http;
ota::esp32::LogDisplay g_display;

// The new image's self-test on its first boot: it must reach the network
// (a firmware that cannot is rolled back). Add the application's own
// checks here.
int self_test(void*) { return wifi_sta_wait(kWifiWaitMs) ? 0 : 1; }

bool init_nvs() {
  esp_err_t err = nvs_flash_init();
  if (err == ESP_ERR_NVS_NO_FREE_PAGES || err == ESP_ERR_NVS_NEW_VERSION_FOUND) {
    // A resized or newer-format NVS partition: erase it (the agent starts
    // again from the provisioned keys).
    ESP_LOGW(kTag, "NVS: %s, erasing it", esp_err_to_name(err));
    if (nvs_flash_erase() != ESP_OK) return false;
    err = nvs_flash_init();
  }
  return err == ESP_OK;
}

bool load_provisioning() {
  using namespace ota::esp32;
  provisioning_init(&g_prov);
  if (provisioning_set_identity(&g_prov, OTA_DEVICE_ID, OTA_PRODUCT, OTA_SERVER_URL) != ota::kStatusOk) {
    ESP_LOGE(kTag, "ota_device_config.h: invalid device id, product or server URL");
    return false;
  }
  if (provisioning_set_device_key(&g_prov, OTA_DEVICE_KEY, sizeof OTA_DEVICE_KEY) != ota::kStatusOk) {
    ESP_LOGE(kTag, "ota_device_config.h: OTA_DEVICE_KEY is not 32 bytes");
    return false;
  }
#ifdef OTA_DEVICE_TOKEN
  if (provisioning_set_token(&g_prov, OTA_DEVICE_TOKEN, strlen(OTA_DEVICE_TOKEN)) != ota::kStatusOk) {
    ESP_LOGE(kTag, "ota_device_config.h: OTA_DEVICE_TOKEN is not hex");
    return false;
  }
#endif
  if (provisioning_set_server_pem(&g_prov, OTA_SERVER_PUB_PEM, strlen(OTA_SERVER_PUB_PEM)) != ota::kStatusOk) {
    ESP_LOGE(kTag, "PUBKEY not found: OTA_SERVER_PUB_PEM is not a P-256 public key");
    return false;
  }
  ESP_LOGI(kTag, "PUBKEY found");
  return true;
}

const char* ca_pem() {
#ifdef OTA_HAVE_CA_PEM
  return OTA_CA_PEM;
#else
  return nullptr;  // an http:// server; https:// is refused without a CA
#endif
}

const char* result_name(ota::AgentResult r) {
  switch (r) {
    case ota::kAgentIdle: return "idle";
    case ota::kAgentRestart: return "restarting";
    case ota::kAgentRetry: return "retry later";
    case ota::kAgentFailed: return "update failed";
  }
  return "?";
}

// Stops here for good: the log says why.
void halt() {
  for (;;) vTaskDelay(pdMS_TO_TICKS(60000));
}

}  // namespace

extern "C" void app_main(void) {
  using namespace ota::esp32;
  ESP_LOGI(kTag, "Booting OTA client (device %s)", OTA_DEVICE_ID);
  if (!init_nvs()) {
    ESP_LOGE(kTag, "NVS init failed");
    halt();
  }
  if (!load_provisioning()) halt();

  ESP_LOGI(kTag, "WiFi connecting...");
  if (!wifi_sta_start(CONFIG_OTA_WIFI_SSID, CONFIG_OTA_WIFI_PASSWORD)) {
    ESP_LOGE(kTag, "WiFi failed: the driver did not start");
    halt();
  }
  if (wifi_sta_wait(kWifiWaitMs))
    ESP_LOGI(kTag, "WiFi connected");
  else
    ESP_LOGW(kTag, "WiFi failed: not connected yet, retrying in the background");

  esp_err_t err = flash_open(&g_flash);
  if (err != ESP_OK) {
    ESP_LOGE(kTag, "no OTA slots (%s): the partition table needs ota_0, ota_1 and otadata, no factory app",
             esp_err_to_name(err));
    halt();
  }
  err = state_open(&g_state, "ota_agent", "otastate");
  if (err != ESP_OK) {
    ESP_LOGE(kTag, "NVS namespace: %s", esp_err_to_name(err));
    halt();
  }
  const uint32_t capacity = state_checkpoint_capacity(&g_state);
  const bool checkpoints = capacity >= kPlainWorkspaceSize + 8192;
  if (!checkpoints)
    ESP_LOGW(kTag, "no \"otastate\" partition: a reset restarts a download");
  else if (capacity < kWorkspaceSize + 8192)
    ESP_LOGW(kTag, "\"otastate\" under 128 KiB: checkpoints of plain patches only");
  TransportConfig http;
  memset(&http, 0, sizeof http);
  http.base_url = g_prov.server_url;
  http.ca_pem = ca_pem();
  transport_init(&g_http, &http);
  log_display_init(&g_display, "ota");

  static const ota::FlashPort flash = flash_port(&g_flash);
  static const ota::TransportPort transport = transport_port(&g_http);
  static const ota::StatePort state = state_port(&g_state);
  static const ota::SystemPort system = system_port();
  static const ota::CryptoPort crypto = ota::mbedtls_crypto_port();
  static const ota::DisplayPort display = log_display_port(&g_display);
  ota::AgentPorts ports;
  memset(&ports, 0, sizeof ports);
  ports.flash = &flash;
  ports.transport = &transport;
  ports.state = &state;
  ports.staging = nullptr;  // the original endpoints' path is in the Arduino example
  ports.system = &system;
  ports.crypto = &crypto;
  ports.display = &display;

  ota::AgentConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  provisioning_apply(&g_prov, &cfg);
  cfg.chip_id = CONFIG_IDF_FIRMWARE_CHIP_ID;
  cfg.factory_version = CONFIG_OTA_FACTORY_VERSION[0] ? CONFIG_OTA_FACTORY_VERSION : nullptr;
  cfg.workspace = g_workspace;
  cfg.workspace_size = sizeof g_workspace;
  cfg.record_buffer = g_record;
  cfg.record_buffer_size = sizeof g_record;
  cfg.checkpoint_interval = checkpoints ? kCheckpointInterval : 0;
  cfg.max_retries = 5;
  cfg.retry_delay_ms = 2000;
  cfg.self_test = self_test;
  cfg.self_test_ctx = nullptr;

  ota::Status s = ota::agent_init(&g_agent, &cfg, &ports);
  if (s != ota::kStatusOk) {
    ESP_LOGE(kTag, "agent_init: %s", ota::status_message(s));
    halt();
  }
  ESP_LOGI(kTag, "running %s from slot ota_%d", ota::agent_running_version(&g_agent), g_flash.running);
  // First boot of a new image: self-test, then confirm (or roll back and restart).
  ota::AgentResult r = ota::agent_boot(&g_agent);
  if (r == ota::kAgentRetry) ESP_LOGW(kTag, "could not confirm the image yet");

  for (;;) {
    ESP_LOGI(kTag, "Starting update flow...");
    r = ota::agent_poll(&g_agent);
    ESP_LOGI(kTag, "update flow: %s", result_name(r));
    // The server may ask for the next check-in sooner or later (retry_after).
    // Seconds times the tick rate: pdMS_TO_TICKS would overflow its 32-bit
    // product for a day's wait.
    vTaskDelay((TickType_t)ota::agent_next_check_in_s(&g_agent, CONFIG_OTA_CHECK_INTERVAL_S) * configTICK_RATE_HZ);
  }
}
