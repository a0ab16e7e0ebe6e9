// PosixSystem and PosixDisplay: see ota/posix/system.h.
#include "ota/posix/system.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

namespace ota::posix {

int posix_random(uint8_t* buf, size_t len) {
  if (len > 0 && !buf) return -1;
  while (len > 0) {
    ssize_t n = ::getrandom(buf, len, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -1;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return 0;
}

PosixSystem::PosixSystem(SystemOptions opt) : opt_(opt), virtual_ms_(opt.start_ms) {}

uint64_t PosixSystem::now_ms() const {
  if (opt_.virtual_clock) return virtual_ms_.load();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

void PosixSystem::sleep_ms(uint32_t ms) {
  if (opt_.virtual_clock) {
    virtual_ms_.fetch_add(ms);
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
}

void PosixSystem::advance_ms(uint64_t ms) {
  if (opt_.virtual_clock) virtual_ms_.fetch_add(ms);
}

void PosixSystem::request_restart() {
  restarts_.fetch_add(1);
  restart_.store(true);
}

namespace {

PosixSystem* sys(void* ctx) { return static_cast<PosixSystem*>(ctx); }

uint64_t y_now_ms(void* ctx) { return sys(ctx)->now_ms(); }

void y_sleep_ms(void* ctx, uint32_t ms) {
  try {
    sys(ctx)->sleep_ms(ms);
  } catch (...) {
  }
}

int y_random(void*, uint8_t* buf, size_t len) { return posix_random(buf, len); }

void y_restart(void* ctx) { sys(ctx)->request_restart(); }

}  // namespace

SystemPort PosixSystem::port() { return SystemPort{this, y_now_ms, y_sleep_ms, y_random, y_restart}; }

// ---------------------------------------------------------------------------
// Display.

PosixDisplay::PosixDisplay(StatusFn status, ProgressFn progress, LogFn log)
    : status_(std::move(status)), progress_(std::move(progress)), log_(std::move(log)) {}

namespace {

const char* level_name(uint8_t level) {
  switch (level) {
    case kLogError: return "error";
    case kLogWarn: return "warn";
    case kLogInfo: return "info";
    default: return "debug";
  }
}

// What to_file's callbacks share: the stream and whether a bar is drawn.
struct FileSink {
  FILE* out;
  std::string prefix;
  uint8_t max_level;
  bool tty;
  bool bar_open = false;
  std::mutex mu;

  void end_bar() {
    if (bar_open) {
      std::fputc('\n', out);
      bar_open = false;
    }
  }
};

}  // namespace

PosixDisplay::PosixDisplay(FILE* out, std::string prefix, uint8_t max_level) {
  auto sink = std::make_shared<FileSink>();
  sink->out = out ? out : stdout;
  sink->prefix = std::move(prefix);
  sink->max_level = max_level;
  sink->tty = ::isatty(::fileno(sink->out)) == 1;
  status_ = [sink](const char* state, const char* detail) {
    std::lock_guard<std::mutex> lock(sink->mu);
    sink->end_bar();
    std::fprintf(sink->out, "%s%s%s%s\n", sink->prefix.c_str(), state,
                 *detail ? " " : "", detail);
    std::fflush(sink->out);
  };
  progress_ = [sink](uint32_t done, uint32_t total) {
    if (!sink->tty) return;
    std::lock_guard<std::mutex> lock(sink->mu);
    constexpr int kWidth = 30;
    int filled = total ? static_cast<int>(uint64_t{done} * kWidth / total) : 0;
    if (filled > kWidth) filled = kWidth;
    char bar[kWidth + 1];
    for (int i = 0; i < kWidth; ++i) bar[i] = i < filled ? '#' : '.';
    bar[kWidth] = 0;
    unsigned pct = total ? static_cast<unsigned>(uint64_t{done} * 100 / total) : 0;
    std::fprintf(sink->out, "\r%s[%s] %3u%%  %u/%u KiB", sink->prefix.c_str(), bar, pct,
                 done / 1024, total / 1024);
    std::fflush(sink->out);
    sink->bar_open = true;
  };
  log_ = [sink](uint8_t level, const char* message) {
    if (level > sink->max_level) return;
    std::lock_guard<std::mutex> lock(sink->mu);
    sink->end_bar();
    std::fprintf(sink->out, "%s[%s] %s\n", sink->prefix.c_str(), level_name(level), message);
    std::fflush(sink->out);
  };
}

std::string PosixDisplay::last_state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_state_;
}

std::string PosixDisplay::last_detail() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_detail_;
}

void PosixDisplay::on_status(void* ctx, const char* state, const char* detail) {
  try {
    auto* d = static_cast<PosixDisplay*>(ctx);
    if (!state) state = "";
    if (!detail) detail = "";
    {
      std::lock_guard<std::mutex> lock(d->mu_);
      d->last_state_ = state;
      d->last_detail_ = detail;
    }
    if (d->status_) d->status_(state, detail);
  } catch (...) {
  }
}

void PosixDisplay::on_progress(void* ctx, uint32_t done, uint32_t total) {
  try {
    auto* d = static_cast<PosixDisplay*>(ctx);
    if (d->progress_) d->progress_(done, total);
  } catch (...) {
  }
}

void PosixDisplay::on_log(void* ctx, uint8_t level, const char* message) {
  try {
    auto* d = static_cast<PosixDisplay*>(ctx);
    if (d->log_) d->log_(level, message ? message : "");
  } catch (...) {
  }
}

DisplayPort PosixDisplay::port() { return DisplayPort{this, on_status, on_progress, on_log}; }

}  // namespace ota::posix
