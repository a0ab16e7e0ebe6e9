// SystemPort on ESP-IDF (5.x headers: esp_timer.h, freertos/task.h,
// esp_random.h, esp_system.h).
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "ota/esp32/ports.h"

namespace ota {
namespace esp32 {

namespace {

// esp_timer_get_time(): microseconds since boot, monotonic, int64_t.
uint64_t s_now_ms(void*) { return (uint64_t)esp_timer_get_time() / 1000u; }

// vTaskDelay() lets other tasks (Wi-Fi, lwIP) run; at least one tick.
void s_sleep_ms(void*, uint32_t ms) {
  TickType_t ticks = pdMS_TO_TICKS(ms);
  vTaskDelay(ticks > 0 ? ticks : 1);
}

// esp_random.h: true random numbers while Wi-Fi or Bluetooth runs (the
// agent asks only for check-in nonces, after Wi-Fi is up); otherwise see
// the ESP-IDF "Random Number Generation" guide. It cannot fail.
int s_random(void*, uint8_t* buf, size_t len) {
  if (len > 0 && !buf) return -1;
  esp_fill_random(buf, len);
  return 0;
}

// Does not return (esp_system.h).
void s_restart(void*) { esp_restart(); }

}  // namespace

SystemPort system_port() {
  SystemPort p;
  p.ctx = nullptr;
  p.now_ms = s_now_ms;
  p.sleep_ms = s_sleep_ms;
  p.random = s_random;
  p.restart = s_restart;
  return p;
}

}  // namespace esp32
}  // namespace ota
