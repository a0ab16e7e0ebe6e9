// SPDX-License-Identifier: Apache-2.0
//
// /metrics: the Prometheus text exposition of this process (its CPU,
// memory and file descriptors, and Metrics' counters) and of the fleet,
// read from the database at each scrape: devices by state, by last status
// and by the version they run, firmware per product, rollouts by state,
// and per rollout that is active or changed within the last day its state,
// current wave, waves by state and devices by wave and state. Every
// instance on one database shows the same fleet gauges (take max() or
// scrape one of them); the counters are its own. No HTTP here.
#ifndef OTA_SERVER_METRICS_SERVICE_H
#define OTA_SERVER_METRICS_SERVICE_H

#include <functional>
#include <string>

#include "ota/server/metrics.h"
#include "ota/server/store.h"

namespace ota::server {

class BuildQueue;

class MetricsService {
 public:
  using Clock = std::function<int64_t()>;
  MetricsService(Store& store, const Metrics& metrics, Clock clock = {});
  // Adds this process's release builds to the scrape (ota_release_builds
  // by state, ota_release_builds_total, ota_release_build_seconds_total).
  void set_build_queue(const BuildQueue* builds) { builds_ = builds; }

  // The whole exposition (text format 0.0.4). Throws StoreError when the
  // database cannot be read.
  std::string scrape();

  // How long a finished rollout keeps its per-rollout series.
  static constexpr int64_t kRecentRollout = 86400;

 private:
  Store& store_;
  const Metrics& metrics_;
  Clock clock_;
  const BuildQueue* builds_ = nullptr;
};

// The build families of one queue (see set_build_queue).
void render_build_metrics(std::string& out, const BuildQueue& builds);

// The process families (process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_start_time_seconds)
// from /proc/self, as Prometheus' own clients name them.
void render_process_metrics(std::string& out);

}  // namespace ota::server

#endif  // OTA_SERVER_METRICS_SERVICE_H
