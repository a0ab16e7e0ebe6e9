// SPDX-License-Identifier: Apache-2.0
// The versioned check-in with a build pool (checkin_service.h), without
// sockets: a check-in never waits for a delta build (it is told to come
// back), fifty devices on one base get one build, each base's build counts
// the devices that asked for it, and a delta that cannot be built is
// retried, reported, and replaced by the full image.
#include <gtest/gtest.h>

#include <future>
#include <random>
#include <thread>

#include "ota/delta/sha256.h"
#include "ota/server/build_queue.h"
#include "ota/server/checkin_service.h"
#include "ota/server/device_service.h"
#include "ota/server/patch_service.h"
#include "ota/server/update_service.h"
#include "test_gate.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

using test::Gate;

class CheckInBuilds : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("checkin");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    firmware_ = std::make_unique<FirmwareService>(*store_, *artifacts_);
    devices_ = std::make_unique<DeviceService>(*store_, master_);
    patches_ = std::make_unique<PatchService>(*store_, *artifacts_, *firmware_, signer_);
    updates_ = std::make_unique<UpdateService>(*store_);
    BuildQueue::Options o;
    o.threads = 1;
    o.nice = 0;
    o.retry_delay_s = 0.01;
    builds_ = std::make_unique<BuildQueue>(o);
    checkin_ = std::make_unique<CheckInService>(*store_, *artifacts_, *firmware_, *patches_, *devices_, *updates_,
                                                signer_, master_, CheckInService::Clock{}, nullptr, builds_.get());
    std::mt19937 rng(11);
    auto code = test::synthetic_image(rng, 120000);
    for (int i = 0; i < 4; ++i) {
      images_.push_back(test::synthetic_esp32_app("1.0." + std::to_string(i), "demo", code));
      firmware_->upload("demo", "1.0." + std::to_string(i), images_.back(), "admin");
      code = test::mutate_image(rng, code, 20);
    }
  }
  void TearDown() override {
    builds_.reset();  // its threads may still use the services
    fs::remove_all(dir_);
  }

  // A device of product demo running 1.0.`base`, assigned 1.0.3.
  void add_device(const std::string& id, int base) {
    devices_->register_device(id, "demo", std::nullopt, "admin");
    updates_->assign(id, "1.0.3", "admin");
    running_[id] = base;
  }
  CheckInService::Answer check_in(const std::string& id, uint32_t ram_budget = 0) {
    CheckInService::Report r;
    r.ram_budget = ram_budget;
    r.version = "1.0." + std::to_string(running_[id]);
    r.image_sha256_hex = delta::to_hex(sha256(images_[running_[id]]));
    for (int i = 0; i < 16; ++i) r.nonce[i] = static_cast<uint8_t>(i);
    return checkin_->check_in(id, r);
  }
  std::string release_key(int base, bool firmware_aware = false) {
    return ArtifactStore::release_name("demo", "1.0." + std::to_string(base), "1.0.3", firmware_aware);
  }
  // The devices report their images once (the server learns what they run).
  void report_all() {
    for (const auto& [id, base] : running_) {
      CheckInService::Report r;
      r.version = "1.0." + std::to_string(base);
      r.image_sha256_hex = delta::to_hex(sha256(images_[base]));
      store_->touch_device(id, 1, r.version, r.image_sha256_hex);
    }
  }
  size_t audit_count(const std::string& action) {
    size_t n = 0;
    for (const auto& e : store_->audit_log(1000)) n += e.action == action;
    return n;
  }

  fs::path dir_;
  SigningKey signer_ = SigningKey::generate();
  Bytes master_ = random_bytes(32);
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<FirmwareService> firmware_;
  std::unique_ptr<DeviceService> devices_;
  std::unique_ptr<PatchService> patches_;
  std::unique_ptr<UpdateService> updates_;
  std::unique_ptr<BuildQueue> builds_;
  std::unique_ptr<CheckInService> checkin_;
  std::vector<std::vector<uint8_t>> images_;
  std::map<std::string, int> running_;
};

TEST_F(CheckInBuilds, ACheckInWhileThePoolIsBusyIsAnsweredAtOnceWithRetryAfter) {
  add_device("lamp-1", 0);
  Gate gate;
  builds_->request("someone-else", "a long build", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting());
  // Every build thread is taken: the check-in must not wait for one.
  auto answered = std::async(std::launch::async, [&] { return check_in("lamp-1"); });
  ASSERT_EQ(answered.wait_for(5s), std::future_status::ready) << "the check-in waited for the build pool";
  CheckInService::Answer a = answered.get();
  EXPECT_FALSE(a.update);
  EXPECT_TRUE(a.image_known);
  EXPECT_EQ(a.running_version, "1.0.0");
  EXPECT_EQ(a.retry_reason, "building");
  EXPECT_GE(a.retry_after, 1);
  EXPECT_LE(a.retry_after, BuildQueue::kMaxRetryAfter);
  auto job = builds_->find(release_key(0));
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, BuildQueue::State::kQueued);
  EXPECT_EQ(job->demand, 1u);
  gate.open();
  builds_->wait_idle();
  EXPECT_EQ(builds_->find(release_key(0))->state, BuildQueue::State::kReady);
  CheckInService::Answer later = check_in("lamp-1");
  EXPECT_TRUE(later.update);
  EXPECT_TRUE(later.delta);
  EXPECT_EQ(later.target_version, "1.0.3");
  EXPECT_EQ(later.release, release_key(0));
  EXPECT_FALSE(later.manifest.empty());
}

TEST_F(CheckInBuilds, FiftyDevicesOnOneBaseGetOneBuild) {
  for (int i = 0; i < 50; ++i) add_device("lamp-" + std::to_string(i), 1);
  std::vector<std::future<CheckInService::Answer>> asked;
  for (int i = 0; i < 50; ++i)
    asked.push_back(std::async(std::launch::async, [&, i] { return check_in("lamp-" + std::to_string(i)); }));
  int told_to_wait = 0;
  for (auto& f : asked) {
    CheckInService::Answer a = f.get();
    // Either the build was under way (come back) or, for the last ones to
    // ask, already done.
    if (!a.update) {
      ++told_to_wait;
      EXPECT_EQ(a.retry_reason, "building");
    }
  }
  EXPECT_GE(told_to_wait, 1);
  builds_->wait_idle();
  for (int i = 0; i < 50; ++i) {
    CheckInService::Answer a = check_in("lamp-" + std::to_string(i));
    ASSERT_TRUE(a.update) << i;
    EXPECT_EQ(a.release, release_key(1));
  }
  EXPECT_EQ(audit_count("patch.make"), 1u);
  EXPECT_EQ(builds_->stats().builds, 1u);
  EXPECT_EQ(builds_->find(release_key(1))->attempts, 1);
}

TEST_F(CheckInBuilds, EachBaseCountsTheDevicesThatAskForItsBuild) {
  Gate gate;
  builds_->request("someone-else", "a long build", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting());
  add_device("a-1", 0);
  for (const char* id : {"b-1", "b-2", "b-3"}) add_device(id, 1);
  for (const char* id : {"c-1", "c-2"}) add_device(id, 2);
  for (const auto& [id, base] : running_) EXPECT_FALSE(check_in(id).update) << id;
  check_in("b-2");  // asking again does not count twice
  EXPECT_EQ(builds_->find(release_key(0))->demand, 1u);
  EXPECT_EQ(builds_->find(release_key(1))->demand, 3u);
  EXPECT_EQ(builds_->find(release_key(2))->demand, 2u);
  // The most-used base is next in line, the least-used last.
  EXPECT_LT(builds_->retry_after(release_key(1)), builds_->retry_after(release_key(0)));
  gate.open();
  builds_->wait_idle();
  for (const auto& [id, base] : running_) EXPECT_TRUE(check_in(id).delta) << id;
}

TEST_F(CheckInBuilds, ANewTargetQueuesTheDeltasFromTheBasesInUseMostUsedFirst) {
  add_device("a-1", 0);
  for (const char* id : {"b-1", "b-2", "b-3"}) add_device(id, 1);
  for (const char* id : {"c-1", "c-2"}) add_device(id, 2);
  add_device("up-to-date", 3);  // runs the target: nothing to build for it
  report_all();
  devices_->register_device("stranger", "demo", std::nullopt, "admin");
  store_->touch_device("stranger", 1, "x", std::string(64, 'a'));  // an image the server never saw
  Gate gate;
  builds_->request("someone-else", "a long build", "", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting());
  // The firmware-aware form of each base in use, then the plain ones.
  EXPECT_EQ(checkin_->prebuild("demo", "1.0.3"), 6u);
  EXPECT_EQ(builds_->find(release_key(1, true))->demand, 3u);
  EXPECT_EQ(builds_->find(release_key(2, true))->demand, 2u);
  EXPECT_EQ(builds_->find(release_key(0, true))->demand, 1u);
  EXPECT_EQ(builds_->find(release_key(1))->demand, 1u) << "the server's own ask";
  EXPECT_EQ(builds_->jobs().size(), 7u);
  EXPECT_LT(builds_->retry_after(release_key(1, true)), builds_->retry_after(release_key(0)));
  EXPECT_EQ(checkin_->prebuild("nosuch", "1.0.3"), 0u);
  EXPECT_EQ(checkin_->prebuild("demo", "9.9.9"), 0u);
  gate.open();
  builds_->wait_idle();
  EXPECT_EQ(builds_->stats().ready, 7u);
  // Built before they asked: answered with their delta at the first check-in.
  CheckInService::Answer fa = check_in("b-2", 1 << 20);
  ASSERT_TRUE(fa.update);
  EXPECT_TRUE(fa.delta);
  EXPECT_EQ(fa.release, release_key(1, true));
  CheckInService::Answer plain = check_in("a-1");
  ASSERT_TRUE(plain.update);
  EXPECT_EQ(plain.release, release_key(0));
  // Everything is built: nothing more to queue.
  EXPECT_EQ(checkin_->prebuild("demo", "1.0.3"), 0u);
}

TEST_F(CheckInBuilds, ADeltaThatCannotBeBuiltIsRetriedReportedAndReplacedByTheFullImage) {
  add_device("lamp-1", 2);
  // The base's stored image is lost: its delta can never be built.
  fs::remove(artifacts_->firmware_path("demo", "1.0.2"));
  CheckInService::Answer first = check_in("lamp-1");
  EXPECT_FALSE(first.update);
  EXPECT_EQ(first.retry_reason, "building");
  builds_->wait_idle();
  auto job = builds_->find(release_key(2));
  ASSERT_TRUE(job);
  EXPECT_EQ(job->state, BuildQueue::State::kFailed);
  EXPECT_EQ(job->attempts, 3);
  EXPECT_FALSE(job->error.empty());
  EXPECT_EQ(builds_->stats().failed, 1u);
  CheckInService::Answer a = check_in("lamp-1");
  ASSERT_TRUE(a.update);
  EXPECT_FALSE(a.delta) << "the full image, since no delta can be built";
  EXPECT_EQ(a.release, ArtifactStore::release_name("demo", "", "1.0.3", false));
}

}  // namespace
}  // namespace ota::server
