/* Stand-in for ESP-IDF components/esp_wifi/include/esp_wifi.h with the
 * types of esp_wifi_types.h (written from ESP-IDF v5.x): station setup as
 * the ESP-IDF example does it. The real config structs have more members
 * after the ones listed here; WIFI_INIT_CONFIG_DEFAULT() fills many more. */
#ifndef OTA_STUB_ESP_WIFI_H
#define OTA_STUB_ESP_WIFI_H

#include <stdint.h>

#include "esp_err.h"
#include "esp_event.h"
#include "esp_wifi_default.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    WIFI_MODE_NULL = 0,
    WIFI_MODE_STA,
    WIFI_MODE_AP,
    WIFI_MODE_APSTA,
} wifi_mode_t;

typedef enum {
    WIFI_IF_STA = 0,
    WIFI_IF_AP = 1,
} wifi_interface_t;

typedef struct {
    uint8_t ssid[32];
    uint8_t password[64];
} wifi_ap_config_t;

typedef struct {
    uint8_t ssid[32];
    uint8_t password[64];
} wifi_sta_config_t;

typedef union {
    wifi_ap_config_t  ap;
    wifi_sta_config_t sta;
} wifi_config_t;

typedef struct {
    int32_t magic;
} wifi_init_config_t;

#define WIFI_INIT_CONFIG_MAGIC 0x1F2F3F4F
#define WIFI_INIT_CONFIG_DEFAULT() { WIFI_INIT_CONFIG_MAGIC }

ESP_EVENT_DECLARE_BASE(WIFI_EVENT);

typedef enum {
    WIFI_EVENT_WIFI_READY = 0,
    WIFI_EVENT_SCAN_DONE,
    WIFI_EVENT_STA_START,
    WIFI_EVENT_STA_STOP,
    WIFI_EVENT_STA_CONNECTED,
    WIFI_EVENT_STA_DISCONNECTED,
} wifi_event_t;

esp_err_t esp_wifi_init(const wifi_init_config_t *config);
esp_err_t esp_wifi_set_mode(wifi_mode_t mode);
esp_err_t esp_wifi_set_config(wifi_interface_t interface, wifi_config_t *conf);
esp_err_t esp_wifi_start(void);
esp_err_t esp_wifi_connect(void);

#ifdef __cplusplus
}
#endif

#endif
