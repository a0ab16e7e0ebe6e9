// SPDX-License-Identifier: Apache-2.0
//
// The pool that builds releases (patches and their encrypted streams:
// seconds of CPU each), apart from the threads that answer requests. A
// check-in whose release is not built yet asks for it here and is answered
// at once ("come back in S seconds"); it never waits for a build.
//
// Contract:
//   - a job is named by a key (its release's name) and built at most once at
//     a time: asked for again while queued or building, it is not queued
//     twice; the devices that asked are counted instead (its demand);
//   - the queue runs the job with the highest demand first (on a release
//     day: the patch from the base most devices run), ties in the order they
//     were first asked for;
//   - a build that throws is tried again after retry_delay_s, up to
//     max_attempts in all; then the job is failed, with the error, until
//     failed_retry_s have passed (a later request starts it again);
//   - urgent tasks (an admin waiting for a build's answer) run before any
//     queued job, on the same bounded threads;
//   - the threads run at `nice` (Linux: per thread), so that the request
//     threads win the CPU from them;
//   - stop() (and the destructor) drops queued jobs (they are asked for
//     again after a restart: the releases themselves are in storage),
//     finishes the builds and urgent tasks under way, and joins.
// Thread-safe.
#ifndef OTA_SERVER_BUILD_QUEUE_H
#define OTA_SERVER_BUILD_QUEUE_H

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace ota::server {

class BuildQueue {
 public:
  struct Options {
    size_t threads = 1;
    int nice = 10;              // added to the threads' niceness (0: as the process)
    int max_attempts = 3;
    double retry_delay_s = 2;   // between attempts of one job
    double failed_retry_s = 600;  // a failed job may be asked for again after this
  };
  enum class State { kQueued, kBuilding, kReady, kFailed };
  static const char* state_name(State s);

  // One job as the queue last saw it. Times are Unix seconds (0: not yet).
  struct Job {
    std::string key;
    std::string label;  // what it builds, for listings ("lamp 1.0.0 -> 1.0.1 (firmware-aware)")
    std::string scope;  // what listings filter by (a product)
    State state = State::kQueued;
    uint64_t demand = 0;  // distinct askers
    int attempts = 0;
    std::string error;    // the last attempt's, when it failed
    int64_t queued_at = 0, started_at = 0, finished_at = 0;
    double build_seconds = 0;  // the successful attempt's
  };
  struct Stats {
    size_t queued = 0, building = 0, ready = 0, failed = 0;
    uint64_t builds = 0;          // successful builds since start
    double mean_build_seconds = 0;  // of those
  };

  using Build = std::function<void()>;  // throws on failure (the message is kept)
  using Clock = std::function<int64_t()>;

  explicit BuildQueue(Options options, Clock clock = {});
  ~BuildQueue();
  BuildQueue(const BuildQueue&) = delete;
  BuildQueue& operator=(const BuildQueue&) = delete;

  // Asks for job `key` on behalf of `asker` (a device id; empty: the
  // server itself, counted once). Callers ask only for what they lack: a
  // new job, a ready one (its output is gone, or it became ready after the
  // caller looked: `build` then finds it done), or a failed one past
  // failed_retry_s is queued with `build`; a queued or building one gains
  // the asker; a failed one stays failed. Returns the job's state after the
  // call. Never waits for a build.
  // `scope` is what listings filter by (the release's product).
  Job request(const std::string& key, const std::string& label, const std::string& asker, Build build,
              const std::string& scope = "");

  // Seconds a device asking for `key` now should wait before asking again:
  // an estimate from the jobs ahead of it and the mean build time, at least
  // 1 and at most kMaxRetryAfter.
  int64_t retry_after(const std::string& key) const;
  static constexpr int64_t kMaxRetryAfter = 30;

  std::optional<Job> find(const std::string& key) const;
  std::vector<Job> jobs() const;  // every job known, in the order they were first asked for
  Stats stats() const;
  size_t threads() const { return threads_.size(); }

  // Runs `task` before any queued job (it must not throw).
  void post_urgent(std::function<void()> task);
  // Blocks until nothing is queued, building or urgent (tests).
  void wait_idle();
  // Drops the queued jobs, finishes the builds and urgent tasks under way
  // and joins the threads; what the destructor does, for an owner whose
  // builds use objects that die before the queue. Idempotent.
  void stop();

 private:
  struct Entry {
    Job job;
    Build build;
    std::set<std::string> askers;
    uint64_t order = 0;  // first asked for
    std::chrono::steady_clock::time_point not_before{};
    std::chrono::steady_clock::time_point failed_at{};
  };
  void loop();
  // The runnable queued entry with the highest demand, or null; sets *wake
  // to the earliest time a delayed one becomes runnable.
  Entry* next_runnable(std::chrono::steady_clock::time_point now,
                       std::optional<std::chrono::steady_clock::time_point>* wake);
  void run(Entry& e);

  Options options_;
  Clock clock_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;       // work for the threads
  std::condition_variable idle_cv_;  // for wait_idle
  std::map<std::string, Entry> entries_;
  std::deque<std::function<void()>> urgent_;
  size_t running_ = 0;  // builds and urgent tasks under way
  uint64_t next_order_ = 0;
  uint64_t builds_ = 0;
  double build_seconds_total_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_BUILD_QUEUE_H
