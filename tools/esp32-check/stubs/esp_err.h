/* Stand-in for ESP-IDF components/esp_common/include/esp_err.h (written
 * from ESP-IDF v5.x). Only what the ESP32 glue and the examples use; the
 * values are ESP-IDF's. tools/esp32-check compiles against it. */
#ifndef OTA_STUB_ESP_ERR_H
#define OTA_STUB_ESP_ERR_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int esp_err_t;

#define ESP_OK 0
#define ESP_FAIL -1
#define ESP_ERR_NO_MEM 0x101
#define ESP_ERR_INVALID_ARG 0x102
#define ESP_ERR_INVALID_STATE 0x103
#define ESP_ERR_INVALID_SIZE 0x104
#define ESP_ERR_NOT_FOUND 0x105
#define ESP_ERR_NOT_SUPPORTED 0x106
#define ESP_ERR_TIMEOUT 0x107
#define ESP_ERR_INVALID_RESPONSE 0x108

const char *esp_err_to_name(esp_err_t code);

#ifdef __cplusplus
}
#endif

#endif
