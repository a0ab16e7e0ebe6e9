/* Stand-in for Arduino-ESP32 3.x libraries/Wire/src/Wire.h: TwoWire with
 * the members the example and the OLED port call. */
#ifndef OTA_STUB_WIRE_H
#define OTA_STUB_WIRE_H

#include <stdint.h>

class TwoWire {
public:
    bool begin(int sda, int scl, uint32_t frequency = 0);
    void beginTransmission(uint8_t address);
    uint8_t endTransmission();
};

extern TwoWire Wire;

#endif
