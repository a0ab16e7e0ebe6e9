/* Stand-in for ESP-IDF components/bootloader_support/include/esp_flash_partitions.h
 * (written from ESP-IDF; esp_ota_img_states_t is unchanged from v4.x to
 * v5.x). Only the OTA image states. */
#ifndef OTA_STUB_ESP_FLASH_PARTITIONS_H
#define OTA_STUB_ESP_FLASH_PARTITIONS_H

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_OTA_IMG_NEW             = 0x0U,
    ESP_OTA_IMG_PENDING_VERIFY  = 0x1U,
    ESP_OTA_IMG_VALID           = 0x2U,
    ESP_OTA_IMG_INVALID         = 0x3U,
    ESP_OTA_IMG_ABORTED         = 0x4U,
    ESP_OTA_IMG_UNDEFINED       = 0xFFFFFFFFU,
} esp_ota_img_states_t;

#ifdef __cplusplus
}
#endif

#endif
