// SPDX-License-Identifier: Apache-2.0
//
// What the server knows of its devices beyond their rows, read together for
// a view or a filter: each device's effective tags (an admin's value over
// the device's own), the groups it is in (static memberships, and dynamic
// groups whose filter it matches), and which firmware its image is.
#ifndef OTA_SERVER_FLEET_VIEW_H
#define OTA_SERVER_FLEET_VIEW_H

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ota/server/device_filter.h"
#include "ota/server/store.h"

namespace ota::server {

class FleetView {
 public:
  // Every device (six reads, whatever the fleet's size).
  explicit FleetView(Store& store);
  // One device only (nullopt-like: devices() is empty when it does not exist).
  FleetView(Store& store, const std::string& device_id);

  const std::vector<DeviceRecord>& devices() const { return devices_; }

  // The firmware version the device's image is: by the digest it reported;
  // for a device on the original endpoints (which report no digest) the
  // version it reported, when its product has it.
  std::optional<std::string> running_version(const DeviceRecord& d) const;
  // The server has the image the device reported (by digest).
  bool image_known(const DeviceRecord& d) const;
  std::map<std::string, std::string> tags(const std::string& device_id) const;
  // The state of the device's latest status report, "" before its first.
  std::string last_state(const std::string& device_id) const;
  // Static and dynamic groups the device is in, by name.
  std::vector<std::string> groups(const DeviceRecord& d, int64_t now) const;
  DeviceFacts facts(const DeviceRecord& d) const;
  // The devices `filter` matches, oldest first.
  std::vector<DeviceRecord> matching(const DeviceFilter& filter, int64_t now) const;

 private:
  void load_common(Store& store);

  std::vector<DeviceRecord> devices_;
  std::map<std::string, std::string> by_digest_;  // "product/sha256" -> version (the oldest)
  std::set<std::string> versions_;                // "product/version"
  std::map<std::string, std::map<std::string, std::string>> tags_;
  std::map<std::string, std::set<std::string>> static_groups_;  // device -> groups
  std::vector<std::pair<std::string, DeviceFilter>> dynamic_;   // name, filter
  std::map<std::string, std::string> last_states_;              // device -> state
};

}  // namespace ota::server

#endif  // OTA_SERVER_FLEET_VIEW_H
