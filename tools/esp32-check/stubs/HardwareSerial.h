/* Stand-in for Arduino-ESP32 3.x cores/esp32/HardwareSerial.h: begin()
 * with the core's parameters and defaults, and the Serial object. */
#ifndef OTA_STUB_HARDWARESERIAL_H
#define OTA_STUB_HARDWARESERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "Print.h"

#define SERIAL_8N1 0x800001c

class HardwareSerial : public Print {
public:
    void begin(unsigned long baud, uint32_t config = SERIAL_8N1, int8_t rxPin = -1, int8_t txPin = -1,
               bool invert = false, unsigned long timeout_ms = 20000UL, uint8_t rxfifo_full_thrhd = 112);
    size_t write(uint8_t) override;
    size_t write(const uint8_t *buffer, size_t size) override;
};

extern HardwareSerial Serial;

#endif
