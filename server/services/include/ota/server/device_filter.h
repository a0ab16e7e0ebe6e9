// SPDX-License-Identifier: Apache-2.0
//
// Device filters: the expressions that define dynamic groups and rollout
// targets, over what the server knows of a device.
//
//   filter  := or
//   or      := and ("or" and)*
//   and     := unary ("and" unary)*
//   unary   := "not" unary | "(" or ")" | compare
//   compare := FIELD ("=" | "!=") VALUE | "last_seen" ("<" | ">") DURATION
//   FIELD   := product | chip | version | reported_version | enabled
//            | image_known | group | state | tag.KEY
//   VALUE   := a bare word of [A-Za-z0-9._:+/@-] or a "quoted string" (\" and \\ escape)
//   DURATION:= digits followed by s, m, h or d
//
// Fields: `version` is the firmware version of the image the device runs
// when the server knows it (a device with an unknown image has no version:
// `version=X` is false, `version!=X` true); `reported_version` its own label;
// `chip` a chip name in any spelling (ESP32-C3, esp32c3) or "unknown";
// `enabled` and `image_known` true or false; `group=G` membership of the
// static group G; `state` the state of the device's latest status report
// (downloading, applying, rebooting, confirmed, rolled_back, failed,
// refused, or none before its first); `tag.KEY` the device's tag (an admin's value over the
// device's own), absent tags equal nothing. `last_seen<7d`: seen in the
// last 7 days; `last_seen>30d`: not seen for 30 days, or never.
// Keywords are lower case; words compare exactly (case-sensitive), except
// chip names.
//
// Example: product=wled-esp32 and (tag.hw=B or tag.hw=C) and last_seen<7d
#ifndef OTA_SERVER_DEVICE_FILTER_H
#define OTA_SERVER_DEVICE_FILTER_H

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ota/server/store.h"

namespace ota::server {

// What a filter looks at, for one device.
struct DeviceFacts {
  const DeviceRecord* device = nullptr;
  std::optional<std::string> running_version;  // known image's version
  std::map<std::string, std::string> tags;     // effective tags
  std::set<std::string> groups;                // static groups it is in
  std::string last_state;                      // latest status report's state; "" for none
};

class DeviceFilter {
 public:
  // Throws ServiceError 400 invalid_filter ("... at character N: ...").
  static DeviceFilter parse(const std::string& text);

  bool matches(const DeviceFacts& facts, int64_t now) const;
  const std::string& text() const { return text_; }
  // The static groups the filter names (group=G), so that a group's own
  // filter may be checked for loops.
  const std::set<std::string>& groups_named() const { return groups_named_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
  std::set<std::string> groups_named_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_DEVICE_FILTER_H
