// SPDX-License-Identifier: Apache-2.0
//
// The rollout engine: a pure function from what a rollout is now (its
// record, its waves, each device's truth) and the time to the next step —
// new states, devices to assign and unassign, and what to write in the
// audit log. It keeps nothing between calls: the service (RolloutService)
// reads the state from the database, calls rollout_step(), and writes the
// step back in one transaction guarded by the rollout's revision, from a
// status report, an admin's action or the timer. A missed, repeated or
// concurrent call (two servers on one database) changes nothing: each call
// looks at the whole state and takes the next idempotent step.
//
// A rollout sends one firmware (product, version) to a target set in
// ordered waves. Wave sizes are cumulative shares or counts of the target
// set ("5%,25%,100%" or "20,200"). A wave is *done* when the share of its
// devices that confirmed (booted the new image and passed their self-test)
// reaches the success threshold; then the next wave starts, at once or
// after an admin's approval. The rollout *halts* when the failures of the
// current wave exceed the error threshold (a share of the wave, or a count
// over the whole rollout), or when the wave can no longer reach its success
// threshold. Failures: rolled_back, failed, refused, or not confirmed within
// `confirm_within` seconds of the download starting (timed_out); with
// retries, a failed device is tried again after a backoff (doubling each
// time), and only a failure with no retry left counts. A device that rolled
// back is never counted as a success, whatever it said before.
#ifndef OTA_SERVER_ROLLOUT_ENGINE_H
#define OTA_SERVER_ROLLOUT_ENGINE_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/rollout_records.h"

namespace ota::server {

// "95%" (basis points: 9500), "2.5%" (250), or a count "3". Throws
// ServiceError 400 `code` naming `what` for anything else (a share above
// 100%, more than two decimals, a negative or huge count).
Threshold parse_threshold(const std::string& text, const char* what, const char* code);

// Cumulative wave sizes: "5%,25%,100%" or "10,50,200" (mixed allowed),
// each at least the previous; at most 20 waves. Throws 400 invalid_waves.
std::vector<Threshold> parse_waves(const std::string& text);
// The cumulative device counts of `waves` for a target set of n devices
// (a share rounds up, so 5% of 10 devices is 1; counts are capped at n).
std::vector<uint64_t> wave_sizes(const std::vector<Threshold>& waves, uint64_t n);

// Per wave: what the thresholds look at.
struct WaveCounts {
  uint64_t size = 0, waiting = 0, assigned = 0, in_progress = 0, confirmed = 0, failed = 0, retrying = 0,
           excused = 0;
};
WaveCounts count_wave(const RolloutSnapshot& s, int wave, uint32_t retries);

struct RolloutStep {
  RolloutRecord rollout;              // the record after the step
  std::vector<WaveRecord> waves;      // those that changed
  std::vector<MemberRecord> members;  // those that changed
  std::vector<std::string> assign;    // device ids to give the rollout's assignment
  std::vector<std::string> unassign;  // device ids whose rollout assignment goes
  std::vector<std::string> events;    // audit lines, e.g. "wave 1 done: 19 of 20 confirmed"
  bool changed = false;
};

// The next step at `now`. Pure: same input, same output.
RolloutStep rollout_step(const RolloutSnapshot& s, int64_t now);
// The snapshot once `step` is written.
RolloutSnapshot apply_step(RolloutSnapshot s, const RolloutStep& step);

// An admin's action, applied before the next step: pause (a running,
// waiting or scheduled rollout; downloads under way finish, no new one
// starts), resume (a paused one, or a halted one: the failures so far are
// accepted and count neither way), approve (the next wave of a rollout
// waiting for approval), abort (for good; downloads stop, devices already
// updated keep their image). Throws ServiceError 409 invalid_transition.
enum class RolloutAction { kPause, kResume, kApprove, kAbort };
const char* rollout_action_name(RolloutAction a);
RolloutSnapshot rollout_action(const RolloutSnapshot& s, RolloutAction action, int64_t now);

}  // namespace ota::server

#endif  // OTA_SERVER_ROLLOUT_ENGINE_H
