/* Stand-in for ESP-IDF components/esp_netif/include/esp_netif.h and
 * esp_netif_types.h (written from ESP-IDF v5.x): esp_netif_init and the
 * IP_EVENT base with IP_EVENT_STA_GOT_IP. */
#ifndef OTA_STUB_ESP_NETIF_H
#define OTA_STUB_ESP_NETIF_H

#include "esp_err.h"
#include "esp_event.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esp_netif_obj esp_netif_t;

ESP_EVENT_DECLARE_BASE(IP_EVENT);

typedef enum {
    IP_EVENT_STA_GOT_IP,
    IP_EVENT_STA_LOST_IP,
} ip_event_t;

esp_err_t esp_netif_init(void);

#ifdef __cplusplus
}
#endif

#endif
