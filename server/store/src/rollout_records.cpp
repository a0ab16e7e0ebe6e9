// SPDX-License-Identifier: Apache-2.0
#include "ota/server/rollout_records.h"

namespace ota::server {

namespace {

const char* const kRolloutStates[] = {"scheduled", "running", "waiting_approval", "paused",
                                      "halted",    "completed", "aborted"};
const char* const kMemberStates[] = {"waiting", "assigned", "downloading", "applying", "rebooting",
                                     "confirmed", "rolled_back", "failed", "timed_out", "refused"};

}  // namespace

const char* rollout_state_name(RolloutState s) { return kRolloutStates[static_cast<int>(s)]; }
std::optional<RolloutState> rollout_state_from(const std::string& name) {
  for (int i = 0; i < 7; ++i)
    if (name == kRolloutStates[i]) return static_cast<RolloutState>(i);
  return std::nullopt;
}

const char* member_state_name(MemberState s) { return kMemberStates[static_cast<int>(s)]; }
std::optional<MemberState> member_state_from(const std::string& name) {
  for (int i = 0; i < 10; ++i)
    if (name == kMemberStates[i]) return static_cast<MemberState>(i);
  return std::nullopt;
}

std::string Threshold::text() const {
  if (!percent) return std::to_string(value);
  std::string s = std::to_string(value / 100);
  if (value % 100) {
    std::string frac = std::to_string(100 + value % 100).substr(1);
    if (frac.back() == '0') frac.pop_back();
    s += "." + frac;
  }
  return s + "%";
}

}  // namespace ota::server
