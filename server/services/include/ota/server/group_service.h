// SPDX-License-Identifier: Apache-2.0
//
// Device groups and tags. A static group lists its members (an admin adds
// and removes them); a dynamic group is a filter (device_filter.h) over
// product, chip, running version, tags, groups and last seen, and its
// members are whoever matches it now. Tags are key=value pairs an admin
// sets or a device reports at check-in; an admin's value wins. No HTTP here.
#ifndef OTA_SERVER_GROUP_SERVICE_H
#define OTA_SERVER_GROUP_SERVICE_H

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/fleet_view.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class GroupService {
 public:
  using Clock = std::function<int64_t()>;
  explicit GroupService(Store& store, Clock clock = {});

  struct Group {
    GroupRecord record;
    std::vector<std::string> members;  // device ids, sorted: the list, or who matches now
  };

  // A static group without `filter`, a dynamic one with it. 400
  // invalid_group_name / invalid_filter (also when it names a group that is
  // not a static group), 409 group_exists.
  GroupRecord create(const std::string& name, const std::optional<std::string>& filter, const std::string& actor);
  std::vector<Group> list();
  Group get(const std::string& name);  // 404 group_not_found
  // 409 group_in_use while a dynamic group's filter names it.
  void remove(const std::string& name, const std::string& actor);
  // Static groups only (409 group_is_dynamic); 404 device_not_found. All
  // or nothing: every id is checked before any is added.
  void add_members(const std::string& name, const std::vector<std::string>& device_ids, const std::string& actor);
  void remove_member(const std::string& name, const std::string& device_id, const std::string& actor);

  // The devices a filter matches now (400 invalid_filter).
  std::vector<DeviceRecord> devices_matching(const std::string& filter);

  // An admin's tags: a value sets, nullopt removes. 400 invalid_tag, 404
  // device_not_found.
  void set_tags(const std::string& device_id, const std::map<std::string, std::optional<std::string>>& tags,
                const std::string& actor);
  // What a device reports at check-in: its whole own set (at most 16).
  // 400 invalid_tag.
  void report_tags(const std::string& device_id, const std::map<std::string, std::string>& tags);

  // Keys: 1-32 of [a-z0-9_.-], starting with a letter; values: 1-64
  // printable ASCII characters. nullopt, or why not.
  static std::optional<std::string> tag_problem(const std::string& key, const std::string& value);

 private:
  Store& store_;
  Clock clock_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_GROUP_SERVICE_H
