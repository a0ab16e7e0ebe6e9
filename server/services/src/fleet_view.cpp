// SPDX-License-Identifier: Apache-2.0
#include "ota/server/fleet_view.h"

#include <cstdio>

#include "ota/server/service_error.h"

namespace ota::server {

namespace {

// Effective tags from rows ordered by source: "admin" sorts before
// "device", so a device's own value never replaces an admin's.
void add_tag(std::map<std::string, std::string>& tags, const DeviceTag& t) { tags.emplace(t.key, t.value); }

}  // namespace

void FleetView::load_common(Store& store) {
  for (const FirmwareRecord& f : store.list_firmware()) {
    by_digest_.emplace(f.product + "/" + f.sha256_hex, f.version);  // the oldest wins, as in the store
    versions_.insert(f.product + "/" + f.version);
  }
  for (const GroupRecord& g : store.list_groups()) {
    if (!g.filter) continue;
    try {
      dynamic_.emplace_back(g.name, DeviceFilter::parse(*g.filter));
    } catch (const ServiceError& e) {
      // Filters are checked when a group is made; one that no longer parses
      // (a database edited by hand) matches nothing rather than failing views.
      std::fprintf(stderr, "ota-server: group %s: %s\n", g.name.c_str(), e.what());
    }
  }
}

FleetView::FleetView(Store& store) {
  devices_ = store.list_devices();
  load_common(store);
  for (const DeviceTag& t : store.all_device_tags()) add_tag(tags_[t.device_id], t);
  for (const auto& [group, device] : store.all_group_members()) static_groups_[device].insert(group);
  last_states_ = store.latest_states();
}

FleetView::FleetView(Store& store, const std::string& device_id) {
  auto d = store.device(device_id);
  if (!d) return;
  devices_.push_back(*d);
  load_common(store);
  for (const DeviceTag& t : store.device_tags(device_id)) add_tag(tags_[device_id], t);
  for (const GroupRecord& g : store.list_groups()) {
    if (g.filter) continue;
    for (const std::string& member : store.group_members(g.name))
      if (member == device_id) static_groups_[device_id].insert(g.name);
  }
  if (auto state = store.latest_state(device_id)) last_states_[device_id] = *state;
}

std::optional<std::string> FleetView::running_version(const DeviceRecord& d) const {
  if (d.running_sha256_hex.empty()) {
    if (versions_.count(d.product + "/" + d.running_version)) return d.running_version;
    return std::nullopt;
  }
  auto it = by_digest_.find(d.product + "/" + d.running_sha256_hex);
  if (it == by_digest_.end()) return std::nullopt;
  return it->second;
}

bool FleetView::image_known(const DeviceRecord& d) const {
  return by_digest_.count(d.product + "/" + d.running_sha256_hex) > 0;
}

std::map<std::string, std::string> FleetView::tags(const std::string& device_id) const {
  auto it = tags_.find(device_id);
  return it == tags_.end() ? std::map<std::string, std::string>() : it->second;
}

std::string FleetView::last_state(const std::string& device_id) const {
  auto it = last_states_.find(device_id);
  return it == last_states_.end() ? std::string() : it->second;
}

DeviceFacts FleetView::facts(const DeviceRecord& d) const {
  DeviceFacts f;
  f.device = &d;
  f.running_version = running_version(d);
  f.tags = tags(d.device_id);
  f.last_state = last_state(d.device_id);
  if (auto it = static_groups_.find(d.device_id); it != static_groups_.end()) f.groups = it->second;
  return f;
}

std::vector<std::string> FleetView::groups(const DeviceRecord& d, int64_t now) const {
  DeviceFacts f = facts(d);
  std::set<std::string> all = f.groups;
  for (const auto& [name, filter] : dynamic_)
    if (filter.matches(f, now)) all.insert(name);
  return {all.begin(), all.end()};
}

std::vector<DeviceRecord> FleetView::matching(const DeviceFilter& filter, int64_t now) const {
  std::vector<DeviceRecord> out;
  for (const DeviceRecord& d : devices_)
    if (filter.matches(facts(d), now)) out.push_back(d);
  return out;
}

}  // namespace ota::server
