/* Stand-in for ESP-IDF components/nvs_flash/include/nvs_flash.h (written
 * from ESP-IDF v5.x). nvs_flash_init/erase as the ESP-IDF example calls
 * them. */
#ifndef OTA_STUB_NVS_FLASH_H
#define OTA_STUB_NVS_FLASH_H

#include "nvs.h"

#ifdef __cplusplus
extern "C" {
#endif

esp_err_t nvs_flash_init(void);
esp_err_t nvs_flash_erase(void);

#ifdef __cplusplus
}
#endif

#endif
