// SPDX-License-Identifier: Apache-2.0
#include "ota/server/metrics_service.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "ota/server/build_queue.h"
#include "service_util.h"

namespace ota::server {

namespace {

using prom::write_header;
using prom::write_sample;

double d(uint64_t n) { return static_cast<double>(n); }

// The state of a device as the fleet gauge counts it, from its row.
const char* device_state(const FleetStats::Devices& r) {
  if (!r.enabled) return "disabled";
  if (!r.seen) return "never_seen";
  return r.assigned ? "updating" : "idle";
}

void render_fleet(std::string& out, const FleetStats& st) {
  // Devices by state: every product with all four, zeros included, so a
  // series does not vanish when its count drops to nothing.
  std::map<std::string, std::map<std::string, uint64_t>> by_state;
  for (const auto& r : st.devices) by_state[r.product][device_state(r)] += r.n;
  for (const auto& f : st.firmware) by_state[f.product];  // products without devices show zeros
  write_header(out, "ota_devices", "gauge",
               "Registered devices by product and state: idle, updating (an update is assigned), never_seen, "
               "disabled.");
  for (const auto& [product, counts] : by_state)
    for (const char* state : {"idle", "updating", "never_seen", "disabled"}) {
      auto it = counts.find(state);
      write_sample(out, "ota_devices", {{"product", product}, {"state", state}}, d(it == counts.end() ? 0 : it->second));
    }

  write_header(out, "ota_devices_last_status", "gauge",
               "Devices by product and the state of their latest status report (downloading ... rolled_back).");
  for (const auto& r : st.last_status)
    write_sample(out, "ota_devices_last_status", {{"product", r.product}, {"state", r.name}}, d(r.n));

  write_header(out, "ota_devices_running", "gauge",
               "Devices by product and the firmware version they run (\"unknown\": an image the server does not "
               "have).");
  for (const auto& r : st.running)
    write_sample(out, "ota_devices_running", {{"product", r.product}, {"version", r.name.empty() ? "unknown" : r.name}},
                 d(r.n));

  write_header(out, "ota_firmware", "gauge", "Firmware versions stored, by product.");
  for (const auto& r : st.firmware) write_sample(out, "ota_firmware", {{"product", r.product}}, d(r.n));

  std::map<std::string, uint64_t> rollouts;
  for (const char* s : {"scheduled", "running", "waiting_approval", "paused", "halted", "completed", "aborted"})
    rollouts[s] = 0;
  for (const auto& [state, n] : st.rollouts) rollouts[state] += n;
  write_header(out, "ota_rollouts", "gauge", "Rollouts by state.");
  for (const auto& [state, n] : rollouts) write_sample(out, "ota_rollouts", {{"state", state}}, d(n));

  // Per rollout: active ones and those that changed within the last day.
  write_header(out, "ota_rollout_state", "gauge",
               "1 for the state each recent rollout is in, with its product and version.");
  for (const RolloutRecord& r : st.recent)
    write_sample(out, "ota_rollout_state",
                 {{"rollout", std::to_string(r.id)},
                  {"product", r.product},
                  {"version", r.version},
                  {"state", rollout_state_name(r.state)}},
                 1);
  write_header(out, "ota_rollout_current_wave", "gauge", "The wave (from 1) each recent rollout is at.");
  for (const RolloutRecord& r : st.recent)
    write_sample(out, "ota_rollout_current_wave", {{"rollout", std::to_string(r.id)}}, r.current_wave + 1);

  std::map<int64_t, std::map<std::string, uint64_t>> waves;
  for (const auto& w : st.waves) {
    auto& m = waves[w.rollout];
    for (const char* s : {"pending", "running", "done"}) m[s];
    ++m[w.done ? "done" : w.started ? "running" : "pending"];
  }
  write_header(out, "ota_rollout_waves", "gauge", "Waves of each recent rollout by state: pending, running, done.");
  for (const auto& [id, m] : waves)
    for (const auto& [state, n] : m)
      write_sample(out, "ota_rollout_waves", {{"rollout", std::to_string(id)}, {"state", state}}, d(n));

  write_header(out, "ota_rollout_devices", "gauge",
               "Devices of each recent rollout by wave (from 1) and state (waiting, assigned, downloading, applying, "
               "rebooting, confirmed, rolled_back, failed, timed_out, refused).");
  for (const auto& m : st.members)
    write_sample(out, "ota_rollout_devices",
                 {{"rollout", std::to_string(m.rollout)}, {"wave", std::to_string(m.wave + 1)}, {"state", m.state}},
                 d(m.n));
}

}  // namespace

void render_process_metrics(std::string& out) {
  // /proc/self/stat: fields 14 and 15 are utime and stime (clock ticks),
  // 22 the start time (ticks after boot), 23 vsize (bytes), 24 rss (pages).
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return;
  std::istringstream fields(stat.substr(paren + 2));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string x; fields >> x;) f.push_back(x);
  if (f.size() < 22) return;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double cpu = (std::stod(f[11]) + std::stod(f[12])) / tick;
  const double start_ticks = std::stod(f[19]);
  const double vsize = std::stod(f[20]), rss = std::stod(f[21]) * page;
  double boot = 0;
  std::ifstream st("/proc/stat");
  for (std::string line; std::getline(st, line);)
    if (line.rfind("btime ", 0) == 0) boot = std::stod(line.substr(6));
  size_t fds = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    ++fds;

  write_header(out, "process_cpu_seconds_total", "counter", "User and system CPU time of the server process.");
  write_sample(out, "process_cpu_seconds_total", {}, cpu);
  write_header(out, "process_resident_memory_bytes", "gauge", "Resident memory of the server process.");
  write_sample(out, "process_resident_memory_bytes", {}, rss);
  write_header(out, "process_virtual_memory_bytes", "gauge", "Virtual memory of the server process.");
  write_sample(out, "process_virtual_memory_bytes", {}, vsize);
  write_header(out, "process_open_fds", "gauge", "Open file descriptors of the server process.");
  write_sample(out, "process_open_fds", {}, d(fds));
  write_header(out, "process_start_time_seconds", "gauge", "Start time of the server process (Unix seconds).");
  write_sample(out, "process_start_time_seconds", {}, boot + start_ticks / tick);
}

void render_build_metrics(std::string& out, const BuildQueue& builds) {
  const BuildQueue::Stats s = builds.stats();
  write_header(out, "ota_release_builds", "gauge",
               "Release builds this server queued since it started, by state: queued, building, ready, failed.");
  write_sample(out, "ota_release_builds", {{"state", "queued"}}, d(s.queued));
  write_sample(out, "ota_release_builds", {{"state", "building"}}, d(s.building));
  write_sample(out, "ota_release_builds", {{"state", "ready"}}, d(s.ready));
  write_sample(out, "ota_release_builds", {{"state", "failed"}}, d(s.failed));
  write_header(out, "ota_release_builds_total", "counter", "Release builds that succeeded.");
  write_sample(out, "ota_release_builds_total", {}, d(s.builds));
  write_header(out, "ota_release_build_seconds_total", "counter", "Seconds spent on the release builds that succeeded.");
  write_sample(out, "ota_release_build_seconds_total", {}, s.mean_build_seconds * d(s.builds));
}

MetricsService::MetricsService(Store& store, const Metrics& metrics, Clock clock)
    : store_(store), metrics_(metrics), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

std::string MetricsService::scrape() {
  FleetStats st = store_.fleet_stats(clock_() - kRecentRollout);
  std::string out;
  out.reserve(16384);
  render_process_metrics(out);
  metrics_.render(out);
  if (builds_) render_build_metrics(out, *builds_);
  render_fleet(out, st);
  return out;
}

}  // namespace ota::server
