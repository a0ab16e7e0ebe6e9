/* Stand-in for Arduino-ESP32 3.x libraries/WiFi/src/WiFi.h with
 * WiFiType.h, WiFiGeneric.h and WiFiSTA.h: the calls the example makes
 * (mode, begin, status, localIP) with the library's signatures, and
 * wifi_mode_t from ESP-IDF's esp_wifi_types.h. */
#ifndef OTA_STUB_WIFI_H
#define OTA_STUB_WIFI_H

#include <stdint.h>

#include "IPAddress.h"

typedef enum {
    WIFI_MODE_NULL = 0,
    WIFI_MODE_STA,
    WIFI_MODE_AP,
    WIFI_MODE_APSTA,
} wifi_mode_t;

#define WIFI_STA WIFI_MODE_STA

typedef enum {
    WL_NO_SHIELD        = 255,
    WL_IDLE_STATUS      = 0,
    WL_NO_SSID_AVAIL    = 1,
    WL_SCAN_COMPLETED   = 2,
    WL_CONNECTED        = 3,
    WL_CONNECT_FAILED   = 4,
    WL_CONNECTION_LOST  = 5,
    WL_DISCONNECTED     = 6
} wl_status_t;

class WiFiClass {
public:
    bool mode(wifi_mode_t);
    wl_status_t begin(const char *ssid, const char *passphrase = NULL, int32_t channel = 0, const uint8_t *bssid = NULL, bool connect = true);
    wl_status_t status();
    IPAddress localIP();
};

extern WiFiClass WiFi;

#endif
