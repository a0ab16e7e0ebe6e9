/* Stand-in for ESP-IDF components/esp_wifi/include/esp_wifi_default.h
 * (written from ESP-IDF v5.x). */
#ifndef OTA_STUB_ESP_WIFI_DEFAULT_H
#define OTA_STUB_ESP_WIFI_DEFAULT_H

#include "esp_netif.h"

#ifdef __cplusplus
extern "C" {
#endif

esp_netif_t* esp_netif_create_default_wifi_sta(void);

#ifdef __cplusplus
}
#endif

#endif
