/* Stand-in for ESP-IDF components/esp_system/include/esp_system.h
 * (written from ESP-IDF; esp_restart is the same in v4.x and v5.x). */
#ifndef OTA_STUB_ESP_SYSTEM_H
#define OTA_STUB_ESP_SYSTEM_H

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

void esp_restart(void) __attribute__ ((__noreturn__));

#ifdef __cplusplus
}
#endif

#endif
