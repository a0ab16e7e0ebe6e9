// SPDX-License-Identifier: Apache-2.0
// The build pool (build_queue.h) without a server: a job asked for by many
// is built once, the most-demanded job runs first, a failing build is tried
// again and then reported, asking never waits for a build, urgent tasks go
// ahead of the queue.
#include "ota/server/build_queue.h"
#include "test_gate.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

namespace ota::server {
namespace {

using namespace std::chrono_literals;

using test::Gate;

BuildQueue::Options one_thread() {
  BuildQueue::Options o;
  o.threads = 1;
  o.nice = 0;
  o.retry_delay_s = 0.01;
  return o;
}

TEST(BuildQueue, FiftyAskersAtOnceGetOneBuild) {
  BuildQueue q(one_thread());
  std::atomic<int> builds{0};
  Gate gate;
  std::vector<std::thread> askers;
  for (int i = 0; i < 50; ++i)
    askers.emplace_back([&, i] {
      q.request("demo/1.0.0-1.0.1", "demo 1.0.0 -> 1.0.1", "device-" + std::to_string(i), [&] {
        ++builds;
        gate.wait();
      });
    });
  for (auto& t : askers) t.join();
  ASSERT_TRUE(gate.until_waiting(1));
  auto job = q.find("demo/1.0.0-1.0.1");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, BuildQueue::State::kBuilding);
  EXPECT_EQ(job->demand, 50u);
  gate.open();
  q.wait_idle();
  EXPECT_EQ(builds.load(), 1);
  job = q.find("demo/1.0.0-1.0.1");
  EXPECT_EQ(job->state, BuildQueue::State::kReady);
  EXPECT_EQ(job->attempts, 1);
  EXPECT_GT(job->finished_at, 0);
  EXPECT_EQ(q.stats().builds, 1u);
}

TEST(BuildQueue, TheMostDemandedJobRunsFirst) {
  BuildQueue q(one_thread());
  Gate gate;
  std::mutex m;
  std::vector<std::string> order;
  auto record = [&](std::string key) {
    return [&, key] {
      std::lock_guard lock(m);
      order.push_back(key);
    };
  };
  q.request("busy", "busy", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting(1));  // the only thread is taken: what follows queues
  q.request("base-a", "a", "d1", record("base-a"));
  for (const char* d : {"d2", "d3", "d4"}) q.request("base-c", "c", d, record("base-c"));
  for (const char* d : {"d5", "d6"}) q.request("base-b", "b", d, record("base-b"));
  q.request("base-c", "c", "d2", record("base-c"));  // the same device again counts once
  q.request("base-d", "d", "d7", record("base-d"));  // ties: first asked, first built
  EXPECT_EQ(q.find("base-c")->demand, 3u);
  EXPECT_EQ(q.stats().queued, 4u);
  gate.open();
  q.wait_idle();
  EXPECT_EQ(order, (std::vector<std::string>{"base-c", "base-b", "base-a", "base-d"}));
  // Listed in the order they were first asked for.
  std::vector<std::string> listed;
  for (const auto& j : q.jobs()) listed.push_back(j.key);
  EXPECT_EQ(listed, (std::vector<std::string>{"busy", "base-a", "base-c", "base-b", "base-d"}));
}

TEST(BuildQueue, AFailingBuildIsTriedAgainThenReported) {
  BuildQueue::Options o = one_thread();
  o.max_attempts = 3;
  o.failed_retry_s = 3600;
  BuildQueue q(o);
  std::atomic<int> tries{0};
  auto failing = [&] {
    ++tries;
    throw std::runtime_error("firmware 1.0.0 is not stored");
  };
  q.request("bad", "demo 1.0.0 -> 1.0.1", "d1", failing);
  q.wait_idle();
  auto job = q.find("bad");
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, BuildQueue::State::kFailed);
  EXPECT_EQ(job->attempts, 3);
  EXPECT_EQ(tries.load(), 3);
  EXPECT_EQ(job->error, "firmware 1.0.0 is not stored");
  EXPECT_EQ(q.stats().failed, 1u);
  // Asked again within failed_retry_s: still failed, not built again.
  EXPECT_EQ(q.request("bad", "demo 1.0.0 -> 1.0.1", "d2", failing).state, BuildQueue::State::kFailed);
  q.wait_idle();
  EXPECT_EQ(tries.load(), 3);
}

TEST(BuildQueue, AFailedJobMayBeAskedForAgainLater) {
  BuildQueue::Options o = one_thread();
  o.max_attempts = 1;
  o.failed_retry_s = 0;
  BuildQueue q(o);
  q.request("flaky", "flaky", "d1", [] { throw std::runtime_error("disk full"); });
  q.wait_idle();
  EXPECT_EQ(q.find("flaky")->state, BuildQueue::State::kFailed);
  bool built = false;
  EXPECT_EQ(q.request("flaky", "flaky", "d1", [&] { built = true; }).state, BuildQueue::State::kQueued);
  q.wait_idle();
  EXPECT_TRUE(built);
  EXPECT_EQ(q.find("flaky")->state, BuildQueue::State::kReady);
  EXPECT_TRUE(q.find("flaky")->error.empty());
}

TEST(BuildQueue, ABuildThatFailsOnceSucceedsOnItsSecondAttempt) {
  BuildQueue q(one_thread());
  std::atomic<int> tries{0};
  q.request("once", "once", "", [&] {
    if (++tries == 1) throw std::runtime_error("transient");
  });
  q.wait_idle();
  auto job = q.find("once");
  EXPECT_EQ(job->state, BuildQueue::State::kReady);
  EXPECT_EQ(job->attempts, 2);
}

TEST(BuildQueue, AskingNeverWaitsForABuild) {
  BuildQueue q(one_thread());
  Gate gate;
  q.request("long", "long", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting(1));
  // Every thread is busy; asking for the same job and another returns at once.
  auto asked = std::async(std::launch::async, [&] {
    auto a = q.request("long", "long", "d1", [] {});
    auto b = q.request("next", "next", "d1", [] {});
    return std::make_pair(a.state, b.state);
  });
  ASSERT_EQ(asked.wait_for(5s), std::future_status::ready) << "request() waited for a build";
  EXPECT_EQ(asked.get(), std::make_pair(BuildQueue::State::kBuilding, BuildQueue::State::kQueued));
  // The estimate for the queued job: at least a second, at most the cap.
  const int64_t wait = q.retry_after("next");
  EXPECT_GE(wait, 1);
  EXPECT_LE(wait, BuildQueue::kMaxRetryAfter);
  gate.open();
  q.wait_idle();
}

TEST(BuildQueue, UrgentTasksRunBeforeQueuedJobs) {
  BuildQueue q(one_thread());
  Gate gate;
  std::mutex m;
  std::vector<std::string> order;
  q.request("busy", "busy", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting(1));
  q.request("queued", "queued", "d1", [&] {
    std::lock_guard lock(m);
    order.push_back("queued");
  });
  q.post_urgent([&] {
    std::lock_guard lock(m);
    order.push_back("urgent");
  });
  gate.open();
  q.wait_idle();
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "queued"}));
}

TEST(BuildQueue, ARetryAfterGrowsWithTheJobsAhead) {
  BuildQueue::Options o = one_thread();
  BuildQueue q(o);
  Gate gate;
  q.request("busy", "busy", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting(1));
  for (int i = 0; i < 20; ++i) q.request("job-" + std::to_string(i), "job", "d", [] {});
  // No build measured yet: 2 s each is assumed; the first in line waits
  // one build, the last twenty (capped).
  EXPECT_EQ(q.retry_after("job-0"), 2);
  EXPECT_EQ(q.retry_after("job-19"), BuildQueue::kMaxRetryAfter);
  EXPECT_EQ(q.retry_after("busy"), 2);
  gate.open();
  q.wait_idle();
}

}  // namespace
}  // namespace ota::server
