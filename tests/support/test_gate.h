// SPDX-License-Identifier: Apache-2.0
//
// A gate a test opens: work that passes through wait() blocks until then,
// so a test can hold a pool's threads busy and see what happens meanwhile.
#ifndef OTA_TEST_GATE_H
#define OTA_TEST_GATE_H

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace ota::test {

class Gate {
 public:
  void wait() {
    std::unique_lock lock(m_);
    ++waiting_;
    cv_.notify_all();
    cv_.wait(lock, [this] { return open_; });
  }
  void open() {
    std::lock_guard lock(m_);
    open_ = true;
    cv_.notify_all();
  }
  // True once `n` callers wait at the gate (false after 10 s).
  bool until_waiting(int n = 1) {
    std::unique_lock lock(m_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return waiting_ >= n; });
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

}  // namespace ota::test

#endif  // OTA_TEST_GATE_H
