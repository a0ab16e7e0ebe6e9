/* Stand-in for Arduino-ESP32 3.x libraries/FS/src/FS.h: File and FS with
 * the members the example calls (open, exists, size, read, close, bool). */
#ifndef OTA_STUB_FS_H
#define OTA_STUB_FS_H

#include <stddef.h>
#include <stdint.h>

#include "Arduino.h"

namespace fs {

#define FILE_READ "r"

class FileImpl;

class File {
public:
    File();
    size_t read(uint8_t *buf, size_t size);
    size_t size() const;
    void close();
    operator bool() const;

protected:
    FileImpl *_p;
};

class FS {
public:
    File open(const char *path, const char *mode = FILE_READ, const bool create = false);
    bool exists(const char *path);
};

}  // namespace fs

using fs::File;
using fs::FS;

#endif
