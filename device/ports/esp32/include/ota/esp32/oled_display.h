// DisplayPort for Arduino-ESP32: the serial log plus up to two 128x64
// SSD1306 OLEDs on I2C at 0x3C and 0x3D (Adafruit_SSD1306 + Adafruit_GFX),
// as in the original client. Each screen is optional: the port probes the
// addresses and uses what answers, and works with none.
//
//   one screen:  status (state + detail) on the top half, progress below;
//   two screens: 0x3C shows the status, 0x3D progress and the last log line.
//
// Serial (115200 in the example): "[ota] downloading: 1.0.1",
// "[ota] progress 40% (64212/160472 bytes)" every 10%, "[ota] E: ...".
// Arduino only (compiled to nothing elsewhere).
#ifndef OTA_ESP32_OLED_DISPLAY_H
#define OTA_ESP32_OLED_DISPLAY_H

#include <stdint.h>

#include "ota/ports.h"

class TwoWire;

namespace ota {
namespace esp32 {

struct OledDisplay {
  bool present[2];         // 0x3C, 0x3D answered
  char state[24];
  char detail[64];
  char last_log[64];
  uint32_t done;
  uint32_t total;
  uint32_t last_percent;   // drawn; 101: none yet
  uint32_t last_tenth;     // logged to serial; 11: none yet
};

// Probes 0x3C and 0x3D on `wire` (already begun) and initialises the
// screens that answer. Returns how many were found (0..2).
int oled_display_begin(OledDisplay* d, TwoWire* wire);
DisplayPort oled_display_port(OledDisplay* d);

// A status of the application's own (e.g. "WiFi connected") on the
// screens only; the application prints its own serial lines.
void oled_display_message(OledDisplay* d, const char* state, const char* detail);

}  // namespace esp32
}  // namespace ota

#endif  // OTA_ESP32_OLED_DISPLAY_H
