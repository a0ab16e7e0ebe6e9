// SPDX-License-Identifier: Apache-2.0
#include "ota/server/device_query.h"

#include <algorithm>
#include <cctype>

#include "ota/server/service_error.h"

namespace ota::server {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool contains(const std::string& text, const std::string& needle_lower) {
  return lower(text).find(needle_lower) != std::string::npos;
}

bool matches_search(const FleetView& view, const DeviceRecord& d, const std::string& needle) {
  if (needle.empty()) return true;
  if (contains(d.device_id, needle) || contains(d.product, needle) || contains(d.running_version, needle))
    return true;
  if (auto v = view.running_version(d); v && contains(*v, needle)) return true;
  for (const auto& [key, value] : view.tags(d.device_id))
    if (contains(value, needle)) return true;
  return false;
}

}  // namespace

DevicePage query_devices(const FleetView& view, const DeviceQuery& q, int64_t now) {
  const bool descending = !q.sort.empty() && q.sort[0] == '-';
  const std::string key = descending ? q.sort.substr(1) : q.sort;
  if (key != "device_id" && key != "product" && key != "created_at" && key != "last_seen" && key != "running_version")
    throw ServiceError(400, "bad_query",
                       "sort is device_id, product, created_at, last_seen or running_version (\"-\" in front: "
                       "descending), not '" + q.sort + "'");
  if (q.limit && (*q.limit == 0 || *q.limit > DeviceQuery::kMaxLimit))
    throw ServiceError(400, "bad_query", "limit must be 1.." + std::to_string(DeviceQuery::kMaxLimit));
  if (q.search.size() > DeviceQuery::kMaxSearch)
    throw ServiceError(400, "bad_query", "the search text is limited to " + std::to_string(DeviceQuery::kMaxSearch) +
                                             " characters");

  std::vector<DeviceRecord> found =
      q.filter ? view.matching(DeviceFilter::parse(*q.filter), now) : view.devices();
  const std::string needle = lower(q.search);
  found.erase(std::remove_if(found.begin(), found.end(),
                             [&](const DeviceRecord& d) { return !matches_search(view, d, needle); }),
              found.end());

  // Sort keys computed once per device.
  struct Row {
    std::string text;
    int64_t number = 0;
    bool missing = false;  // never seen (last_seen), or an unknown image (running_version)
    size_t index = 0;
  };
  std::vector<Row> rows(found.size());
  for (size_t i = 0; i < found.size(); ++i) {
    const DeviceRecord& d = found[i];
    Row& r = rows[i];
    r.index = i;
    if (key == "product") r.text = d.product;
    if (key == "created_at") r.number = d.created_at;
    if (key == "last_seen") {
      r.missing = !d.last_seen;
      r.number = d.last_seen.value_or(0);
    }
    if (key == "running_version") {
      auto v = view.running_version(d);
      r.missing = !v;
      r.text = v.value_or("");
    }
  }
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (a.missing != b.missing) return b.missing;  // missing last, either direction
    if (a.text != b.text) return descending ? a.text > b.text : a.text < b.text;
    if (a.number != b.number) return descending ? a.number > b.number : a.number < b.number;
    const std::string& ia = found[a.index].device_id;
    const std::string& ib = found[b.index].device_id;
    return key == "device_id" && descending ? ia > ib : ia < ib;
  });

  DevicePage page;
  page.total = rows.size();
  const size_t first = std::min(q.offset, rows.size());
  const size_t last = q.limit ? std::min(rows.size(), first + *q.limit) : rows.size();
  page.devices.reserve(last - first);
  for (size_t i = first; i < last; ++i) page.devices.push_back(std::move(found[rows[i].index]));
  return page;
}

}  // namespace ota::server
