// Station Wi-Fi for the ESP-IDF example: start, wait for an address,
// reconnect after a drop (in the background, from the event loop).
#ifndef OTA_EXAMPLE_WIFI_STA_H
#define OTA_EXAMPLE_WIFI_STA_H

#include <stdint.h>

// Initialises esp_netif, the default event loop and Wi-Fi, and starts
// connecting. nvs_flash_init() must have run. False when ESP-IDF refused.
bool wifi_sta_start(const char* ssid, const char* password);

// Waits up to timeout_ms for an IP address; true when the station has one.
bool wifi_sta_wait(uint32_t timeout_ms);

#endif  // OTA_EXAMPLE_WIFI_STA_H
