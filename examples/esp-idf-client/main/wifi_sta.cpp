// See wifi_sta.h. ESP-IDF 5.x: esp_netif.h, esp_event.h, esp_wifi.h.
#include "wifi_sta.h"

#include <string.h>

#include "esp_event.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_wifi.h"
#include "esp_wifi_default.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

namespace {

const char* kTag = "wifi";
volatile bool g_connected = false;

// Runs on the default event loop's task.
void on_event(void*, esp_event_base_t base, int32_t id, void*) {
  if (base == WIFI_EVENT && id == WIFI_EVENT_STA_START) {
    esp_wifi_connect();
  } else if (base == WIFI_EVENT && id == WIFI_EVENT_STA_DISCONNECTED) {
    g_connected = false;
    esp_wifi_connect();  // keep trying; the agent polls again later
  } else if (base == IP_EVENT && id == IP_EVENT_STA_GOT_IP) {
    g_connected = true;
  }
}

void copy_field(uint8_t* dst, size_t cap, const char* src) {
  size_t n = strlen(src);
  if (n > cap) n = cap;  // ESP-IDF takes a full-length SSID without NUL
  memcpy(dst, src, n);
}

}  // namespace

bool wifi_sta_start(const char* ssid, const char* password) {
  if (esp_netif_init() != ESP_OK) return false;
  esp_err_t err = esp_event_loop_create_default();
  if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) return false;  // INVALID_STATE: it exists already
  esp_netif_create_default_wifi_sta();
  wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
  if (esp_wifi_init(&init) != ESP_OK) return false;
  if (esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, on_event, nullptr) != ESP_OK ||
      esp_event_handler_register(IP_EVENT, IP_EVENT_STA_GOT_IP, on_event, nullptr) != ESP_OK)
    return false;
  wifi_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  copy_field(cfg.sta.ssid, sizeof cfg.sta.ssid, ssid);
  copy_field(cfg.sta.password, sizeof cfg.sta.password, password);
  if (esp_wifi_set_mode(WIFI_MODE_STA) != ESP_OK || esp_wifi_set_config(WIFI_IF_STA, &cfg) != ESP_OK ||
      esp_wifi_start() != ESP_OK)
    return false;
  ESP_LOGI(kTag, "connecting to \"%s\"", ssid);
  return true;
}

bool wifi_sta_wait(uint32_t timeout_ms) {
  for (uint32_t waited = 0; !g_connected && waited < timeout_ms; waited += 100) vTaskDelay(pdMS_TO_TICKS(100));
  return g_connected;
}
