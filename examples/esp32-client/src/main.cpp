// The original description's ESP32 client, on the real device agent
// (ota/agent.h): Wi-Fi, the provisioning files on LittleFS, two optional
// SSD1306 OLEDs, a serial log at 115200 baud, a check every
// OTA_CHECK_INTERVAL_S seconds, and on the first boot of a new image a
// self-test before the image confirms itself (or rolls back).
//
// LittleFS (made from a provisioning bundle by
// tools/esp32-check/bundle-to-data.sh, uploaded with `pio run -t uploadfs`):
//   /device.json  /device.key  /device.token  /server_pub.pem  [/ca.pem]  /wifi.json
//
// Serial log, as the original client's:
//   PUBKEY found
//   WiFi connecting.....
//   WiFi connected, IP 192.168.1.23
//   Starting update flow...
//   [ota] downloading: 1.0.1
//   [ota] progress 40% (64212/160472 bytes)
//
// Arduino-ESP32 3.x (ESP-IDF 5.x). Also an Arduino IDE example of the
// generated library (tools/esp32-check/make-arduino-library.sh).
#include <Arduino.h>
#include <LittleFS.h>
#include <WiFi.h>
#include <Wire.h>
#include <string.h>

#include "crypto_mbedtls.h"
#include "ota/agent.h"
#include "ota/esp32/oled_display.h"
#include "ota/esp32/ports.h"
#include "ota/esp32/provisioning.h"
#include "ota/json_scan.h"
#include "sdkconfig.h"

#ifndef OTA_USE_ORIGINAL_ENDPOINTS
#define OTA_USE_ORIGINAL_ENDPOINTS 0
#endif
#ifndef OTA_CHECK_INTERVAL_S
#define OTA_CHECK_INTERVAL_S 60
#endif
#ifndef OTA_I2C_SDA
#define OTA_I2C_SDA 21
#endif
#ifndef OTA_I2C_SCL
#define OTA_I2C_SCL 22
#endif

// A TLS handshake and an ECDSA verify run in loop(); Arduino's default loop
// task stack (8 KiB) is tight for them.
SET_LOOP_TASK_STACK_SIZE(16 * 1024);

// Arduino-ESP32's initArduino() confirms a new image (PENDING_VERIFY) before
// setup() unless this weak hook, defined in the core's C code (hence C
// linkage), returns true. The agent confirms the image itself, after the
// self-test, in agent_boot().
extern "C" bool verifyRollbackLater() { return true; }

namespace {

// 48 KiB for the patch decoder, so the server sends firmware-aware deltas
// (docs/reloc.md, about a third smaller; 23,148 bytes of workspace are the
// plain 32 KiB mode), and one 4 KiB record; the original endpoints may send
// a patch under 64 KiB as a single record of up to 65,564 bytes.
constexpr uint32_t kWorkspaceSize = 48 * 1024 - sizeof(ota::PatchDecoder);
// A checkpoint holds the workspace a patch uses plus the manifest and the
// head of a flash sector (8 KiB covers both): a plain patch uses 23,148 bytes.
constexpr uint32_t kPlainWorkspaceSize = 23148;
#if OTA_USE_ORIGINAL_ENDPOINTS
constexpr uint32_t kRecordBufferSize = 65564;
#else
constexpr uint32_t kRecordBufferSize = 4157;
#endif
constexpr uint32_t kCheckpointInterval = 64 * 1024;
constexpr uint32_t kWifiTimeoutMs = 30000;
constexpr char kStagingPath[] = "/littlefs/ota_staging.bin";  // LittleFS's default mount point

alignas(4) uint8_t g_workspace[kWorkspaceSize];
uint8_t g_record[kRecordBufferSize];
ota::Agent g_agent;
ota::esp32::Provisioning g_prov;
ota::esp32::Flash g_flash;
ota::esp32::State g_state;
ota::esp32::Transport g_http;
ota::esp32::FileStaging g_staging;
ota::esp32::OledDisplay g_display;
ota::FlashPort g_flash_port;
ota::TransportPort g_transport_port;
ota::StatePort g_state_port;
ota::StagingPort g_staging_port;
ota::SystemPort g_system_port;
ota::CryptoPort g_crypto_port;
ota::DisplayPort g_display_port;

char g_file[4096];   // one provisioning file at a time
char g_ca[4096];     // ca.pem, for the transport (kept)
bool g_have_ca = false;
char g_wifi_ssid[33];
char g_wifi_password[65];
bool g_ready = false;
bool g_checked_once = false;
unsigned long g_last_check = 0;

// Reads a whole LittleFS file into g_file (NUL-terminated); its length, or
// -1 when it is missing or does not fit.
long read_file(const char* path) {
  g_file[0] = 0;
  if (!LittleFS.exists(path)) return -1;  // open() would log an error for optional files
  File f = LittleFS.open(path, "r");
  if (!f) return -1;
  size_t size = f.size();
  long n = -1;
  if (size < sizeof g_file && f.read(reinterpret_cast<uint8_t*>(g_file), size) == size) n = (long)size;
  f.close();
  g_file[n >= 0 ? n : 0] = 0;
  return n;
}

bool load_bundle() {
  using namespace ota::esp32;
  provisioning_init(&g_prov);
  long n = read_file("/device.json");
  if (n < 0 || provisioning_set_device_json(&g_prov, g_file, (size_t)n) != ota::kStatusOk) {
    Serial.println("device.json missing or invalid on LittleFS");
    return false;
  }
  n = read_file("/device.key");
  if (n < 0 || provisioning_set_device_key(&g_prov, reinterpret_cast<const uint8_t*>(g_file), (size_t)n) !=
                   ota::kStatusOk) {
    Serial.println("device.key missing or not 32 bytes");
    return false;
  }
  n = read_file("/device.token");
  if (n >= 0 && provisioning_set_token(&g_prov, g_file, (size_t)n) != ota::kStatusOk) {
    Serial.println("device.token is not hex");
    return false;
  }
  n = read_file("/server_pub.pem");
  if (n < 0 || provisioning_set_server_pem(&g_prov, g_file, (size_t)n) != ota::kStatusOk) {
    Serial.println("PUBKEY not found (server_pub.pem missing or not a P-256 public key)");
    return false;
  }
  Serial.println("PUBKEY found");
  n = read_file("/ca.pem");
  g_have_ca = n > 0;
  if (g_have_ca) memcpy(g_ca, g_file, (size_t)n + 1);
  n = read_file("/wifi.json");
  if (n < 0 ||
      ota::json_get_string(g_file, (size_t)n, "ssid", g_wifi_ssid, sizeof g_wifi_ssid, nullptr) != ota::kStatusOk ||
      ota::json_get_string(g_file, (size_t)n, "password", g_wifi_password, sizeof g_wifi_password, nullptr) !=
          ota::kStatusOk) {
    Serial.println("wifi.json missing or invalid");
    return false;
  }
  return true;
}

bool connect_wifi(uint32_t timeout_ms) {
  if (WiFi.status() == WL_CONNECTED) return true;
  ota::esp32::oled_display_message(&g_display, "WiFi", "connecting...");
  Serial.print("WiFi connecting");
  WiFi.mode(WIFI_STA);
  WiFi.begin(g_wifi_ssid, g_wifi_password);
  const unsigned long start = millis();
  while (WiFi.status() != WL_CONNECTED && millis() - start < timeout_ms) {
    delay(500);
    Serial.print(".");
  }
  Serial.println();
  if (WiFi.status() != WL_CONNECTED) {
    Serial.println("WiFi failed");
    ota::esp32::oled_display_message(&g_display, "WiFi failed", g_wifi_ssid);
    return false;
  }
  String ip = WiFi.localIP().toString();
  Serial.print("WiFi connected, IP ");
  Serial.println(ip);
  ota::esp32::oled_display_message(&g_display, "WiFi connected", ip.c_str());
  return true;
}

// The new image's self-test on its first boot: it must reach the network
// (a firmware that cannot is rolled back). Add the application's checks.
int self_test(void*) { return connect_wifi(kWifiTimeoutMs) ? 0 : 1; }

const char* result_name(ota::AgentResult r) {
  switch (r) {
    case ota::kAgentIdle: return "idle";
    case ota::kAgentRestart: return "restarting";
    case ota::kAgentRetry: return "retry later";
    case ota::kAgentFailed: return "update failed";
  }
  return "?";
}

bool start_agent() {
  using namespace ota::esp32;
  esp_err_t err = flash_open(&g_flash);
  if (err != ESP_OK) {
    Serial.printf("no OTA slots (%s): use partitions.csv (ota_0, ota_1, otadata)\n", esp_err_to_name(err));
    return false;
  }
  err = state_open(&g_state, "ota_agent", "otastate");
  if (err != ESP_OK) {
    Serial.printf("NVS: %s\n", esp_err_to_name(err));
    return false;
  }
  const uint32_t capacity = state_checkpoint_capacity(&g_state);
  const bool checkpoints = capacity >= kPlainWorkspaceSize + 8192;
  if (!checkpoints)
    Serial.println("no \"otastate\" partition: a reset restarts a download");
  else if (capacity < kWorkspaceSize + 8192)
    Serial.println("\"otastate\" under 128 KiB: checkpoints of plain patches only");
  TransportConfig http;
  memset(&http, 0, sizeof http);
  http.base_url = g_prov.server_url;
  http.ca_pem = g_have_ca ? g_ca : nullptr;
  transport_init(&g_http, &http);
  staging_init(&g_staging, kStagingPath);

  g_flash_port = flash_port(&g_flash);
  g_transport_port = transport_port(&g_http);
  g_state_port = state_port(&g_state);
  g_staging_port = staging_port(&g_staging);
  g_system_port = system_port();
  g_crypto_port = ota::mbedtls_crypto_port();
  g_display_port = oled_display_port(&g_display);
  ota::AgentPorts ports;
  memset(&ports, 0, sizeof ports);
  ports.flash = &g_flash_port;
  ports.transport = &g_transport_port;
  ports.state = &g_state_port;
  ports.staging = &g_staging_port;
  ports.system = &g_system_port;
  ports.crypto = &g_crypto_port;
  ports.display = &g_display_port;

  ota::AgentConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  provisioning_apply(&g_prov, &cfg);
  cfg.chip_id = CONFIG_IDF_FIRMWARE_CHIP_ID;
#ifdef OTA_FACTORY_VERSION
  cfg.factory_version = OTA_FACTORY_VERSION;  // the server's name for this build
#else
  cfg.factory_version = nullptr;  // the version in the image's app descriptor
#endif
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
    Serial.printf("agent_init: %s\n", ota::status_message(s));
    return false;
  }
  Serial.printf("running %s from ota_%d\n", ota::agent_running_version(&g_agent), g_flash.running);
  // First boot of a new image: self-test, then confirm or roll back.
  if (ota::agent_boot(&g_agent) == ota::kAgentRetry) Serial.println("could not confirm the image yet");
  return true;
}

}  // namespace

void setup() {
  Serial.begin(115200);
  delay(200);
  Serial.println();
  Serial.println("OTA client booting");
  Wire.begin(OTA_I2C_SDA, OTA_I2C_SCL);
  int screens = ota::esp32::oled_display_begin(&g_display, &Wire);
  Serial.printf("OLED screens: %d\n", screens);
  if (!LittleFS.begin(false)) {
    Serial.println("LittleFS mount failed: upload data/ with `pio run -t uploadfs`");
    return;
  }
  if (!load_bundle()) return;
  connect_wifi(kWifiTimeoutMs);
  g_ready = start_agent();
}

void loop() {
  if (!g_ready) {
    delay(1000);
    return;
  }
  // The server may ask for the next check-in sooner or later (retry_after).
  const unsigned long interval_s = ota::agent_next_check_in_s(&g_agent, OTA_CHECK_INTERVAL_S);
  if (g_checked_once && millis() - g_last_check < interval_s * 1000ul) {
    delay(100);
    return;
  }
  g_checked_once = true;
  g_last_check = millis();
  if (!connect_wifi(kWifiTimeoutMs)) return;
  Serial.println("Starting update flow...");
  ota::AgentResult r = OTA_USE_ORIGINAL_ENDPOINTS ? ota::agent_poll_legacy(&g_agent) : ota::agent_poll(&g_agent);
  Serial.printf("update flow: %s\n", result_name(r));
}
