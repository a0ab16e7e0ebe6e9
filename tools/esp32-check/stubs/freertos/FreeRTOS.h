/* Stand-in for ESP-IDF components/freertos/FreeRTOS-Kernel/include/freertos/FreeRTOS.h
 * (+ projdefs.h and the port's portmacro.h), written from ESP-IDF v5.x:
 * TickType_t is uint32_t on ESP32 ports, configTICK_RATE_HZ is
 * CONFIG_FREERTOS_HZ, and ESP-IDF's pdMS_TO_TICKS computes in uint64_t. */
#ifndef OTA_STUB_FREERTOS_H
#define OTA_STUB_FREERTOS_H

#include <stdint.h>

#include "sdkconfig.h"

typedef uint32_t TickType_t;
typedef int BaseType_t;

#define configTICK_RATE_HZ CONFIG_FREERTOS_HZ
#define pdMS_TO_TICKS( xTimeInMs ) ( ( TickType_t ) ( ( ( uint64_t ) ( xTimeInMs ) * ( uint64_t ) configTICK_RATE_HZ ) / ( uint64_t ) 1000U ) )

#endif
