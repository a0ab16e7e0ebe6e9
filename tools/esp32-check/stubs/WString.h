/* Stand-in for Arduino-ESP32 3.x cores/esp32/WString.h: the part of
 * String the example uses (WiFi.localIP().toString() and c_str()). */
#ifndef OTA_STUB_WSTRING_H
#define OTA_STUB_WSTRING_H

#include <stddef.h>

class String {
public:
    String(const char *cstr = "");
    String(const String &str);
    ~String(void);
    String &operator=(const String &rhs);
    unsigned int length(void) const;
    const char *c_str() const;

private:
    char *buffer;
    unsigned int len;
};

#endif
