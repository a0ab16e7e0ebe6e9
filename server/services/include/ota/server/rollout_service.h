// SPDX-License-Identifier: Apache-2.0
//
// Rollouts: one firmware (product, version) to a target set (a group or a
// filter, the product's devices in it) in waves that promote or halt on
// what the devices prove after they reboot (rollout_engine.h says how).
// The service reads a rollout's state from the database, lets the engine
// take the next step, and writes the step back in one transaction guarded
// by revisions, so that several servers on one database stay right. Steps
// are taken on an admin's action, on a device's failure report, and by the
// timer (tick()), which also places devices that joined the target set.
// No HTTP here.
#ifndef OTA_SERVER_ROLLOUT_SERVICE_H
#define OTA_SERVER_ROLLOUT_SERVICE_H

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/rollout_engine.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class RolloutService {
 public:
  using Clock = std::function<int64_t()>;
  struct Options {
    int64_t scan_interval = 30;  // seconds between looks for late joiners, per rollout
    int64_t retry_after = 60;    // what a device over the download cap is told
  };
  explicit RolloutService(Store& store, Clock clock = {});
  RolloutService(Store& store, Clock clock, Options options);

  // What an admin asks for; defaults in brackets.
  struct Plan {
    std::string product, version;          // [the default product]
    std::optional<std::string> group;      // the target: a group ...
    std::optional<std::string> filter;     // ... or a filter (exactly one)
    std::string waves = "100%";
    std::string success = "100%";          // confirmed share (or count) that promotes a wave
    std::string max_failures = "0%";       // share of a wave, or a count, above which it halts
    int64_t confirm_within = 0;            // seconds; [0: no limit]
    bool approval = false;
    int64_t start_at = 0;                  // [now]
    uint32_t max_downloads = 0;            // [no cap]
    uint32_t retries = 0;
    int64_t retry_backoff = 300;           // seconds before the first retry
    std::vector<std::string> order;        // an explicit order; [random]
    std::optional<uint64_t> seed;          // the random order's seed; [random]
  };
  // Refused when it is made, with the reason: 400 (invalid_product,
  // invalid_version, missing_field, invalid_filter, invalid_waves,
  // invalid_threshold, invalid_order), 404 (firmware_not_found,
  // group_not_found), 409 empty_target (no device of the product in the
  // target), devices_cannot_accept (a device could never install it:
  // another chip, a downgrade; naming them), device_in_rollout (a device is
  // in another active rollout). The first wave starts at once unless
  // start_at is later.
  RolloutSnapshot create(const Plan& plan, const std::string& actor);

  std::vector<RolloutRecord> list();
  struct View {
    RolloutSnapshot snapshot;
    // Per wave: how many of its devices are in each member state.
    std::vector<std::map<std::string, uint64_t>> states;
  };
  View get(int64_t id);  // 404 rollout_not_found
  // pause, resume, approve, abort (409 invalid_transition), then a step.
  RolloutRecord act(int64_t id, RolloutAction action, const std::string& actor);

  // The timer: every active rollout takes its next step (and looks for
  // late joiners when its scan is due). Returns how many steps were written.
  size_t tick();

  // A status report of a device for `version` (UpdateService calls it):
  // its truth in its active rollout, if any; a failure takes a step at once.
  void on_report(const std::string& device_id, const std::string& state, const std::string& version,
                 const std::string& detail);

  // A check-in about to be offered `version` of `product`: whether it may
  // start downloading now (a member over the rollout's download cap waits
  // `retry_after` seconds; a device in no rollout may always).
  struct Gate {
    bool admitted = true;
    int64_t retry_after = 0;
  };
  Gate admit(const std::string& device_id);

  // 409 device_in_rollout when the device is in an active rollout: an
  // assignment of its own would fight the rollout's.
  void check_not_in_rollout(const std::string& device_id);

 private:
  // Reads, acts (if asked), steps and writes, until the write lands.
  bool advance(int64_t id, std::optional<RolloutAction> action, const std::string& actor);
  size_t place_late_joiners(const RolloutSnapshot& s, int64_t now);

  Store& store_;
  Clock clock_;
  Options options_;
  std::mutex mu_;                          // guards last_scan_
  std::map<int64_t, int64_t> last_scan_;   // per rollout, this process only (a scan is idempotent)
};

}  // namespace ota::server

#endif  // OTA_SERVER_ROLLOUT_SERVICE_H
