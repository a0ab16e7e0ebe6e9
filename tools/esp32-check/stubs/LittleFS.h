/* Stand-in for Arduino-ESP32 3.x libraries/LittleFS/src/LittleFS.h. */
#ifndef OTA_STUB_LITTLEFS_H
#define OTA_STUB_LITTLEFS_H

#include "FS.h"

namespace fs {

class LittleFSFS : public FS {
public:
    bool begin(bool formatOnFail = false, const char *basePath = "/littlefs", uint8_t maxOpenFiles = 10, const char *partitionLabel = "spiffs");
};

}  // namespace fs

extern fs::LittleFSFS LittleFS;

#endif
