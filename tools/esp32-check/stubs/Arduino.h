/* Stand-in for Arduino-ESP32 3.x cores/esp32/Arduino.h (+ esp32-hal.h):
 * what the example and the OLED display port use - Serial, millis(),
 * delay(), SET_LOOP_TASK_STACK_SIZE - with the core's signatures. Like the
 * real header it brings in the ESP-IDF basics (sdkconfig.h, esp_err.h). */
#ifndef OTA_STUB_ARDUINO_H
#define OTA_STUB_ARDUINO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "HardwareSerial.h"
#include "Print.h"
#include "WString.h"
#include "esp_err.h"
#include "sdkconfig.h"

#ifdef __cplusplus
extern "C" {
#endif

unsigned long millis();
void delay(uint32_t);

#ifdef __cplusplus
}
#endif

size_t getArduinoLoopTaskStackSize(void);
#define SET_LOOP_TASK_STACK_SIZE(sz) size_t getArduinoLoopTaskStackSize() { return sz;}

#endif
