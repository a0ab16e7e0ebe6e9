// SPDX-License-Identifier: Apache-2.0
#include "ota/server/fleet_summary.h"

#include <algorithm>
#include <map>

#include "ota/server/service_error.h"

namespace ota::server {

FleetSummary summarize_fleet(Store& store, int64_t now, int64_t not_seen_after_s) {
  constexpr int64_t kTenYears = 10LL * 366 * 86400;
  if (not_seen_after_s < 1 || not_seen_after_s > kTenYears)
    throw ServiceError(400, "bad_query", "not_seen_after is 1 second to 10 years, in seconds");
  FleetSummary s;
  s.not_seen_after_s = not_seen_after_s;

  FleetStats stats = store.fleet_stats(now);
  std::map<std::string, uint64_t> per_product, reported;
  for (const FleetStats::Devices& d : stats.devices) {
    s.devices += d.n;
    if (d.enabled) s.enabled += d.n;
    per_product[d.product] += d.n;
  }
  for (const auto& [product, n] : per_product) s.by_product.push_back({product, std::nullopt, n});
  for (const FleetStats::Named& r : stats.running)
    s.by_version.push_back({r.product, r.name.empty() ? std::nullopt : std::optional<std::string>(r.name), r.n});
  for (const FleetStats::Named& r : stats.last_status) {
    s.by_state.push_back({r.product, r.name, r.n});
    reported[r.product] += r.n;
  }
  for (const auto& [product, n] : per_product)
    if (n > reported[product]) s.by_state.push_back({product, std::string("none"), n - reported[product]});
  auto by_product_then_name = [](const FleetSummary::Count& a, const FleetSummary::Count& b) {
    if (a.product != b.product) return a.product < b.product;
    return a.name < b.name;  // an unknown version (none) first
  };
  std::sort(s.by_version.begin(), s.by_version.end(), by_product_then_name);
  std::sort(s.by_state.begin(), s.by_state.end(), by_product_then_name);

  std::vector<DeviceRecord> silent;
  for (DeviceRecord& d : store.list_devices())
    if (!d.last_seen || *d.last_seen < now - not_seen_after_s) silent.push_back(std::move(d));
  std::sort(silent.begin(), silent.end(), [](const DeviceRecord& a, const DeviceRecord& b) {
    if (a.last_seen.has_value() != b.last_seen.has_value()) return !a.last_seen.has_value();
    if (a.last_seen != b.last_seen) return *a.last_seen < *b.last_seen;
    return a.device_id < b.device_id;
  });
  s.not_seen_total = silent.size();
  if (silent.size() > FleetSummary::kListed) silent.resize(FleetSummary::kListed);
  s.not_seen = std::move(silent);

  for (StatusEvent& e : store.recent_failures(FleetSummary::kListed)) {
    auto d = store.device(e.device_id);
    s.failures.push_back({std::move(e), d ? d->product : std::string()});
  }
  return s;
}

}  // namespace ota::server
