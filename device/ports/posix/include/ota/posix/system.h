// The simulator's SystemPort (clock, randomness, restart) and DisplayPort
// (status lines, progress, log). Host code (C++17, exceptions never leave a
// port function); not part of the device build.
#ifndef OTA_POSIX_SYSTEM_H
#define OTA_POSIX_SYSTEM_H

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>

#include "ota/ports.h"

namespace ota::posix {

struct SystemOptions {
  // false: now_ms is std::chrono::steady_clock and sleep_ms sleeps.
  // true: a virtual clock that starts at start_ms and moves only through
  // sleep_ms and advance_ms (sleep_ms returns at once).
  bool virtual_clock = false;
  uint64_t start_ms = 0;
};

// random() reads getrandom(2). restart() sets restart_requested() and
// returns; the simulator sees it after the agent call returns
// kAgentRestart, "reboots" (PowerSupply::power_on, PosixFlash::boot, a new
// agent) and calls clear_restart(). The flag and the virtual clock may be
// read from other threads.
class PosixSystem {
 public:
  explicit PosixSystem(SystemOptions opt = {});

  SystemPort port();  // ctx is this object

  uint64_t now_ms() const;
  void sleep_ms(uint32_t ms);
  void advance_ms(uint64_t ms);  // virtual clock only; no effect otherwise
  bool virtual_clock() const { return opt_.virtual_clock; }

  bool restart_requested() const { return restart_.load(); }
  uint64_t restarts() const { return restarts_.load(); }  // restart() calls so far
  void clear_restart() { restart_.store(false); }
  void request_restart();  // what SystemPort::restart does

 private:
  SystemOptions opt_;
  std::atomic<uint64_t> virtual_ms_;
  std::atomic<bool> restart_{false};
  std::atomic<uint64_t> restarts_{0};
};

// Fills buf from getrandom(2); 0 on success.
int posix_random(uint8_t* buf, size_t len);

// A DisplayPort that hands everything to callbacks (any may be empty) or
// prints it to a FILE*. It also remembers the last status. The callbacks
// run on the agent's thread.
class PosixDisplay {
 public:
  using StatusFn = std::function<void(const char* state, const char* detail)>;
  using ProgressFn = std::function<void(uint32_t done, uint32_t total)>;
  using LogFn = std::function<void(uint8_t level, const char* message)>;

  explicit PosixDisplay(StatusFn status, ProgressFn progress = {}, LogFn log = {});
  // Writes "<prefix><state> <detail>" lines and log lines up to max_level
  // ("<prefix>[warn] message") to `out` (stdout if null); when `out` is a
  // terminal, progress redraws one bar line in place
  // ("<prefix>[#########.....................]  30%  90/300 KiB").
  explicit PosixDisplay(FILE* out, std::string prefix = "", uint8_t max_level = kLogInfo);
  PosixDisplay(const PosixDisplay&) = delete;
  PosixDisplay& operator=(const PosixDisplay&) = delete;

  DisplayPort port();  // ctx is this object; all three members are set

  std::string last_state() const;
  std::string last_detail() const;

 private:
  StatusFn status_;
  ProgressFn progress_;
  LogFn log_;
  mutable std::mutex mu_;
  std::string last_state_, last_detail_;

  static void on_status(void* ctx, const char* state, const char* detail);
  static void on_progress(void* ctx, uint32_t done, uint32_t total);
  static void on_log(void* ctx, uint8_t level, const char* message);
};

}  // namespace ota::posix

#endif  // OTA_POSIX_SYSTEM_H
