/* Stand-in for ESP-IDF components/esp_timer/include/esp_timer.h (written
 * from ESP-IDF v5.x). */
#ifndef OTA_STUB_ESP_TIMER_H
#define OTA_STUB_ESP_TIMER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int64_t esp_timer_get_time(void);

#ifdef __cplusplus
}
#endif

#endif
