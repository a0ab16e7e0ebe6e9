// SPDX-License-Identifier: Apache-2.0
// The rollout engine's clock: a thread that calls RolloutService::tick()
// every `interval`, so that waves promote, devices time out and retries
// come due without a request to drive them. Several servers on one
// database may each run one: every step is guarded by revisions.
#ifndef OTA_SERVER_ROLLOUT_TIMER_H
#define OTA_SERVER_ROLLOUT_TIMER_H

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "ota/server/rollout_service.h"

namespace ota::server {

class RolloutTimer {
 public:
  RolloutTimer(RolloutService& rollouts, std::chrono::milliseconds interval)
      : rollouts_(rollouts), interval_(interval), thread_([this] { loop(); }) {}
  ~RolloutTimer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  RolloutTimer(const RolloutTimer&) = delete;
  RolloutTimer& operator=(const RolloutTimer&) = delete;

 private:
  void loop() {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      try {
        rollouts_.tick();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ota-server: rollout timer: %s\n", e.what());
      }
      lock.lock();
    }
  }

  RolloutService& rollouts_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the rest exists
};

}  // namespace ota::server

#endif  // OTA_SERVER_ROLLOUT_TIMER_H
