/* Stand-in for Adafruit GFX Library 1.11.x Adafruit_GFX.h: the drawing and
 * text calls of the OLED display port, with the library's signatures. */
#ifndef OTA_STUB_ADAFRUIT_GFX_H
#define OTA_STUB_ADAFRUIT_GFX_H

#include <stdint.h>

#include "Arduino.h"
#include "Print.h"

class Adafruit_GFX : public Print {
public:
    Adafruit_GFX(int16_t w, int16_t h);
    virtual void drawPixel(int16_t x, int16_t y, uint16_t color) = 0;
    virtual void drawRect(int16_t x, int16_t y, int16_t w, int16_t h, uint16_t color);
    virtual void fillRect(int16_t x, int16_t y, int16_t w, int16_t h, uint16_t color);
    void setCursor(int16_t x, int16_t y);
    void setTextColor(uint16_t c);
    void setTextSize(uint8_t s);
    using Print::write;
    size_t write(uint8_t) override;
};

#endif
