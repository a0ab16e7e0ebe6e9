// SPDX-License-Identifier: Apache-2.0
// /metrics without sockets: the text format's details (escapes, values,
// cumulative histogram buckets), the process's counters, and the fleet's
// gauges as the database counts them (SQLite, and PostgreSQL in the
// /postgresql copy), each exposition read back by Prometheus' own parser.
#include "ota/server/metrics_service.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>

#include "metrics_parse.h"
#include "ota/server/build_queue.h"
#include "ota/server/crypto.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/rollout_service.h"
#include "ota/server/update_service.h"
#include "test_postgres.h"
#include "test_gate.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kT = 1'764'000'000;

nlohmann::json parsed(const std::string& text) {
  std::string error;
  nlohmann::json j = test::parse_metrics(text, &error);
  EXPECT_FALSE(j.is_null()) << error << "\n" << text;
  return j;
}

TEST(PrometheusText, ValuesAndLabelsAreWrittenAsTheFormatWants) {
  EXPECT_EQ(prom::format_value(3), "3");
  EXPECT_EQ(prom::format_value(0.005), "0.005");
  EXPECT_EQ(prom::format_value(1e20), "1e+20");
  EXPECT_EQ(prom::format_value(-2.5), "-2.5");
  EXPECT_EQ(prom::format_value(1.0 / 0.0), "+Inf");
  EXPECT_EQ(prom::escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  std::string out;
  prom::write_header(out, "x_total", "counter", "line one\nback\\slash");
  prom::write_sample(out, "x_total", {{"version", "esp-idf: v4.4.5 \"ac5d\""}}, 2);
  EXPECT_EQ(out,
            "# HELP x_total line one\\nback\\\\slash\n# TYPE x_total counter\n"
            "x_total{version=\"esp-idf: v4.4.5 \\\"ac5d\\\"\"} 2\n");
  // A label value with every awkward character survives the real parser.
  nlohmann::json j = parsed(out);
  EXPECT_EQ(test::metric_value(j, "x_total", {{"version", "esp-idf: v4.4.5 \"ac5d\""}}), 2);
}

TEST(PrometheusText, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  prom::HistogramFamily h("t_seconds", "a histogram", {"route"}, {0.1, 1, 10});
  for (double x : {0.05, 0.1, 0.5, 5.0, 50.0}) h.observe({"/a"}, x);
  std::string out;
  h.render(out);
  EXPECT_NE(out.find("t_seconds_bucket{route=\"/a\",le=\"0.1\"} 2\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_bucket{route=\"/a\",le=\"10\"} 4\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_bucket{route=\"/a\",le=\"+Inf\"} 5\n"), std::string::npos) << out;
  EXPECT_NE(out.find("t_seconds_count{route=\"/a\"} 5\n"), std::string::npos) << out;
  nlohmann::json j = parsed(out);
  nlohmann::json f = test::metric_family(j, "t_seconds");
  ASSERT_FALSE(f.is_null());
  EXPECT_EQ(f["type"], "histogram");
  EXPECT_EQ(test::metric_value(j, "t_seconds_sum"), 55.65);
}

TEST(Metrics, CountsWhatTheRoutesReport) {
  Metrics m;
  m.http_request("GET", "/api/v1/devices/:device_id", 200, 0.002);
  m.http_request("GET", "/api/v1/devices/:device_id", 404, 0.001);
  m.http_request("GET", "/api/v1/devices/:device_id", 200, 0.003);
  m.check_in("delta");
  m.check_in("deferred");
  m.download("delta", true, 0, 1000);
  m.download("delta", true, 600, 400);  // a resume
  m.patch_build("firmware_aware", true, 2.5);
  m.patch_build("plain", false, 0.1);
  m.status_report("rolled_back");
  EXPECT_EQ(m.http_requests("GET", "/api/v1/devices/:device_id", 200), 2);
  EXPECT_EQ(m.download_bytes("delta", true), 1400);
  EXPECT_EQ(m.downloads("delta", true), 1);
  std::string out;
  m.render(out);
  nlohmann::json j = parsed(out);
  EXPECT_EQ(test::metric_family(j, "ota_http_requests")["type"], "counter");
  EXPECT_EQ(test::metric_value(j, "ota_http_requests_total", {{"status", "404"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_http_request_duration_seconds_count", {{"method", "GET"}}), 3);
  EXPECT_EQ(test::metric_value(j, "ota_check_ins_total", {{"result", "deferred"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_download_resumes_total", {{"kind", "delta"}, {"firmware_aware", "true"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_download_bytes_total", {{"kind", "delta"}}), 1400);
  EXPECT_EQ(test::metric_value(j, "ota_patch_builds_total", {{"form", "plain"}, {"result", "failed"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_patch_build_duration_seconds_count", {{"form", "firmware_aware"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_status_reports_total", {{"state", "rolled_back"}}), 1);
}

TEST(Metrics, ProcessFamiliesComeFromProc) {
  std::string out;
  render_process_metrics(out);
  nlohmann::json j = parsed(out);
  EXPECT_GT(test::metric_value(j, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GT(test::metric_value(j, "process_open_fds").value_or(0), 2);
  EXPECT_GE(test::metric_value(j, "process_cpu_seconds_total").value_or(-1), 0);
  EXPECT_GT(test::metric_value(j, "process_start_time_seconds").value_or(0), 1.7e9);
}

class MetricsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("metrics");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    auto clock = [this] { return now_.load(); };
    rollouts_ = std::make_unique<RolloutService>(*store_, clock);
    updates_ = std::make_unique<UpdateService>(*store_, clock, rollouts_.get());
    firmware_ = std::make_unique<FirmwareService>(*store_, *artifacts_, clock);
    devices_ = std::make_unique<DeviceService>(*store_, key_, clock);
    metrics_service_ = std::make_unique<MetricsService>(*store_, metrics_, clock);
    std::mt19937 rng(3);
    auto code = test::synthetic_image(rng, 20000);
    v1_ = firmware_->upload("lamp", std::string("1.0"), test::synthetic_esp32_app("1.0", "lamp", code), "admin")
              .record.sha256_hex;
    firmware_->upload("lamp", std::string("2.0"),
                      test::synthetic_esp32_app("2.0", "lamp", test::mutate_image(rng, code, 5)), "admin");
  }
  void TearDown() override {
    metrics_service_.reset();
    devices_.reset();
    firmware_.reset();
    updates_.reset();
    rollouts_.reset();
    artifacts_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }
  nlohmann::json scrape() { return parsed(metrics_service_->scrape()); }

  fs::path dir_;
  std::atomic<int64_t> now_{kT};
  Bytes key_ = random_bytes(32);
  std::string v1_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<RolloutService> rollouts_;
  std::unique_ptr<UpdateService> updates_;
  std::unique_ptr<FirmwareService> firmware_;
  std::unique_ptr<DeviceService> devices_;
  Metrics metrics_;
  std::unique_ptr<MetricsService> metrics_service_;
};

TEST_F(MetricsServiceTest, DevicesByStateStatusAndVersionAsTheDatabaseCountsThem) {
  for (int i = 0; i < 6; ++i) devices_->register_device("d" + std::to_string(i), "lamp", std::nullopt, "admin");
  store_->touch_device("d0", kT, "1.0", v1_);
  store_->touch_device("d1", kT, "my own label", std::string(64, 'a'));  // an image the server lacks
  store_->set_device_enabled("d2", false);
  // d3 never checks in
  store_->touch_device("d4", kT, "1.0", v1_);
  store_->touch_device("d5", kT, "1.0", v1_);
  updates_->assign("d4", "2.0", "admin");
  updates_->assign("d5", "2.0", "admin");
  updates_->report_status("d4", "downloading", "2.0", "");
  updates_->report_status("d5", "downloading", "2.0", "");
  updates_->report_status("d5", "rolled_back", "2.0", "self-test failed");

  nlohmann::json j = scrape();
  auto devices = [&](const char* state) {
    return test::metric_value(j, "ota_devices", {{"product", "lamp"}, {"state", state}});
  };
  EXPECT_EQ(devices("idle"), 3);  // d0, d1, and d5 (its rollback ended the assignment)
  EXPECT_EQ(devices("updating"), 1);
  EXPECT_EQ(devices("never_seen"), 1);
  EXPECT_EQ(devices("disabled"), 1);
  EXPECT_EQ(test::metric_value(j, "ota_devices", {{"product", "default"}}), 0);  // shown, with zeros
  EXPECT_EQ(test::metric_value(j, "ota_devices_running", {{"product", "lamp"}, {"version", "1.0"}}), 3);
  EXPECT_EQ(test::metric_value(j, "ota_devices_running", {{"product", "lamp"}, {"version", "unknown"}}), 3);
  EXPECT_EQ(test::metric_value(j, "ota_devices_last_status", {{"product", "lamp"}, {"state", "downloading"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_devices_last_status", {{"product", "lamp"}, {"state", "rolled_back"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_firmware", {{"product", "lamp"}}), 2);
  EXPECT_EQ(test::metric_value(j, "ota_rollouts"), 0);
  for (const char* name : {"ota_devices", "ota_devices_running", "ota_devices_last_status", "ota_firmware",
                           "ota_rollouts", "ota_rollout_state", "ota_rollout_devices", "process_cpu_seconds",
                           "ota_http_requests", "ota_check_ins", "ota_downloads", "ota_download_bytes",
                           "ota_patch_builds", "ota_patch_build_duration_seconds"})
    EXPECT_FALSE(test::metric_family(j, name).is_null()) << name;
}

TEST_F(MetricsServiceTest, RolloutsByStateWithTheirWavesAndDevices) {
  for (int i = 0; i < 10; ++i) devices_->register_device("r" + std::to_string(i), "lamp", std::nullopt, "admin");
  RolloutService::Plan p;
  p.product = "lamp";
  p.version = "2.0";
  p.filter = "product=lamp";
  p.waves = "20%,100%";
  p.seed = 1;
  const int64_t id = rollouts_->create(p, "admin").rollout.id;
  const std::string rid = std::to_string(id);
  nlohmann::json j = scrape();
  EXPECT_EQ(test::metric_value(j, "ota_rollouts", {{"state", "running"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_waves", {{"rollout", rid}, {"state", "running"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_waves", {{"rollout", rid}, {"state", "pending"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "1"}, {"state", "assigned"}}), 2);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "2"}, {"state", "waiting"}}), 8);

  // The first wave confirms: the second starts.
  const RolloutSnapshot snapshot = *store_->rollout(id);
  for (const MemberRecord& m : snapshot.members) {
    if (m.wave != 0) continue;
    ASSERT_TRUE(rollouts_->admit(m.device_id).admitted);
    updates_->report_status(m.device_id, "confirmed", "2.0", "");
  }
  rollouts_->tick();
  j = scrape();
  EXPECT_EQ(test::metric_value(j, "ota_rollout_state",
                               {{"rollout", rid}, {"product", "lamp"}, {"version", "2.0"}, {"state", "running"}}),
            1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_current_wave", {{"rollout", rid}}), 2);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_waves", {{"rollout", rid}, {"state", "done"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "1"}, {"state", "confirmed"}}), 2);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "2"}, {"state", "assigned"}}), 8);

  // Aborted: counted by state, and its own series stay for a day.
  rollouts_->act(id, RolloutAction::kAbort, "admin");
  j = scrape();
  EXPECT_EQ(test::metric_value(j, "ota_rollouts", {{"state", "aborted"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_state", {{"rollout", rid}, {"state", "aborted"}}), 1);
  now_ += MetricsService::kRecentRollout + 1;
  j = scrape();
  EXPECT_EQ(test::metric_value(j, "ota_rollouts", {{"state", "aborted"}}), 1);
  EXPECT_FALSE(test::metric_value(j, "ota_rollout_state", {{"rollout", rid}}).has_value());
  EXPECT_FALSE(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}}).has_value());
}


// The release builds of the process: one ready, one failed (every attempt
// thrown), one building (held at a gate) and one queued behind it on the
// queue's single thread; then the counters of successful builds.
TEST_F(MetricsServiceTest, ReleaseBuildsByStateFromTheBuildQueue) {
  BuildQueue::Options o;
  o.threads = 1;
  o.nice = 0;
  o.max_attempts = 2;
  o.retry_delay_s = 0;
  BuildQueue builds(o);
  metrics_service_->set_build_queue(&builds);
  builds.request("ok", "ok", "d1", [] {});
  builds.request("bad", "bad", "d1", [] { throw std::runtime_error("no space"); });
  builds.wait_idle();
  test::Gate gate;
  builds.request("held", "held", "d1", [&] { gate.wait(); });
  ASSERT_TRUE(gate.until_waiting());
  builds.request("next", "next", "d1", [] {});
  nlohmann::json j = scrape();
  auto builds_in = [&](const char* state) {
    return test::metric_value(j, "ota_release_builds", {{"state", state}}).value_or(-1);
  };
  EXPECT_EQ(builds_in("ready"), 1);
  EXPECT_EQ(builds_in("failed"), 1);
  EXPECT_EQ(builds_in("building"), 1);
  EXPECT_EQ(builds_in("queued"), 1);
  EXPECT_EQ(test::metric_value(j, "ota_release_builds_total").value_or(-1), 1);
  gate.open();
  builds.wait_idle();
  j = scrape();
  EXPECT_EQ(builds_in("ready"), 3);
  EXPECT_EQ(builds_in("building"), 0);
  EXPECT_EQ(test::metric_value(j, "ota_release_builds_total").value_or(-1), 3);
  EXPECT_GE(test::metric_value(j, "ota_release_build_seconds_total").value_or(-1), 0);
  metrics_service_->set_build_queue(nullptr);
}

}  // namespace
}  // namespace ota::server
