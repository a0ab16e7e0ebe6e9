// SPDX-License-Identifier: Apache-2.0
// The rollout engine as a pure function, on hand-built states: every state
// transition, thresholds at their edges, approvals, pauses, timeouts,
// retries with backoff, a device's truth, and steps that change nothing
// when repeated.
#include "ota/server/rollout_engine.h"

#include <gtest/gtest.h>

#include "ota/server/service_error.h"

namespace ota::server {
namespace {

constexpr int64_t kT = 1'764'000'000;

// A rollout of `n` devices d00..d(n-1) in waves of the given cumulative sizes.
RolloutSnapshot make(int n, const std::string& waves, const std::string& success = "100%",
                     const std::string& failures = "0%") {
  RolloutSnapshot s;
  RolloutRecord& r = s.rollout;
  r.id = 7;
  r.product = "p";
  r.version = "2.0";
  r.waves = waves;
  r.success = parse_threshold(success, "success", "invalid_threshold");
  r.max_failures = parse_threshold(failures, "max failures", "invalid_threshold");
  r.state = RolloutState::kScheduled;
  std::vector<Threshold> w = parse_waves(waves);
  std::vector<uint64_t> sizes = wave_sizes(w, n);
  for (size_t i = 0; i < w.size(); ++i)
    s.waves.push_back({static_cast<int>(i), w[i].text(), sizes[i] - (i ? sizes[i - 1] : 0)});
  for (int i = 0; i < n; ++i) {
    MemberRecord m;
    m.device_id = (i < 10 ? "d0" : "d") + std::to_string(i);
    m.position = i;
    m.wave = 0;
    while (static_cast<uint64_t>(i) >= sizes[m.wave]) ++m.wave;
    s.members.push_back(m);
  }
  return s;
}

RolloutSnapshot run(const RolloutSnapshot& s, int64_t now, RolloutStep* last = nullptr) {
  RolloutStep step = rollout_step(s, now);
  if (last) *last = step;
  return apply_step(s, step);
}

MemberRecord& member(RolloutSnapshot& s, const std::string& id) {
  for (MemberRecord& m : s.members)
    if (m.device_id == id) return m;
  throw std::runtime_error("no member " + id);
}

// Sets the first `k` members of `wave` that are assigned to `state`.
void report(RolloutSnapshot& s, int wave, int k, MemberState state, int64_t started = kT) {
  for (MemberRecord& m : s.members) {
    if (k == 0) break;
    if (m.wave != wave || m.state != MemberState::kAssigned) continue;
    m.state = state;
    m.started_at = started;
    --k;
  }
}

std::string ids(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& id : v) out += id + " ";
  return out;
}

TEST(RolloutEngine, StartsAtItsTimeAndAssignsTheFirstWave) {
  RolloutSnapshot s = make(10, "20%,100%");
  s.rollout.start_at = kT + 100;
  RolloutStep step = rollout_step(s, kT);
  EXPECT_FALSE(step.changed) << "not before its start";
  s = run(s, kT + 100, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning);
  EXPECT_EQ(ids(step.assign), "d00 d01 ");
  EXPECT_TRUE(step.unassign.empty());
  EXPECT_EQ(member(s, "d00").state, MemberState::kAssigned);
  EXPECT_EQ(member(s, "d00").attempts, 1u);
  EXPECT_EQ(member(s, "d02").state, MemberState::kWaiting);
  EXPECT_EQ(step.events, (std::vector<std::string>{"rollout 7: started", "rollout 7: wave 1 (20%) started"}));
  // The same state again: nothing to do.
  EXPECT_FALSE(rollout_step(s, kT + 101).changed);
}

TEST(RolloutEngine, AWaveIsDoneAtItsSuccessThresholdNotOneDeviceBefore) {
  RolloutSnapshot s = run(make(40, "20,40", "95%", "100%"), kT);  // 19 of 20 needed
  report(s, 0, 18, MemberState::kConfirmed);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  EXPECT_EQ(s.rollout.current_wave, 0) << "18 of 20 is 90%";
  EXPECT_TRUE(step.assign.empty());
  EXPECT_EQ(step.unassign.size(), 18u) << "a confirmed device's assignment is done";
  report(s, 0, 1, MemberState::kConfirmed);
  s = run(s, kT + 2, &step);
  EXPECT_EQ(s.rollout.current_wave, 1) << "19 of 20 is 95%";
  EXPECT_EQ(step.assign.size(), 20u);
  EXPECT_TRUE(s.waves[0].done);
  EXPECT_NE(std::find(step.events.begin(), step.events.end(), "rollout 7: wave 1 done: 19 of 20 confirmed"),
            step.events.end());
  report(s, 1, 19, MemberState::kConfirmed);
  s = run(s, kT + 3, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kCompleted);
  // The devices still on their way keep their assignments: they get the release.
  EXPECT_EQ(step.unassign.size(), 19u) << "only the confirmed ones";
  EXPECT_TRUE(member(s, "d19").holds) << "the last one of wave 1 never reported";
  EXPECT_TRUE(member(s, "d39").holds);
}

TEST(RolloutEngine, TheErrorThresholdHaltsJustAboveItsShare) {
  RolloutSnapshot s = run(make(200, "10%,50%,100%", "95%", "5%"), kT);  // wave 1: 20 devices, 1 failure allowed
  report(s, 0, 5, MemberState::kDownloading);
  report(s, 0, 1, MemberState::kRolledBack);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning) << "1 of 20 is 5%: not above";
  report(s, 0, 1, MemberState::kFailed);
  s = run(s, kT + 2, &step);
  ASSERT_EQ(s.rollout.state, RolloutState::kHalted);
  EXPECT_EQ(s.rollout.reason, "wave 1: 2 of 20 devices failed (10%), above the 5% error threshold");
  EXPECT_EQ(s.rollout.halted_by.size(), 2u);
  // New downloads stop at once, and no device outside wave 1 ever got it.
  EXPECT_EQ(step.unassign.size(), 19u) << "every holder, started or not (the first failure's went before)";
  EXPECT_TRUE(step.assign.empty());
  for (const MemberRecord& m : s.members) {
    EXPECT_FALSE(m.holds) << m.device_id;
    if (m.wave > 0) {
      EXPECT_EQ(m.attempts, 0u) << m.device_id;
    }
  }
  EXPECT_FALSE(rollout_step(s, kT + 3).changed) << "halted stays halted";
}

TEST(RolloutEngine, ACountThresholdAddsUpEveryWave) {
  RolloutSnapshot s = run(make(20, "50%,100%", "80%", "2"), kT);
  report(s, 0, 8, MemberState::kConfirmed);
  report(s, 0, 2, MemberState::kRolledBack);
  s = run(s, kT + 1);
  ASSERT_EQ(s.rollout.state, RolloutState::kRunning);
  EXPECT_EQ(s.rollout.current_wave, 1) << "8 of 10 is 80%; 2 failures are not above 2";
  report(s, 1, 1, MemberState::kFailed);
  s = run(s, kT + 2);
  EXPECT_EQ(s.rollout.state, RolloutState::kHalted);
  EXPECT_EQ(s.rollout.reason, "3 devices failed, above the error threshold of 2");
  EXPECT_EQ(s.rollout.halted_by.size(), 3u);
}

TEST(RolloutEngine, AWaveThatCanNoLongerSucceedHalts) {
  RolloutSnapshot s = run(make(10, "100%", "90%", "50%"), kT);  // 9 of 10 needed
  report(s, 0, 2, MemberState::kTimedOut);
  s = run(s, kT + 1);
  EXPECT_EQ(s.rollout.state, RolloutState::kHalted);
  EXPECT_EQ(s.rollout.reason, "wave 1 can no longer reach its 90% success threshold (2 of 10 failed)");
}

TEST(RolloutEngine, ApprovalHoldsTheNextWaveUntilAnAdminSaysSo) {
  RolloutSnapshot s = make(10, "20%,100%");
  s.rollout.approval = true;
  s = run(s, kT);
  report(s, 0, 2, MemberState::kConfirmed);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  ASSERT_EQ(s.rollout.state, RolloutState::kWaitingApproval);
  EXPECT_TRUE(step.assign.empty());
  EXPECT_FALSE(rollout_step(s, kT + 500).changed) << "waits as long as it takes";
  s = rollout_action(s, RolloutAction::kApprove, kT + 600);
  s = run(s, kT + 600, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning);
  EXPECT_EQ(s.rollout.current_wave, 1);
  EXPECT_EQ(step.assign.size(), 8u);
  EXPECT_THROW(rollout_action(s, RolloutAction::kApprove, kT + 601), ServiceError) << "nothing waits now";
}

TEST(RolloutEngine, PauseLetsStartedDownloadsFinishAndResumeGoesOn) {
  RolloutSnapshot s = run(make(4, "100%"), kT);
  report(s, 0, 1, MemberState::kDownloading);
  s = rollout_action(s, RolloutAction::kPause, kT + 1);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kPaused);
  EXPECT_EQ(ids(step.unassign), "d01 d02 d03 ") << "d00 downloads on";
  EXPECT_TRUE(member(s, "d00").holds);
  s = rollout_action(s, RolloutAction::kResume, kT + 2);
  s = run(s, kT + 2, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning);
  EXPECT_EQ(ids(step.assign), "d01 d02 d03 ");
  EXPECT_EQ(member(s, "d01").attempts, 1u) << "the same attempt: it never started";
  EXPECT_THROW(rollout_action(s, RolloutAction::kResume, kT + 3), ServiceError) << "it runs already";
}

TEST(RolloutEngine, NotConfirmedInTimeIsAFailure) {
  RolloutSnapshot s = make(10, "100%", "90%", "20%");
  s.rollout.confirm_within = 1800;
  s = run(s, kT);
  report(s, 0, 3, MemberState::kRebooting, kT);
  RolloutStep step;
  s = run(s, kT + 1799, &step);
  EXPECT_EQ(member(s, "d00").state, MemberState::kRebooting);
  s = run(s, kT + 1800, &step);
  EXPECT_EQ(member(s, "d00").state, MemberState::kTimedOut);
  EXPECT_FALSE(member(s, "d00").holds);
  EXPECT_EQ(s.rollout.state, RolloutState::kHalted) << "3 of 10 is above 20%";
}

TEST(RolloutEngine, RetriesWaitADoublingBackoffAndOnlyTheLastFailureCounts) {
  RolloutSnapshot s = make(2, "100%", "100%", "0");
  s.rollout.retries = 2;
  s.rollout.retry_backoff = 60;
  s = run(s, kT);
  member(s, "d00").state = MemberState::kRolledBack;
  s = run(s, kT + 10);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning) << "a retry is left: no failure yet";
  EXPECT_EQ(member(s, "d00").state, MemberState::kWaiting);
  EXPECT_EQ(member(s, "d00").next_attempt_at, kT + 70);
  EXPECT_FALSE(member(s, "d00").holds);
  s = run(s, kT + 69);
  EXPECT_EQ(member(s, "d00").state, MemberState::kWaiting);
  s = run(s, kT + 70);
  EXPECT_EQ(member(s, "d00").state, MemberState::kAssigned);
  EXPECT_EQ(member(s, "d00").attempts, 2u);
  member(s, "d00").state = MemberState::kFailed;
  s = run(s, kT + 100);
  EXPECT_EQ(member(s, "d00").next_attempt_at, kT + 220) << "the backoff doubles";
  s = run(s, kT + 220);
  member(s, "d00").state = MemberState::kRolledBack;
  s = run(s, kT + 230);
  EXPECT_EQ(member(s, "d00").attempts, 3u);
  EXPECT_EQ(s.rollout.state, RolloutState::kHalted) << "no retry left: a failure, above 0";
}

TEST(RolloutEngine, ARolledBackDeviceIsNeverASuccess) {
  RolloutSnapshot s = run(make(1, "100%", "100%", "100%"), kT);
  member(s, "d00").state = MemberState::kRolledBack;  // whatever it said before the reboot
  s = run(s, kT + 1);
  EXPECT_EQ(count_wave(s, 0, 0).confirmed, 0u);
  EXPECT_EQ(count_wave(s, 0, 0).failed, 1u);
  EXPECT_EQ(s.rollout.state, RolloutState::kHalted) << "1 of 1 needed and it failed";
}

TEST(RolloutEngine, ResumingAHaltAcceptsItsFailures) {
  RolloutSnapshot s = run(make(20, "50%,100%", "80%", "10%"), kT);
  report(s, 0, 2, MemberState::kFailed);
  s = run(s, kT + 1);
  ASSERT_EQ(s.rollout.state, RolloutState::kHalted);
  s = rollout_action(s, RolloutAction::kResume, kT + 2);
  EXPECT_TRUE(member(s, "d00").excused);
  RolloutStep step;
  s = run(s, kT + 2, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kRunning);
  EXPECT_TRUE(s.rollout.reason.empty());
  EXPECT_EQ(step.assign.size(), 8u) << "the rest of wave 1 again";
  report(s, 0, 7, MemberState::kConfirmed);  // 7 of the 8 not excused: 87.5%
  s = run(s, kT + 3);
  EXPECT_EQ(s.rollout.current_wave, 1);
}

TEST(RolloutEngine, AbortStopsEveryDownload) {
  RolloutSnapshot s = run(make(5, "100%"), kT);
  report(s, 0, 2, MemberState::kApplying);
  s = rollout_action(s, RolloutAction::kAbort, kT + 1);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  EXPECT_EQ(s.rollout.state, RolloutState::kAborted);
  EXPECT_EQ(step.unassign.size(), 5u);
  EXPECT_THROW(rollout_action(s, RolloutAction::kAbort, kT + 2), ServiceError);
  EXPECT_THROW(rollout_action(s, RolloutAction::kResume, kT + 2), ServiceError);
}

TEST(RolloutEngine, EmptyWavesPassAndATinyTargetStillCompletes) {
  RolloutSnapshot s = make(3, "5%,25%,100%");  // sizes 1, 1, 3: wave 2 adds nobody
  EXPECT_EQ(s.waves[1].planned, 0u);
  s = run(s, kT);
  report(s, 0, 1, MemberState::kConfirmed);
  RolloutStep step;
  s = run(s, kT + 1, &step);
  EXPECT_EQ(s.rollout.current_wave, 2) << "wave 2 had nobody and passed at once";
  EXPECT_EQ(step.assign.size(), 2u);
}

TEST(RolloutEngine, ThresholdsAndWavesAreParsedStrictly) {
  EXPECT_EQ(parse_threshold("95%", "x", "c").value, 9500u);
  EXPECT_EQ(parse_threshold("2.5%", "x", "c").value, 250u);
  EXPECT_EQ(parse_threshold("0.05%", "x", "c").value, 5u);
  EXPECT_EQ(parse_threshold("100%", "x", "c").text(), "100%");
  EXPECT_EQ(parse_threshold("2.5%", "x", "c").text(), "2.5%");
  EXPECT_EQ(parse_threshold("12.34%", "x", "c").text(), "12.34%");
  Threshold count = parse_threshold("3", "x", "c");
  EXPECT_FALSE(count.percent);
  EXPECT_EQ(count.value, 3u);
  for (const char* bad : {"", "%", "101%", "1.234%", "-1", "1.5", "abc", "5 %", ".5%", "5.%", "9999999999"})
    EXPECT_THROW(parse_threshold(bad, "x", "c"), ServiceError) << bad;
  EXPECT_EQ(wave_sizes(parse_waves("10%, 50% ,100%"), 200), (std::vector<uint64_t>{20, 100, 200}));
  EXPECT_EQ(wave_sizes(parse_waves("5%,25%,100%"), 10), (std::vector<uint64_t>{1, 3, 10}));
  EXPECT_EQ(wave_sizes(parse_waves("20,500"), 200), (std::vector<uint64_t>{20, 200})) << "counts cap at the set";
  EXPECT_EQ(wave_sizes(parse_waves("50%"), 0), (std::vector<uint64_t>{0}));
  for (const char* bad : {"", "10%,,100%", "50%,10%", "0%,100%", "10%;100%"})
    EXPECT_THROW(parse_waves(bad), ServiceError) << bad;
  std::string many;
  for (int i = 1; i <= 21; ++i) many += std::to_string(i) + (i < 21 ? "," : "");
  EXPECT_THROW(parse_waves(many), ServiceError);
}

}  // namespace
}  // namespace ota::server
