// No-op definitions of the Arduino-ESP32 and Adafruit members the
// stand-in headers declare (see esp_idf_impl.cpp for why). The ESP-IDF
// parts the Arduino example uses come from esp_idf_impl.cpp.
#include "Adafruit_SSD1306.h"
#include "Arduino.h"
#include "LittleFS.h"
#include "WiFi.h"
#include "Wire.h"

String::String(const char*) : buffer(nullptr), len(0) {}
String::String(const String&) : buffer(nullptr), len(0) {}
String::~String() {}
String& String::operator=(const String&) { return *this; }
unsigned int String::length() const { return len; }
const char* String::c_str() const { return ""; }

size_t Print::write(const uint8_t*, size_t) { return 0; }
size_t Print::printf(const char*, ...) { return 0; }
size_t Print::print(const String&) { return 0; }
size_t Print::print(const char[]) { return 0; }
size_t Print::print(unsigned int, int) { return 0; }
size_t Print::print(unsigned long, int) { return 0; }
size_t Print::println(const String&) { return 0; }
size_t Print::println(const char[]) { return 0; }
size_t Print::println(void) { return 0; }

void HardwareSerial::begin(unsigned long, uint32_t, int8_t, int8_t, bool, unsigned long, uint8_t) {}
size_t HardwareSerial::write(uint8_t) { return 0; }
size_t HardwareSerial::write(const uint8_t*, size_t) { return 0; }
HardwareSerial Serial;

extern "C" unsigned long millis() { return 0; }
extern "C" void delay(uint32_t) {}

IPAddress::IPAddress() {}
String IPAddress::toString(bool) const { return String(); }
bool WiFiClass::mode(wifi_mode_t) { return false; }
wl_status_t WiFiClass::begin(const char*, const char*, int32_t, const uint8_t*, bool) { return WL_DISCONNECTED; }
wl_status_t WiFiClass::status() { return WL_DISCONNECTED; }
IPAddress WiFiClass::localIP() { return IPAddress(); }
WiFiClass WiFi;

fs::File::File() : _p(nullptr) {}
size_t fs::File::read(uint8_t*, size_t) { return 0; }
size_t fs::File::size() const { return 0; }
void fs::File::close() {}
fs::File::operator bool() const { return false; }
fs::File fs::FS::open(const char*, const char*, const bool) { return File(); }
bool fs::FS::exists(const char*) { return false; }
bool fs::LittleFSFS::begin(bool, const char*, uint8_t, const char*) { return false; }
fs::LittleFSFS LittleFS;

bool TwoWire::begin(int, int, uint32_t) { return false; }
void TwoWire::beginTransmission(uint8_t) {}
uint8_t TwoWire::endTransmission() { return 2; }
TwoWire Wire;

Adafruit_GFX::Adafruit_GFX(int16_t, int16_t) {}
void Adafruit_GFX::drawRect(int16_t, int16_t, int16_t, int16_t, uint16_t) {}
void Adafruit_GFX::fillRect(int16_t, int16_t, int16_t, int16_t, uint16_t) {}
void Adafruit_GFX::setCursor(int16_t, int16_t) {}
void Adafruit_GFX::setTextColor(uint16_t) {}
void Adafruit_GFX::setTextSize(uint8_t) {}
size_t Adafruit_GFX::write(uint8_t) { return 0; }
Adafruit_SSD1306::Adafruit_SSD1306(uint8_t w, uint8_t h, TwoWire*, int8_t, uint32_t, uint32_t) : Adafruit_GFX(w, h) {}
Adafruit_SSD1306::~Adafruit_SSD1306(void) {}
bool Adafruit_SSD1306::begin(uint8_t, uint8_t, bool, bool) { return false; }
void Adafruit_SSD1306::display(void) {}
void Adafruit_SSD1306::clearDisplay(void) {}
void Adafruit_SSD1306::drawPixel(int16_t, int16_t, uint16_t) {}
