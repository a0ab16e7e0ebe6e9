// SPDX-License-Identifier: Apache-2.0
// Rollouts through the service, without sockets, on the store of the suite
// (SQLite, and PostgreSQL in the /postgresql copy): refusals when a rollout
// is made, waves that promote on confirmations and halt on failures with the
// assignments the devices see, the download cap, late joiners, concurrent
// status reports, and a restart of the server in the middle.
#include "ota/server/rollout_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "ota/server/crypto.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/group_service.h"
#include "ota/server/update_service.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT = 1'764'000'000;

class RolloutServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("rollouts");
    open_services();
    std::mt19937 rng(9);
    auto code = test::synthetic_image(rng, 30000);
    firmware_->upload("lamp", std::string("1.0"), test::synthetic_esp32_app("1.0", "lamp", code), "admin");
    firmware_->upload("lamp", std::string("2.0"),
                      test::synthetic_esp32_app("2.0", "lamp", test::mutate_image(rng, code, 5)), "admin");
    for (int i = 0; i < 40; ++i) devices_->register_device(id(i), "lamp", std::nullopt, "admin");
  }
  void TearDown() override {
    close_services();
    fs::remove_all(dir_);
  }
  // The server's parts, as main() makes them; again after a "restart".
  void open_services() {
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    auto clock = [this] { return now_.load(); };
    RolloutService::Options o;
    o.scan_interval = 60;
    rollouts_ = std::make_unique<RolloutService>(*store_, clock, o);
    updates_ = std::make_unique<UpdateService>(*store_, clock, rollouts_.get());
    firmware_ = std::make_unique<FirmwareService>(*store_, *artifacts_, clock);
    devices_ = std::make_unique<DeviceService>(*store_, key_, clock);
    groups_ = std::make_unique<GroupService>(*store_, clock);
  }
  void close_services() {
    groups_.reset();
    devices_.reset();
    firmware_.reset();
    updates_.reset();
    rollouts_.reset();
    artifacts_.reset();
    store_.reset();
  }
  static std::string id(int i) { return (i < 10 ? "lamp-0" : "lamp-") + std::to_string(i); }

  RolloutService::Plan plan(const std::string& waves, const std::string& success, const std::string& failures) {
    RolloutService::Plan p;
    p.product = "lamp";
    p.version = "2.0";
    p.filter = "product=lamp";
    p.waves = waves;
    p.success = success;
    p.max_failures = failures;
    p.seed = 42;
    return p;
  }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const ServiceError& e) {
      return std::to_string(e.status) + " " + e.code + ": " + e.what();
    }
    return "(no error)";
  }
  // The devices that have the rollout's assignment now.
  std::vector<std::string> assigned() {
    std::vector<std::string> out;
    for (const DeviceRecord& d : store_->list_devices())
      if (auto a = store_->assignment(d.device_id); a && a->new_version == "2.0") out.push_back(d.device_id);
    return out;
  }
  std::vector<std::string> members_in(int64_t rollout, int wave) {
    std::vector<std::string> out;
    const std::optional<RolloutSnapshot> snapshot = store_->rollout(rollout);
    if (!snapshot) return out;
    for (const MemberRecord& m : snapshot->members)
      if (m.wave == wave) out.push_back(m.device_id);
    return out;
  }
  // A device that checks in (admitted) and goes through to `outcome`.
  void device_does(const std::string& device, const std::string& outcome) {
    ASSERT_TRUE(rollouts_->admit(device).admitted) << device;
    updates_->report_status(device, "downloading", "2.0", "");
    updates_->report_status(device, "applying", "2.0", "");
    updates_->report_status(device, "rebooting", "2.0", "");
    updates_->report_status(device, outcome, "2.0", outcome == "rolled_back" ? "self-test failed" : "");
  }
  RolloutState state(int64_t id) { return store_->rollout_header(id)->rollout.state; }

  fs::path dir_;
  std::atomic<int64_t> now_{kT};
  Bytes key_ = random_bytes(32);
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<RolloutService> rollouts_;
  std::unique_ptr<UpdateService> updates_;
  std::unique_ptr<FirmwareService> firmware_;
  std::unique_ptr<DeviceService> devices_;
  std::unique_ptr<GroupService> groups_;
};

TEST_F(RolloutServiceTest, MistakesAreRefusedWhenTheRolloutIsMade) {
  auto p = plan("10%,100%", "90%", "5%");
  p.filter = "product=nothing";
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }),
            "409 empty_target: no enabled device of product lamp in filter product=nothing");
  p = plan("10%,100%", "90%", "5%");
  p.version = "9.9";
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }),
            "404 firmware_not_found: no firmware version 9.9 in product lamp");
  p = plan("50%,10%", "90%", "5%");
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }).substr(0, 18), "400 invalid_waves:");
  p = plan("100%", "190%", "5%");
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }).substr(0, 22), "400 invalid_threshold:");
  p = plan("100%", "90%", "5%");
  p.filter.reset();
  p.group = "nope";
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }), "404 group_not_found: no group nope");
  p = plan("100%", "90%", "5%");
  p.order = {"lamp-01", "ghost"};
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }),
            "400 invalid_order: device ghost of the order is not in the target");
  // A C3 in the target could never install an ESP32 image.
  devices_->register_device("lamp-c3", "lamp", std::string("ESP32-C3"), "admin");
  p = plan("100%", "90%", "5%");
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }),
            "409 devices_cannot_accept: 1 device(s) of the target could never install 2.0: firmware 2.0 is built "
            "for ESP32, device lamp-c3 is an ESP32-C3");
  devices_->set_enabled("lamp-c3", false, "admin");  // disabled devices are not targeted
  // Two rollouts never target one device.
  p.filter = "product=lamp and tag.batch=1";
  groups_->set_tags("lamp-05", {{"batch", std::string("1")}}, "admin");
  int64_t first = rollouts_->create(p, "admin").rollout.id;
  p.filter = "product=lamp";
  EXPECT_EQ(error_of([&] { rollouts_->create(p, "admin"); }),
            "409 device_in_rollout: 1 device(s) of the target are in another active rollout: lamp-05 is in rollout " +
                std::to_string(first));
  // Nor does an assignment of its own fight the rollout's.
  EXPECT_EQ(error_of([&] { updates_->assign("lamp-05", "1.0", "admin"); }),
            "409 device_in_rollout: device lamp-05 is in rollout " + std::to_string(first) +
                " (abort it or let it finish: a paused rollout still holds its devices)");
  EXPECT_EQ(store_->list_rollouts().size(), 1u);
}

TEST_F(RolloutServiceTest, WavesPromoteOnConfirmationsAndTheRolloutCompletes) {
  RolloutSnapshot s = rollouts_->create(plan("10%,50%,100%", "75%", "25%"), "admin");
  const int64_t r = s.rollout.id;
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning);
  std::vector<std::string> wave1 = members_in(r, 0);
  ASSERT_EQ(wave1.size(), 4u);
  EXPECT_EQ(assigned(), [&] {
    auto w = wave1;
    std::sort(w.begin(), w.end());
    return w;
  }()) << "exactly wave 1 sees the release";
  EXPECT_EQ(members_in(r, 1).size(), 16u);
  // 3 of 4 confirm (75%): the next wave starts at the next step.
  device_does(wave1[0], "confirmed");
  device_does(wave1[1], "confirmed");
  now_ += 5;
  rollouts_->tick();
  EXPECT_EQ(store_->rollout_header(r)->rollout.current_wave, 0);
  device_does(wave1[2], "confirmed");
  now_ += 5;
  rollouts_->tick();
  EXPECT_EQ(store_->rollout_header(r)->rollout.current_wave, 1);
  EXPECT_EQ(assigned().size(), 1u + 16u) << "wave 1's last device and all of wave 2";
  for (const std::string& d : members_in(r, 1)) device_does(d, "confirmed");
  now_ += 5;
  rollouts_->tick();
  for (const std::string& d : members_in(r, 2)) device_does(d, "confirmed");
  now_ += 5;
  rollouts_->tick();
  EXPECT_EQ(state(r), RolloutState::kCompleted);
  EXPECT_FALSE(store_->rollout_of_device(wave1[0])) << "its devices are free again";
  EXPECT_EQ(store_->device(wave1[0])->security_counter, store_->firmware("lamp", "2.0")->security_counter);
  RolloutService::View v = rollouts_->get(r);
  EXPECT_EQ(v.states[0]["confirmed"], 3u);
  EXPECT_EQ(v.states[0]["assigned"], 1u) << "the one that never came keeps its assignment";
  EXPECT_EQ(v.states[2]["confirmed"], 20u);
  EXPECT_EQ(v.snapshot.waves[0].planned, 4u) << "a wave's own devices";
  EXPECT_EQ(v.snapshot.waves[1].planned, 16u);
  EXPECT_EQ(v.snapshot.waves[2].planned, 20u);
  // It comes after all: its truth is recorded, and it lets go.
  device_does(wave1[3], "confirmed");
  auto late = store_->rollout_member(r, wave1[3]);
  EXPECT_EQ(late->state, MemberState::kConfirmed);
  EXPECT_FALSE(late->holds);
  EXPECT_FALSE(store_->assignment(wave1[3]));
  EXPECT_EQ(state(r), RolloutState::kCompleted);
}

TEST_F(RolloutServiceTest, AFailureOverTheThresholdHaltsAtOnceAndStopsEveryDownload) {
  RolloutSnapshot s = rollouts_->create(plan("25%,100%", "90%", "10%"), "admin");  // wave 1: 10, 1 failure allowed
  const int64_t r = s.rollout.id;
  std::vector<std::string> wave1 = members_in(r, 0);
  device_does(wave1[0], "rolled_back");
  EXPECT_EQ(state(r), RolloutState::kRunning);
  ASSERT_TRUE(rollouts_->admit(wave1[2]).admitted);
  updates_->report_status(wave1[2], "downloading", "2.0", "");
  device_does(wave1[1], "failed");
  // No tick: the failure report itself took the step.
  auto h = store_->rollout_header(r)->rollout;
  EXPECT_EQ(h.state, RolloutState::kHalted);
  EXPECT_EQ(h.reason, "wave 1: 2 of 10 devices failed (20%), above the 10% error threshold");
  EXPECT_EQ(h.halted_by.size(), 2u);
  EXPECT_TRUE(assigned().empty()) << "new downloads stop at once, a started one too";
  for (const std::string& d : members_in(r, 1)) {
    EXPECT_EQ(store_->rollout_member(r, d)->attempts, 0u) << d << " outside wave 1 never got it";
    EXPECT_TRUE(store_->status_history(d).empty()) << d;
  }
  // The history says why, with the devices.
  bool said = false;
  for (const AuditEvent& e : store_->audit_log(100)) said |= e.detail.find("halted: wave 1: 2 of 10") != std::string::npos;
  EXPECT_TRUE(said);
  // An admin resumes, accepting those failures.
  rollouts_->act(r, RolloutAction::kResume, "admin");
  EXPECT_EQ(state(r), RolloutState::kRunning);
  EXPECT_EQ(assigned().size(), 8u);
  EXPECT_THROW(rollouts_->act(r, RolloutAction::kApprove, "admin"), ServiceError);
  rollouts_->act(r, RolloutAction::kAbort, "admin");
  EXPECT_EQ(state(r), RolloutState::kAborted);
  EXPECT_TRUE(assigned().empty());
  EXPECT_FALSE(store_->rollout_of_device(wave1[0]));
}

TEST_F(RolloutServiceTest, TheDownloadCapTellsDevicesToComeBackLater) {
  auto p = plan("100%", "90%", "10%");
  p.max_downloads = 2;
  const int64_t r = rollouts_->create(p, "admin").rollout.id;
  std::vector<std::string> all = members_in(r, 0);
  EXPECT_TRUE(rollouts_->admit(all[0]).admitted);
  EXPECT_TRUE(rollouts_->admit(all[1]).admitted);
  RolloutService::Gate later = rollouts_->admit(all[2]);
  EXPECT_FALSE(later.admitted);
  EXPECT_EQ(later.retry_after, 60);
  EXPECT_TRUE(rollouts_->admit(all[0]).admitted) << "one that started goes on";
  updates_->report_status(all[0], "confirmed", "2.0", "");
  EXPECT_TRUE(rollouts_->admit(all[2]).admitted) << "a slot came free";
  EXPECT_TRUE(rollouts_->admit("lamp-not-in-any").admitted) << "not in a rollout: never held back";
}

TEST_F(RolloutServiceTest, ApprovalScheduledStartAndTimeouts) {
  auto p = plan("10%,100%", "100%", "50%");
  p.approval = true;
  p.start_at = kT + 3600;
  p.confirm_within = 600;
  const int64_t r = rollouts_->create(p, "admin").rollout.id;
  EXPECT_EQ(state(r), RolloutState::kScheduled);
  EXPECT_TRUE(assigned().empty());
  now_ = kT + 3600;
  rollouts_->tick();
  std::vector<std::string> wave1 = members_in(r, 0);
  EXPECT_EQ(assigned().size(), 4u);
  for (size_t i = 0; i < 3; ++i) device_does(wave1[i], "confirmed");
  ASSERT_TRUE(rollouts_->admit(wave1[3]).admitted);  // starts, then goes silent
  now_ += 599;
  rollouts_->tick();
  EXPECT_EQ(store_->rollout_member(r, wave1[3])->state, MemberState::kDownloading);
  now_ += 1;
  rollouts_->tick();
  EXPECT_EQ(store_->rollout_member(r, wave1[3])->state, MemberState::kTimedOut);
  EXPECT_EQ(state(r), RolloutState::kHalted) << "100% success can no longer be reached";
  rollouts_->act(r, RolloutAction::kResume, "admin");
  rollouts_->tick();
  EXPECT_EQ(state(r), RolloutState::kWaitingApproval) << "3 of 3 not excused";
  EXPECT_EQ(assigned().size(), 0u);
  rollouts_->act(r, RolloutAction::kApprove, "admin");
  EXPECT_EQ(assigned().size(), 36u);
}

TEST_F(RolloutServiceTest, LateJoinersArePlacedInTheCurrentWave) {
  auto p = plan("50%,100%", "100%", "50%");
  p.filter = "product=lamp and tag.site=north";
  for (int i = 0; i < 4; ++i) groups_->set_tags(id(i), {{"site", std::string("north")}}, "admin");
  const int64_t r = rollouts_->create(p, "admin").rollout.id;
  EXPECT_EQ(store_->rollout(r)->members.size(), 4u);
  groups_->set_tags(id(30), {{"site", std::string("north")}}, "admin");  // joins the target set
  now_ += 61;  // the scan is due
  rollouts_->tick();
  auto m = store_->rollout_member(r, id(30));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->wave, 0) << "the current wave, still running";
  EXPECT_EQ(m->state, MemberState::kAssigned);
  EXPECT_TRUE(store_->assignment(id(30)));
  rollouts_->tick();
  EXPECT_EQ(store_->rollout(r)->members.size(), 5u) << "once";
}

TEST_F(RolloutServiceTest, ConcurrentReportsAndTicksLoseNothing) {
  const int64_t r = rollouts_->create(plan("100%", "100%", "100%"), "admin").rollout.id;
  std::vector<std::string> all = members_in(r, 0);
  std::atomic<bool> done{false};
  std::thread ticker([&] {
    while (!done) rollouts_->tick();
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (size_t i = t; i < all.size(); i += 4) device_does(all[i], "confirmed");
    });
  for (auto& th : threads) th.join();
  done = true;
  ticker.join();
  rollouts_->tick();
  EXPECT_EQ(rollouts_->get(r).states[0]["confirmed"], all.size());
  EXPECT_EQ(state(r), RolloutState::kCompleted);
}

TEST_F(RolloutServiceTest, AServerRestartedMidRolloutGoesOnFromTheDatabase) {
  const int64_t r = rollouts_->create(plan("10%,100%", "100%", "10%"), "admin").rollout.id;
  std::vector<std::string> wave1 = members_in(r, 0);
  for (const std::string& d : wave1) device_does(d, "confirmed");
  close_services();  // nothing in memory survives
  open_services();
  now_ += 5;
  rollouts_->tick();
  EXPECT_EQ(store_->rollout_header(r)->rollout.current_wave, 1);
  EXPECT_EQ(assigned().size(), 36u);
}

TEST_F(RolloutServiceTest, ADeviceThatRolledBackIsNeverASuccess) {
  const int64_t r = rollouts_->create(plan("100%", "10%", "100%"), "admin").rollout.id;
  std::vector<std::string> all = members_in(r, 0);
  device_does(all[0], "confirmed");
  updates_->report_status(all[0], "rolled_back", "2.0", "new image never confirmed itself");
  EXPECT_EQ(store_->rollout_member(r, all[0])->state, MemberState::kRolledBack);
  updates_->report_status(all[0], "confirmed", "2.0", "");
  EXPECT_EQ(store_->rollout_member(r, all[0])->state, MemberState::kRolledBack) << "whatever it says after";
  EXPECT_EQ(rollouts_->get(r).states[0]["confirmed"], 0u);
}

}  // namespace
}  // namespace ota::server
