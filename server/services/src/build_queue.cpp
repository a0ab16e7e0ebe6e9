// SPDX-License-Identifier: Apache-2.0
#include "ota/server/build_queue.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

#include "service_util.h"

namespace ota::server {

namespace {

using Steady = std::chrono::steady_clock;

Steady::duration seconds(double s) {
  return std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(s));
}

// Lowers this thread's priority by `nice` (Linux applies niceness per
// thread). Failure only costs the request threads some CPU: said once.
void lower_this_thread(int nice) {
  if (nice <= 0) return;
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int now = ::getpriority(PRIO_PROCESS, tid);
  if (errno == 0 && ::setpriority(PRIO_PROCESS, tid, std::min(19, now + nice)) == 0) return;
  static std::once_flag said;
  std::call_once(said, [] {
    std::fprintf(stderr, "ota-server: cannot lower the build threads' priority: %s\n", std::strerror(errno));
  });
}

}  // namespace

const char* BuildQueue::state_name(State s) {
  switch (s) {
    case State::kQueued: return "queued";
    case State::kBuilding: return "building";
    case State::kReady: return "ready";
    case State::kFailed: return "failed";
  }
  return "unknown";
}

BuildQueue::BuildQueue(Options options, Clock clock)
    : options_(options), clock_(clock ? std::move(clock) : Clock(now_seconds)) {
  if (options_.threads == 0) options_.threads = 1;
  if (options_.max_attempts < 1) options_.max_attempts = 1;
  for (size_t i = 0; i < options_.threads; ++i)
    threads_.emplace_back([this] {
      lower_this_thread(options_.nice);
      loop();
    });
}

BuildQueue::~BuildQueue() { stop(); }

void BuildQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

BuildQueue::Job BuildQueue::request(const std::string& key, const std::string& label, const std::string& asker,
                                    Build build, const std::string& scope) {
  std::lock_guard lock(mutex_);
  auto [it, fresh] = entries_.try_emplace(key);
  Entry& e = it->second;
  const auto now = Steady::now();
  if (fresh) {
    e.job.key = key;
    e.order = next_order_++;
  }
  const bool retry_failed = e.job.state == State::kFailed && now - e.failed_at >= seconds(options_.failed_retry_s);
  if (fresh || retry_failed || e.job.state == State::kReady) {
    e.job.label = label;
    e.job.scope = scope;
    e.job.state = State::kQueued;
    e.job.attempts = 0;
    e.job.error.clear();
    e.job.queued_at = clock_();
    e.job.started_at = e.job.finished_at = 0;
    e.build = std::move(build);
    e.askers.clear();
    e.not_before = now;
    cv_.notify_one();
  }
  if (e.job.state == State::kQueued || e.job.state == State::kBuilding) {
    e.askers.insert(asker);
    e.job.demand = e.askers.size();
  }
  return e.job;
}

int64_t BuildQueue::retry_after(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  const double mean = builds_ ? build_seconds_total_ / static_cast<double>(builds_) : 2.0;
  size_t ahead = 0;
  if (it != entries_.end() && it->second.job.state == State::kQueued) {
    const Entry& me = it->second;
    for (const auto& [k, e] : entries_)
      if (&e != &me && e.job.state == State::kQueued &&
          (e.job.demand > me.job.demand || (e.job.demand == me.job.demand && e.order < me.order)))
        ++ahead;
    ++ahead;  // its own build
  }  // building, or unknown: about one mean build
  const double waves = std::ceil(static_cast<double>(ahead) / static_cast<double>(threads_.size()));
  const double s = std::ceil(mean * std::max(1.0, waves));
  return std::clamp<int64_t>(static_cast<int64_t>(s), 1, kMaxRetryAfter);
}

std::optional<BuildQueue::Job> BuildQueue::find(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.job;
}

std::vector<BuildQueue::Job> BuildQueue::jobs() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<uint64_t, Job>> ordered;
  for (const auto& [k, e] : entries_) ordered.emplace_back(e.order, e.job);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<Job> out;
  for (auto& [o, j] : ordered) out.push_back(std::move(j));
  return out;
}

BuildQueue::Stats BuildQueue::stats() const {
  std::lock_guard lock(mutex_);
  Stats s;
  for (const auto& [k, e] : entries_) {
    switch (e.job.state) {
      case State::kQueued: ++s.queued; break;
      case State::kBuilding: ++s.building; break;
      case State::kReady: ++s.ready; break;
      case State::kFailed: ++s.failed; break;
    }
  }
  s.builds = builds_;
  s.mean_build_seconds = builds_ ? build_seconds_total_ / static_cast<double>(builds_) : 0;
  return s;
}

void BuildQueue::post_urgent(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    urgent_.push_back(std::move(task));
  }
  cv_.notify_one();
}

void BuildQueue::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [this] {
    if (running_ || !urgent_.empty()) return false;
    for (const auto& [k, e] : entries_)
      if (e.job.state == State::kQueued || e.job.state == State::kBuilding) return false;
    return true;
  });
}

BuildQueue::Entry* BuildQueue::next_runnable(Steady::time_point now, std::optional<Steady::time_point>* wake) {
  Entry* best = nullptr;
  for (auto& [k, e] : entries_) {
    if (e.job.state != State::kQueued) continue;
    if (e.not_before > now) {
      if (!*wake || e.not_before < **wake) *wake = e.not_before;
      continue;
    }
    if (!best || e.job.demand > best->job.demand || (e.job.demand == best->job.demand && e.order < best->order))
      best = &e;
  }
  return best;
}

void BuildQueue::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (stopping_ && urgent_.empty()) return;
    if (!urgent_.empty()) {
      auto task = std::move(urgent_.front());
      urgent_.pop_front();
      ++running_;
      lock.unlock();
      task();
      lock.lock();
      --running_;
      idle_cv_.notify_all();
      continue;
    }
    std::optional<Steady::time_point> wake;
    Entry* e = next_runnable(Steady::now(), &wake);
    if (!e) {
      if (wake) cv_.wait_until(lock, *wake);
      else cv_.wait(lock);
      continue;
    }
    run(*e);  // unlocks while it builds
  }
}

// Called with mutex_ held (through the unique_lock in loop(), which this
// re-enters by hand around the build).
void BuildQueue::run(Entry& e) {
  e.job.state = State::kBuilding;
  ++e.job.attempts;
  e.job.started_at = clock_();
  ++running_;
  Build build = e.build;
  const auto start = Steady::now();
  std::string error;
  mutex_.unlock();
  try {
    build();
  } catch (const std::exception& ex) {
    error = ex.what();
    if (error.empty()) error = "the build failed";
  } catch (...) {
    error = "the build failed";
  }
  mutex_.lock();
  const double took = std::chrono::duration<double>(Steady::now() - start).count();
  --running_;
  e.job.finished_at = clock_();
  if (error.empty()) {
    e.job.state = State::kReady;
    e.job.error.clear();
    e.job.build_seconds = took;
    ++builds_;
    build_seconds_total_ += took;
    e.build = nullptr;
    e.askers.clear();
  } else if (e.job.attempts < options_.max_attempts && !stopping_) {
    e.job.state = State::kQueued;
    e.job.error = error;
    e.not_before = Steady::now() + seconds(options_.retry_delay_s);
    std::fprintf(stderr, "ota-server: build of %s failed (attempt %d of %d, again in %.0f s): %s\n",
                 e.job.label.c_str(), e.job.attempts, options_.max_attempts, options_.retry_delay_s, error.c_str());
  } else {
    e.job.state = State::kFailed;
    e.job.error = error;
    e.failed_at = Steady::now();
    e.build = nullptr;
    std::fprintf(stderr, "ota-server: build of %s failed after %d attempts: %s\n", e.job.label.c_str(),
                 e.job.attempts, error.c_str());
  }
  idle_cv_.notify_all();
  cv_.notify_all();
}

}  // namespace ota::server
