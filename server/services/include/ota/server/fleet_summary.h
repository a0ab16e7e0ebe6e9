// SPDX-License-Identifier: Apache-2.0
//
// The fleet at a glance, for the console's overview: devices counted by
// product, by the version they run and by the state of their latest status
// report (the database counts them: grouped rows, Store::fleet_stats), the
// devices silent for longer than a threshold, and the newest failures with
// their reasons. No HTTP.
#ifndef OTA_SERVER_FLEET_SUMMARY_H
#define OTA_SERVER_FLEET_SUMMARY_H

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/store.h"

namespace ota::server {

struct FleetSummary {
  struct Count {
    std::string product;
    std::optional<std::string> name;  // a version (none: an image the server does not know) or a state
    uint64_t devices = 0;
  };
  struct Failure {
    StatusEvent event;
    std::string product;
  };
  uint64_t devices = 0, enabled = 0;
  int64_t not_seen_after_s = 0;
  std::vector<Count> by_product;  // name unset
  std::vector<Count> by_version;  // per product, by version
  std::vector<Count> by_state;    // "none": no status reported yet
  uint64_t not_seen_total = 0;    // never seen, or not for not_seen_after_s
  std::vector<DeviceRecord> not_seen;  // the longest silent first (never seen first), at most kListed
  std::vector<Failure> failures;       // failed, rolled_back, refused; newest first, at most kListed
  static constexpr size_t kListed = 20;
};

// Throws ServiceError 400 bad_query for a threshold below 1 s or above 10 years.
FleetSummary summarize_fleet(Store& store, int64_t now, int64_t not_seen_after_s);

}  // namespace ota::server

#endif  // OTA_SERVER_FLEET_SUMMARY_H
