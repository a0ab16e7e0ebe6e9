/* Stand-in for Adafruit SSD1306 2.5.x Adafruit_SSD1306.h: the I2C
 * constructor, begin(), display(), clearDisplay() and the colour/VCC
 * constants, with the library's signatures and values. */
#ifndef OTA_STUB_ADAFRUIT_SSD1306_H
#define OTA_STUB_ADAFRUIT_SSD1306_H

#include <stdint.h>

#include "Adafruit_GFX.h"
#include "Wire.h"

#define SSD1306_WHITE 1
#define SSD1306_SWITCHCAPVCC 0x02

class Adafruit_SSD1306 : public Adafruit_GFX {
public:
    Adafruit_SSD1306(uint8_t w, uint8_t h, TwoWire *twi = &Wire, int8_t rst_pin = -1, uint32_t clkDuring = 400000UL, uint32_t clkAfter = 100000UL);
    ~Adafruit_SSD1306(void);
    bool begin(uint8_t switchvcc = SSD1306_SWITCHCAPVCC, uint8_t i2caddr = 0, bool reset = true, bool periphBegin = true);
    void display(void);
    void clearDisplay(void);
    void drawPixel(int16_t x, int16_t y, uint16_t color) override;
};

#endif
