// DisplayPort on the serial log through esp_log (ESP-IDF 5.x esp_log.h).
// What a device without a screen shows: state changes, progress in 10%
// steps and the agent's log lines, e.g.
//   I (5123) ota: [downloading] 1.0.1
//   I (9877) ota: progress 40% (64212/160472 bytes)
#include "esp_log.h"
#include "ota/esp32/ports.h"

namespace ota {
namespace esp32 {

namespace {

constexpr uint32_t kNoProgress = 11;

LogDisplay* ctx_of(void* ctx) { return static_cast<LogDisplay*>(ctx); }

void d_status(void* ctx, const char* state, const char* detail) {
  LogDisplay* d = ctx_of(ctx);
  d->last_tenth = kNoProgress;  // a new step starts its progress afresh
  ESP_LOGI(d->tag, "[%s] %s", state ? state : "", detail ? detail : "");
}

void d_progress(void* ctx, uint32_t done, uint32_t total) {
  LogDisplay* d = ctx_of(ctx);
  if (total == 0) return;
  uint32_t tenth = (uint32_t)((uint64_t)done * 10u / total);
  if (tenth > 10) tenth = 10;
  if (d->last_tenth != kNoProgress && tenth <= d->last_tenth) return;
  d->last_tenth = tenth;
  ESP_LOGI(d->tag, "progress %u%% (%lu/%lu bytes)", (unsigned)(tenth * 10), (unsigned long)done,
           (unsigned long)total);
}

void d_log(void* ctx, uint8_t level, const char* message) {
  LogDisplay* d = ctx_of(ctx);
  const char* m = message ? message : "";
  switch (level) {
    case kLogError: ESP_LOGE(d->tag, "%s", m); break;
    case kLogWarn: ESP_LOGW(d->tag, "%s", m); break;
    case kLogInfo: ESP_LOGI(d->tag, "%s", m); break;
    default: ESP_LOGD(d->tag, "%s", m); break;
  }
}

}  // namespace

void log_display_init(LogDisplay* d, const char* tag) {
  d->tag = tag ? tag : "ota";
  d->last_tenth = kNoProgress;
}

DisplayPort log_display_port(LogDisplay* d) {
  DisplayPort p;
  p.ctx = d;
  p.status = d_status;
  p.progress = d_progress;
  p.log = d_log;
  return p;
}

}  // namespace esp32
}  // namespace ota
