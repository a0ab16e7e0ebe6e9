/* Stand-in for ESP-IDF components/app_update/include/esp_ota_ops.h
 * (written from ESP-IDF v5.3.1). Only the functions the ESP32 flash port
 * calls, with ESP-IDF's signatures. */
#ifndef OTA_STUB_ESP_OTA_OPS_H
#define OTA_STUB_ESP_OTA_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"
#include "esp_flash_partitions.h"
#include "esp_partition.h"

#ifdef __cplusplus
extern "C" {
#endif

esp_err_t esp_ota_set_boot_partition(const esp_partition_t* partition);
const esp_partition_t* esp_ota_get_running_partition(void);
esp_err_t esp_ota_mark_app_valid_cancel_rollback(void);
esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void);
esp_err_t esp_ota_get_state_partition(const esp_partition_t *partition, esp_ota_img_states_t *ota_state);

#ifdef __cplusplus
}
#endif

#endif
