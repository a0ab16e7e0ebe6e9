/* Stand-in for ESP-IDF components/log/include/esp_log.h (written from
 * ESP-IDF v5.x). The real ESP_LOGx macros also filter by level and add a
 * colour prefix and a timestamp; here they call esp_log_write() directly,
 * which keeps ESP-IDF's printf format attribute, so a format that does not
 * match its arguments fails tools/esp32-check (-Werror=format). */
#ifndef OTA_STUB_ESP_LOG_H
#define OTA_STUB_ESP_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ESP_LOG_NONE,
    ESP_LOG_ERROR,
    ESP_LOG_WARN,
    ESP_LOG_INFO,
    ESP_LOG_DEBUG,
    ESP_LOG_VERBOSE
} esp_log_level_t;

void esp_log_write(esp_log_level_t level, const char* tag, const char* format, ...) __attribute__ ((format (printf, 3, 4)));

#define ESP_LOGE(tag, format, ...) esp_log_write(ESP_LOG_ERROR, tag, format, ##__VA_ARGS__)
#define ESP_LOGW(tag, format, ...) esp_log_write(ESP_LOG_WARN, tag, format, ##__VA_ARGS__)
#define ESP_LOGI(tag, format, ...) esp_log_write(ESP_LOG_INFO, tag, format, ##__VA_ARGS__)
#define ESP_LOGD(tag, format, ...) esp_log_write(ESP_LOG_DEBUG, tag, format, ##__VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
