/* Stand-in for Arduino-ESP32 3.x cores/esp32/Print.h: the print/println/
 * printf overloads the example and the OLED display port call, with the
 * core's signatures (printf keeps its format attribute). */
#ifndef OTA_STUB_PRINT_H
#define OTA_STUB_PRINT_H

#include <stddef.h>
#include <stdint.h>

#include "WString.h"

#define DEC 10

class Print {
public:
    virtual ~Print() {}
    virtual size_t write(uint8_t) = 0;
    virtual size_t write(const uint8_t *buffer, size_t size);

    size_t printf(const char *format, ...) __attribute__ ((format (printf, 2, 3)));

    size_t print(const String &);
    size_t print(const char[]);
    size_t print(unsigned int, int = DEC);
    size_t print(unsigned long, int = DEC);

    size_t println(const String &s);
    size_t println(const char[]);
    size_t println(void);
};

#endif
