// SPDX-License-Identifier: Apache-2.0
//
// A page of the device list for an admin (and the console's table): the
// devices a filter (device_filter.h) matches, narrowed by a search text,
// sorted, then the page from `offset`; `total` counts every match, so a
// table of 10,000 devices sends one page, never the whole fleet. No HTTP.
#ifndef OTA_SERVER_DEVICE_QUERY_H
#define OTA_SERVER_DEVICE_QUERY_H

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/fleet_view.h"

namespace ota::server {

struct DeviceQuery {
  std::optional<std::string> filter;  // device_filter.h; 400 invalid_filter when malformed
  // Case-insensitive substring of the device id, its product, its own
  // version label, the version it runs, or a tag value; "" matches all.
  std::string search;
  // device_id, product, created_at, last_seen or running_version; a "-"
  // in front sorts descending. Ties (and a device never seen, last for
  // last_seen either way) go by device id.
  std::string sort = "device_id";
  size_t offset = 0;
  std::optional<size_t> limit;  // none: to the end
  static constexpr size_t kMaxLimit = 1000;
  static constexpr size_t kMaxSearch = 64;
};

struct DevicePage {
  std::vector<DeviceRecord> devices;
  size_t total = 0;  // devices the filter and the search match, before paging
};

// Throws ServiceError 400 (invalid_filter, bad_query: an unknown sort, a
// limit of 0 or above kMaxLimit, a search longer than kMaxSearch).
DevicePage query_devices(const FleetView& view, const DeviceQuery& q, int64_t now);

}  // namespace ota::server

#endif  // OTA_SERVER_DEVICE_QUERY_H
