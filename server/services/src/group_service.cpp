// SPDX-License-Identifier: Apache-2.0
#include "ota/server/group_service.h"

#include <algorithm>

#include "ota/server/artifacts.h"
#include "service_util.h"

namespace ota::server {

GroupService::GroupService(Store& store, Clock clock)
    : store_(store), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

std::optional<std::string> GroupService::tag_problem(const std::string& key, const std::string& value) {
  bool key_ok = !key.empty() && key.size() <= 32 && key[0] >= 'a' && key[0] <= 'z';
  for (char c : key) key_ok = key_ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-');
  if (!key_ok) return "tag key '" + key + "': 1-32 of [a-z0-9_.-], starting with a letter";
  bool value_ok = !value.empty() && value.size() <= 64;
  for (char c : value) value_ok = value_ok && c >= 0x20 && c < 0x7f;
  if (!value_ok) return "tag " + key + ": the value must be 1-64 printable ASCII characters";
  return std::nullopt;
}

GroupRecord GroupService::create(const std::string& name, const std::optional<std::string>& filter,
                                 const std::string& actor) {
  if (!valid_product(name))  // the same rules as product names
    throw ServiceError(400, "invalid_group_name",
                       "group names are 1-32 characters of [A-Za-z0-9._-], not starting with '.' or '-'");
  if (filter) {
    DeviceFilter parsed = DeviceFilter::parse(*filter);
    for (const std::string& g : parsed.groups_named()) {
      auto named = store_.group(g);
      if (!named) throw ServiceError(400, "invalid_filter", "filter: no group " + g);
      if (named->filter) throw ServiceError(400, "invalid_filter", "filter: group " + g + " is dynamic; name static groups only");
      if (g == name) throw ServiceError(400, "invalid_filter", "filter: a group cannot name itself");
    }
  }
  GroupRecord g{name, filter, clock_()};
  if (!store_.create_group(g)) throw ServiceError(409, "group_exists", "group " + name + " exists");
  store_.add_audit({g.created_at, actor, "group.create", "group=" + name + (filter ? " filter=" + *filter : " static")});
  return g;
}

std::vector<GroupService::Group> GroupService::list() {
  FleetView fleet(store_);
  const int64_t now = clock_();
  std::map<std::string, std::vector<std::string>> members;
  for (const auto& [group, device] : store_.all_group_members()) members[group].push_back(device);
  std::vector<Group> out;
  for (const GroupRecord& g : store_.list_groups()) {
    Group item{g, {}};
    if (g.filter) {
      try {
        for (const DeviceRecord& d : fleet.matching(DeviceFilter::parse(*g.filter), now))
          item.members.push_back(d.device_id);
      } catch (const ServiceError&) {
        // A filter that no longer parses matches nothing (FleetView says why).
      }
      std::sort(item.members.begin(), item.members.end());
    } else {
      item.members = members[g.name];
    }
    out.push_back(std::move(item));
  }
  return out;
}

GroupService::Group GroupService::get(const std::string& name) {
  auto g = store_.group(name);
  if (!g) throw ServiceError(404, "group_not_found", "no group " + name);
  Group out{*g, {}};
  if (!g->filter) {
    out.members = store_.group_members(name);
    return out;
  }
  for (const DeviceRecord& d : devices_matching(*g->filter)) out.members.push_back(d.device_id);
  std::sort(out.members.begin(), out.members.end());
  return out;
}

void GroupService::remove(const std::string& name, const std::string& actor) {
  if (!store_.group(name)) throw ServiceError(404, "group_not_found", "no group " + name);
  for (const GroupRecord& g : store_.list_groups()) {
    if (!g.filter || g.name == name) continue;
    std::optional<DeviceFilter> filter;
    try {
      filter = DeviceFilter::parse(*g.filter);
    } catch (const ServiceError&) {
      continue;  // a filter that no longer parses names nothing
    }
    if (filter->groups_named().count(name))
      throw ServiceError(409, "group_in_use", "group " + g.name + "'s filter names group " + name);
  }
  store_.delete_group(name);
  store_.add_audit({clock_(), actor, "group.delete", "group=" + name});
}

void GroupService::add_members(const std::string& name, const std::vector<std::string>& device_ids,
                               const std::string& actor) {
  auto g = store_.group(name);
  if (!g) throw ServiceError(404, "group_not_found", "no group " + name);
  if (g->filter) throw ServiceError(409, "group_is_dynamic", "group " + name + " is dynamic: its filter decides");
  if (device_ids.empty()) throw ServiceError(400, "missing_field", "no device ids");
  for (const std::string& id : device_ids) {
    if (!valid_device_id(id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
    if (!store_.device(id)) throw ServiceError(404, "device_not_found", "no device " + id);
  }
  for (const std::string& id : device_ids) store_.add_group_member(name, id);
  store_.add_audit({clock_(), actor, "group.add", "group=" + name + " devices=" + std::to_string(device_ids.size())});
}

void GroupService::remove_member(const std::string& name, const std::string& device_id, const std::string& actor) {
  auto g = store_.group(name);
  if (!g) throw ServiceError(404, "group_not_found", "no group " + name);
  if (g->filter) throw ServiceError(409, "group_is_dynamic", "group " + name + " is dynamic: its filter decides");
  if (!store_.remove_group_member(name, device_id))
    throw ServiceError(404, "device_not_found", "device " + device_id + " is not in group " + name);
  store_.add_audit({clock_(), actor, "group.remove", "group=" + name + " device=" + device_id});
}

std::vector<DeviceRecord> GroupService::devices_matching(const std::string& filter) {
  DeviceFilter parsed = DeviceFilter::parse(filter);
  return FleetView(store_).matching(parsed, clock_());
}

void GroupService::set_tags(const std::string& device_id,
                            const std::map<std::string, std::optional<std::string>>& tags,
                            const std::string& actor) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!store_.device(device_id)) throw ServiceError(404, "device_not_found", "no device " + device_id);
  if (tags.empty()) throw ServiceError(400, "missing_field", "no tags");
  for (const auto& [key, value] : tags)
    if (auto why = tag_problem(key, value.value_or("x"))) throw ServiceError(400, "invalid_tag", *why);
  std::string detail;
  for (const auto& [key, value] : tags) {
    store_.set_device_tag(device_id, "admin", key, value);
    detail += " " + key + (value ? "=" + *value : " removed");
  }
  store_.add_audit({clock_(), actor, "device.tags", "device=" + device_id + detail});
}

void GroupService::report_tags(const std::string& device_id, const std::map<std::string, std::string>& tags) {
  if (tags.size() > 16) throw ServiceError(400, "invalid_tag", "a device reports at most 16 tags");
  for (const auto& [key, value] : tags)
    if (auto why = tag_problem(key, value)) throw ServiceError(400, "invalid_tag", *why);
  store_.replace_device_tags(device_id, "device", tags);
}

}  // namespace ota::server
