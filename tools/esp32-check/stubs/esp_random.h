/* Stand-in for ESP-IDF components/esp_hw_support/include/esp_random.h
 * (written from ESP-IDF v5.x, SPDX 2021). */
#ifndef OTA_STUB_ESP_RANDOM_H
#define OTA_STUB_ESP_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void esp_fill_random(void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif
