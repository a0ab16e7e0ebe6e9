// See ota/esp32/oled_display.h. Arduino-ESP32 3.x (Wire.h, HardwareSerial)
// with Adafruit SSD1306 2.5.x and Adafruit GFX 1.11.x. The ESP-IDF
// component does not compile this file (device/ports/esp32/CMakeLists.txt);
// the #if keeps PlatformIO's espidf builds of the library clean too.
#if defined(ARDUINO)

#include "ota/esp32/oled_display.h"

#include <Adafruit_GFX.h>
#include <Adafruit_SSD1306.h>
#include <Arduino.h>
#include <Wire.h>
#include <string.h>

namespace ota {
namespace esp32 {

namespace {

constexpr uint8_t kAddress[2] = {0x3C, 0x3D};
constexpr uint32_t kNoPercent = 101;
constexpr uint32_t kNoTenth = 11;

// The screens' drivers; the frame buffers (1 KiB each) are allocated by
// begin() for the screens that answer.
Adafruit_SSD1306* g_screen[2] = {nullptr, nullptr};

void copy(char* dst, size_t cap, const char* src) {
  size_t n = src ? strlen(src) : 0;
  if (n >= cap) n = cap - 1;
  if (n) memcpy(dst, src, n);
  dst[n] = 0;
}

OledDisplay* ctx_of(void* ctx) { return static_cast<OledDisplay*>(ctx); }

uint32_t percent_of(const OledDisplay* d) {
  if (d->total == 0) return 0;
  uint64_t p = (uint64_t)d->done * 100u / d->total;
  return p > 100 ? 100 : (uint32_t)p;
}

void render_status(Adafruit_SSD1306* s, const OledDisplay* d, int16_t y, bool large) {
  s->setTextColor(SSD1306_WHITE);
  s->setTextSize(1);
  s->setCursor(0, y);
  s->print("OTA agent");
  s->setTextSize(large ? 2 : 1);
  s->setCursor(0, (int16_t)(y + 10));
  s->print(d->state);
  s->setTextSize(1);
  s->setCursor(0, (int16_t)(y + (large ? 30 : 20)));
  s->print(d->detail);
}

void render_progress(Adafruit_SSD1306* s, const OledDisplay* d, int16_t y, bool with_log) {
  const uint32_t pct = percent_of(d);
  s->setTextColor(SSD1306_WHITE);
  s->setTextSize(1);
  s->setCursor(0, y);
  s->print("Progress ");
  s->print((unsigned)pct);
  s->print("%");
  s->drawRect(0, (int16_t)(y + 10), 128, 10, SSD1306_WHITE);
  s->fillRect(2, (int16_t)(y + 12), (int16_t)(124 * pct / 100), 6, SSD1306_WHITE);
  s->setCursor(0, (int16_t)(y + 22));
  s->print((unsigned long)d->done);
  s->print("/");
  s->print((unsigned long)d->total);
  if (with_log) {
    s->setCursor(0, (int16_t)(y + 34));
    s->print(d->last_log);
  }
}

void redraw(OledDisplay* d) {
  if (d->present[0] && d->present[1]) {
    g_screen[0]->clearDisplay();
    render_status(g_screen[0], d, 0, true);
    g_screen[0]->display();
    g_screen[1]->clearDisplay();
    render_progress(g_screen[1], d, 0, true);
    g_screen[1]->display();
    return;
  }
  for (int i = 0; i < 2; ++i) {
    if (!d->present[i]) continue;
    g_screen[i]->clearDisplay();
    render_status(g_screen[i], d, 0, false);
    render_progress(g_screen[i], d, 32, false);
    g_screen[i]->display();
  }
}

void d_status(void* ctx, const char* state, const char* detail) {
  OledDisplay* d = ctx_of(ctx);
  copy(d->state, sizeof d->state, state);
  copy(d->detail, sizeof d->detail, detail);
  d->done = 0;
  d->total = 0;
  d->last_percent = kNoPercent;
  d->last_tenth = kNoTenth;
  Serial.printf("[ota] %s: %s\n", d->state, d->detail);
  redraw(d);
}

void d_progress(void* ctx, uint32_t done, uint32_t total) {
  OledDisplay* d = ctx_of(ctx);
  d->done = done;
  d->total = total;
  const uint32_t pct = percent_of(d);
  if (pct / 10 != d->last_tenth) {
    d->last_tenth = pct / 10;
    Serial.printf("[ota] progress %u%% (%lu/%lu bytes)\n", (unsigned)pct, (unsigned long)done,
                  (unsigned long)total);
  }
  if (pct == d->last_percent) return;  // one redraw per percent: I2C is slow
  d->last_percent = pct;
  redraw(d);
}

void d_log(void* ctx, uint8_t level, const char* message) {
  OledDisplay* d = ctx_of(ctx);
  static const char kLevel[4] = {'E', 'W', 'I', 'D'};
  Serial.printf("[ota] %c: %s\n", kLevel[level < 4 ? level : 3], message ? message : "");
  if (level <= kLogWarn) {
    copy(d->last_log, sizeof d->last_log, message);
    redraw(d);
  }
}

}  // namespace

int oled_display_begin(OledDisplay* d, TwoWire* wire) {
  memset(d, 0, sizeof(*d));
  d->last_percent = kNoPercent;
  d->last_tenth = kNoTenth;
  int found = 0;
  for (int i = 0; i < 2; ++i) {
    // Adafruit_SSD1306::begin() does not tell whether a screen answers:
    // probe the address first (an I2C write of no bytes, ACKed or not).
    wire->beginTransmission(kAddress[i]);
    if (wire->endTransmission() != 0) continue;
    if (!g_screen[i]) g_screen[i] = new Adafruit_SSD1306(128, 64, wire, -1);
    // begin(vcc, address, reset, periphBegin): the app has begun Wire.
    if (!g_screen[i]->begin(SSD1306_SWITCHCAPVCC, kAddress[i], true, false)) continue;
    g_screen[i]->clearDisplay();
    g_screen[i]->display();
    d->present[i] = true;
    ++found;
  }
  return found;
}

DisplayPort oled_display_port(OledDisplay* d) {
  DisplayPort p;
  p.ctx = d;
  p.status = d_status;
  p.progress = d_progress;
  p.log = d_log;
  return p;
}

void oled_display_message(OledDisplay* d, const char* state, const char* detail) {
  copy(d->state, sizeof d->state, state);
  copy(d->detail, sizeof d->detail, detail);
  d->done = 0;
  d->total = 0;
  d->last_percent = kNoPercent;
  redraw(d);
}

}  // namespace esp32
}  // namespace ota

#endif  // defined(ARDUINO)
