// SPDX-License-Identifier: Apache-2.0
//
// What one server process counts for /metrics: HTTP requests and their
// latency, check-ins, downloads and their bytes, patch builds and their
// duration, device status reports. Counters of this process only (each
// instance is scraped on its own and Prometheus sums them); the fleet's
// state (devices, rollouts) is read from the database at each scrape
// (MetricsService). Thread-safe; no HTTP here: the routes call it.
#ifndef OTA_SERVER_METRICS_H
#define OTA_SERVER_METRICS_H

#include <cstdint>
#include <string>
#include <string_view>

#include "ota/server/prometheus_text.h"

namespace ota::server {

class Metrics {
 public:
  Metrics();

  // route: the route's pattern ("/api/v1/devices/:device_id/check-in"),
  // never the raw path, so that series stay few.
  void http_request(std::string_view method, std::string_view route, int status, double seconds);
  // result: delta or full (an update was offered, of that kind), no_update,
  // deferred (a rollout's download cap held it back).
  void check_in(std::string_view result);
  // A response of release or patch bytes: `bytes` sent from `offset`
  // (a download begins at 0, a resume later). kind: delta or full.
  void download(std::string_view kind, bool firmware_aware, uint64_t offset, uint64_t bytes);
  // form: plain or firmware_aware.
  void patch_build(std::string_view form, bool ok, double seconds);
  // A status report a device made (downloading ... rolled_back).
  void status_report(std::string_view state);

  // The families above in the text format.
  void render(std::string& out) const;

  // For tests.
  double http_requests(std::string_view method, std::string_view route, int status) const;
  double check_ins(std::string_view result) const;
  double download_bytes(std::string_view kind, bool firmware_aware) const;
  double downloads(std::string_view kind, bool firmware_aware) const;
  uint64_t patch_builds(std::string_view form) const;

 private:
  prom::CounterFamily http_requests_;
  prom::HistogramFamily http_duration_;
  prom::CounterFamily check_ins_;
  prom::CounterFamily downloads_;
  prom::CounterFamily download_resumes_;
  prom::CounterFamily download_bytes_;
  prom::CounterFamily patch_builds_;
  prom::HistogramFamily patch_duration_;
  prom::CounterFamily status_reports_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_METRICS_H
