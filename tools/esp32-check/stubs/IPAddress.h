/* Stand-in for Arduino-ESP32 3.x cores/esp32/IPAddress.h: toString(). */
#ifndef OTA_STUB_IPADDRESS_H
#define OTA_STUB_IPADDRESS_H

#include "WString.h"

class IPAddress {
public:
    IPAddress();
    String toString(bool includeZone = false) const;
};

#endif
