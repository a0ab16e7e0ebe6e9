// SPDX-License-Identifier: Apache-2.0
//
// The records of a rollout as the store keeps them and the rollout engine
// (services' rollout_engine.h) reads and writes them: the rollout, its
// waves, and each device's truth within it.
#ifndef OTA_SERVER_ROLLOUT_RECORDS_H
#define OTA_SERVER_ROLLOUT_RECORDS_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ota::server {

enum class RolloutState { kScheduled, kRunning, kWaitingApproval, kPaused, kHalted, kCompleted, kAborted };
const char* rollout_state_name(RolloutState s);
std::optional<RolloutState> rollout_state_from(const std::string& name);
// Not completed and not aborted: the rollout holds its devices.
inline bool rollout_active(RolloutState s) { return s != RolloutState::kCompleted && s != RolloutState::kAborted; }

// A device's truth within a rollout.
enum class MemberState {
  kWaiting,      // its wave has not started, or it waits for a retry
  kAssigned,     // told to update; not started
  kDownloading,  // started (the check-in sent it the manifest, or it said so)
  kApplying,
  kRebooting,
  kConfirmed,    // booted the new image and passed its self-test
  kRolledBack,   // the bootloader went back to the old image
  kFailed,       // it reported a failure
  kTimedOut,     // not confirmed within confirm_within of starting
  kRefused,      // the server could not send it the release
};
const char* member_state_name(MemberState s);
std::optional<MemberState> member_state_from(const std::string& name);
// downloading, applying, rebooting
inline bool member_in_progress(MemberState s) {
  return s == MemberState::kDownloading || s == MemberState::kApplying || s == MemberState::kRebooting;
}
// rolled_back, failed, timed_out, refused
inline bool member_failed(MemberState s) {
  return s == MemberState::kRolledBack || s == MemberState::kFailed || s == MemberState::kTimedOut ||
         s == MemberState::kRefused;
}

// A share in basis points ("95%": 9500) or a count.
struct Threshold {
  bool percent = true;
  uint32_t value = 0;
  std::string text() const;  // "95%", "2.5%", "3"
};

struct RolloutRecord {
  int64_t id = 0;
  std::string product, version;
  std::string target_kind;  // "group" or "filter"
  std::string target;       // the group's name or the filter
  std::string waves;        // as given, e.g. "5%,25%,100%"
  Threshold success{true, 10000};
  Threshold max_failures{true, 0};
  int64_t confirm_within = 0;  // seconds; 0: no limit
  bool approval = false;       // an admin approves each next wave
  int64_t start_at = 0;        // scheduled start (Unix seconds); 0: at once
  uint32_t max_downloads = 0;  // concurrent downloads; 0: no cap
  uint32_t retries = 0;        // further attempts of a failed device
  int64_t retry_backoff = 0;   // seconds before the first retry, doubling
  std::string order;           // "random:SEED" or "explicit"
  RolloutState state = RolloutState::kScheduled;
  int current_wave = 0;
  std::string reason;          // why it halted (or was aborted)
  std::vector<std::string> halted_by;  // the devices that made it halt
  int64_t created_at = 0, updated_at = 0;
  int64_t revision = 0;        // bumped by every write (optimistic concurrency)
};

struct WaveRecord {
  int index = 0;
  std::string spec;       // "25%" or "200"
  uint64_t planned = 0;   // its own devices when the rollout was made (not cumulative)
  bool started = false, done = false;
  int64_t started_at = 0, done_at = 0;
};

struct MemberRecord {
  std::string device_id;
  int wave = 0;
  int64_t position = 0;   // order within the rollout
  MemberState state = MemberState::kWaiting;
  bool holds = false;     // the rollout's assignment is in the assignments table
  uint32_t attempts = 0;  // assignments given so far
  int64_t started_at = 0;       // download start of this attempt
  int64_t next_attempt_at = 0;  // for a retry
  int64_t updated_at = 0;
  std::string detail;     // the last report's detail
  bool excused = false;   // its failure was accepted by resuming the halted rollout
  int64_t revision = 0;   // bumped by every write of the row (optimistic concurrency)
};

struct RolloutSnapshot {
  RolloutRecord rollout;
  std::vector<WaveRecord> waves;
  std::vector<MemberRecord> members;
};

}  // namespace ota::server

#endif  // OTA_SERVER_ROLLOUT_RECORDS_H
