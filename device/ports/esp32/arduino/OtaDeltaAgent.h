// The Arduino library's one public header (library.properties: includes=):
// the device agent, the ESP32 ports, the provisioning helpers, the OLED
// display and the mbedTLS crypto port. Copied to src/ by
// tools/esp32-check/make-arduino-library.sh; see the OtaClient example.
#ifndef OTA_DELTA_AGENT_ARDUINO_H
#define OTA_DELTA_AGENT_ARDUINO_H

#include "crypto_mbedtls.h"
#include "ota/agent.h"
#include "ota/esp32/oled_display.h"
#include "ota/esp32/ports.h"
#include "ota/esp32/provisioning.h"

#endif  // OTA_DELTA_AGENT_ARDUINO_H
