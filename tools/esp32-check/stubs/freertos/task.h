/* Stand-in for ESP-IDF components/freertos/FreeRTOS-Kernel/include/freertos/task.h
 * (written from ESP-IDF v5.x, FreeRTOS-Kernel V10.x). */
#ifndef OTA_STUB_FREERTOS_TASK_H
#define OTA_STUB_FREERTOS_TASK_H

#include "freertos/FreeRTOS.h"

#ifdef __cplusplus
extern "C" {
#endif

void vTaskDelay( const TickType_t xTicksToDelay );

#ifdef __cplusplus
}
#endif

#endif
