/* Stand-in for ESP-IDF components/esp_event/include/esp_event.h and
 * esp_event_base.h (written from ESP-IDF v5.x): the default event loop and
 * handler registration, as the ESP-IDF example's Wi-Fi code uses them. */
#ifndef OTA_STUB_ESP_EVENT_H
#define OTA_STUB_ESP_EVENT_H

#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef const char*  esp_event_base_t;
typedef void (*esp_event_handler_t)(void* event_handler_arg, esp_event_base_t event_base, int32_t event_id, void* event_data);

#define ESP_EVENT_DECLARE_BASE(id) extern esp_event_base_t const id
#define ESP_EVENT_ANY_ID -1

esp_err_t esp_event_loop_create_default(void);
esp_err_t esp_event_handler_register(esp_event_base_t event_base, int32_t event_id, esp_event_handler_t event_handler, void *event_handler_arg);

#ifdef __cplusplus
}
#endif

#endif
