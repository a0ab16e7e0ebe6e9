// SPDX-License-Identifier: Apache-2.0
//
// Rollouts end to end: a real ota-server over TLS whose rollout timer runs
// every 100 ms, otactl to drive the rollout, and fleets of simulated
// devices (ota-sim --fleet, the device agent) with the suite's firmware
// (the corpus pair when present, synthetic otherwise). 200 devices in waves
// of 10%/50%/100%: with no failing self-test the rollout completes, no wave
// starting before the one ahead of it is done; with 20% failing it halts in
// the first wave at a 5% error threshold and no device outside that wave
// downloads anything. Pause, resume, approval and abort with 40 devices.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <thread>

#include "e2e_support.h"
#include "metrics_parse.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::e2e {
namespace {

constexpr const char* kToken = "rollouts-e2e-admin-token-0123456789";
constexpr const char* kPrefix = "unit";

std::string device_name(int i) {
  char id[32];
  std::snprintf(id, sizeof id, "%s-%05d", kPrefix, i);
  return id;
}

class e2e_rollouts : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("e2e-rollouts");
    cert_ = dir_ / "server.pem";
    fs::path key = dir_ / "server.key";
    std::string err;
    ASSERT_TRUE(make_tls_cert(cert_, key, &err)) << err;
    ASSERT_TRUE(server_.start(dir_ / "data", dir_ / "server.log", kToken, cert_, key, &err,
                              {"--rollout-tick", "100", "--rollout-scan", "1"}))
        << err;
    ASSERT_TRUE(server_.wait_ready(cert_.string(), 20000, &err)) << err;
    admin_ = Admin(server_.url(), cert_.string(), kToken);
    ASSERT_TRUE(load_firmware(dir_, &fw_, &err)) << err;
    std::printf("firmware: %s\n", fw_.source.c_str());
    for (const Firmware* f : {&fw_.base, &fw_.next})
      ASSERT_FALSE(admin_.upload_firmware(fw_.product, f == &fw_.base ? "1.0.0" : "1.0.1", f->bytes, &err).is_null())
          << err;
  }
  void TearDown() override {
    server_.stop();
    fs::remove_all(dir_);
  }

  Command otactl(const std::string& args) {
    return run_command(shell_quoted(test::bin_dir() / "otactl") + " --server " + server_.url() + " --token " + kToken +
                       " --cacert " + shell_quoted(cert_) + " " + args + " 2>&1");
  }
  // One power-on of the first n devices (registered by the first call), all
  // starting on 1.0.0; the fleet's JSON summary.
  nlohmann::json fleet(int n, const std::string& extra = "") {
    std::string cmd = shell_quoted(test::bin_dir() / "ota-sim") + " --fleet " + std::to_string(n) + " --bundle " +
                      shell_quoted(dir_ / "bundles") + " --state " + shell_quoted(dir_ / "devices") + " --image " + shell_quoted(fw_.base.path) +
                      " --version 1.0.0 --once --quiet --threads 8 --server " + server_.url() + " " + extra;
    if (!provisioned_)
      cmd += std::string(" --provision ") + kPrefix + " --product " + fw_.product + " --admin-token " + kToken +
             " --ca " + shell_quoted(cert_);
    provisioned_ = true;
    Command c = run_command(cmd + " 2>&1");
    nlohmann::json s = last_json(c.out);
    EXPECT_TRUE(s.is_object()) << c.out;
    return s.is_object() ? s : nlohmann::json::object();
  }
  // otactl rollout create ... --json; the rollout's id.
  int64_t create(const std::string& flags) {
    Command c = otactl("--json rollout create --product " + fw_.product + " --version 1.0.1 " + flags);
    EXPECT_EQ(c.exit_code, 0) << c.out;
    nlohmann::json j = nlohmann::json::parse(c.out, nullptr, false);
    return j.is_object() ? j.value("id", int64_t{0}) : 0;
  }
  nlohmann::json get(const std::string& path) {
    HttpResult r = admin_.http().get(path);
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    EXPECT_TRUE(r.status == 200 && j.is_object()) << path << ": " << r.status << " " << r.error << " " << r.body;
    return j.is_object() ? j : nlohmann::json::object();
  }
  nlohmann::json rollout(int64_t id, bool devices = false) {
    return get("/api/v1/rollouts/" + std::to_string(id) + (devices ? "?devices=1" : ""));
  }
  // Waits (up to 20 s) until the rollout satisfies `done`; the last view.
  nlohmann::json wait_for(int64_t id, const std::function<bool(const nlohmann::json&)>& done) {
    nlohmann::json v;
    for (int i = 0; i < 400; ++i) {
      v = rollout(id);
      if (v.is_object() && done(v)) return v;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "rollout " << id << " never got there: " << v.dump();
    return v;
  }
  std::map<std::string, nlohmann::json> members(int64_t id) {
    std::map<std::string, nlohmann::json> out;
    const nlohmann::json view = rollout(id, true);  // (not a temporary's member in the loop)
    for (const auto& d : view["devices"]) out[d["device_id"].get<std::string>()] = d;
    return out;
  }
  // The states a device reported, oldest first, with their times.
  // GET /metrics, parsed by prometheus_client.
  nlohmann::json scrape() {
    HttpResult r = admin_.http().get("/metrics");
    EXPECT_EQ(r.status, 200) << r.body;
    std::string error;
    nlohmann::json j = test::parse_metrics(r.body, &error);
    EXPECT_FALSE(j.is_null()) << error;
    return j;
  }
  std::vector<std::pair<std::string, int64_t>> history(const std::string& id) {
    std::vector<std::pair<std::string, int64_t>> out;
    const nlohmann::json h = admin_.history(id);
    for (const auto& e : h["history"]) out.push_back({e["state"], e["at"]});
    return out;
  }
  static uint64_t outcome(const nlohmann::json& summary, const char* name) {
    return summary.contains("outcomes") ? summary["outcomes"].value(name, uint64_t{0}) : 0;
  }

  fs::path dir_, cert_;
  ServerProcess server_;
  Admin admin_;
  FirmwareSet fw_;
  bool provisioned_ = false;
};

TEST_F(e2e_rollouts, TwoHundredDevicesInThreeWavesComplete) {
  nlohmann::json first = fleet(200);
  ASSERT_EQ(outcome(first, "up_to_date"), 200u) << first.dump();
  const int64_t id = create("--filter 'product=" + fw_.product +
                            "' --waves 10%,50%,100% --success 95% --max-failures 5% --confirm-within 10m --seed 5");
  ASSERT_GT(id, 0);
  nlohmann::json v = rollout(id);
  ASSERT_EQ(v["wave_list"].size(), 3u);
  EXPECT_EQ(v["wave_list"][0]["planned"], 20);
  EXPECT_EQ(v["wave_list"][1]["planned"], 80);
  EXPECT_EQ(v["wave_list"][2]["planned"], 100);

  // Power the fleet on until the rollout completes. A wave may start while
  // a cycle is under way: the promotion is the server's, at its timer.
  uint64_t updated = 0;
  for (int cycle = 0; cycle < 8 && updated < 200; ++cycle) {
    nlohmann::json s = fleet(200);
    updated += outcome(s, "updated");
    EXPECT_EQ(outcome(s, "updated") + outcome(s, "up_to_date"), 200u) << s.dump();
    // The timer promotes a wave that reached 95% within a tick or two.
    wait_for(id, [](const nlohmann::json& r) {
      for (const auto& w : r["wave_list"])
        if (w["started"] == true && w["done"] == false)
          return w["states"].value("confirmed", 0) * 100 < 95 * w["size"].get<int>();
      return true;
    });
  }
  EXPECT_EQ(updated, 200u);
  v = wait_for(id, [](const nlohmann::json& r) { return r["state"] == "completed"; });
  for (const auto& w : v["wave_list"]) {
    EXPECT_EQ(w["done"], true) << w.dump();
    EXPECT_EQ(w["states"].value("confirmed", 0), w["size"]) << w.dump();
  }
  // No device of a wave started before the wave ahead of it was done.
  std::map<std::string, nlohmann::json> m = members(id);
  ASSERT_EQ(m.size(), 200u);
  for (const auto& [device, member] : m) {
    const int wave = member["wave"];
    int64_t started = -1;
    for (const auto& [state, at] : history(device))
      if (state == "downloading" && started < 0) started = at;
    ASSERT_GE(started, 0) << device;
    if (wave > 1) {
      EXPECT_GE(started, v["wave_list"][wave - 2]["done_at"].get<int64_t>()) << device;
    }
    EXPECT_EQ(member["state"], "confirmed") << device;
  }
  const nlohmann::json fleet_view = get("/api/v1/devices?filter=product=" + fw_.product);
  EXPECT_EQ(fleet_view["devices"].size(), 200u);
  for (const auto& d : fleet_view["devices"])
    EXPECT_EQ(d["running_version"], "1.0.1") << d.dump();
  Command shown = otactl("rollout show " + std::to_string(id));
  EXPECT_EQ(shown.exit_code, 0) << shown.out;
  EXPECT_NE(shown.out.find("rollout " + std::to_string(id) + ": completed"), std::string::npos) << shown.out;
  std::printf("%s", shown.out.c_str());
  EXPECT_EQ(otactl("rollout show " + std::to_string(id) + " --watch").exit_code, 0);
  // Its devices are free again.
  EXPECT_EQ(admin_.device(device_name(1))["rollout"], nullptr);

  // /metrics tells the same story, as Prometheus' own parser reads it.
  nlohmann::json j = scrape();
  const std::string rid = std::to_string(id);
  EXPECT_GE(test::metric_value(j, "ota_check_ins_total", {{"result", "delta"}}).value_or(0), 200);
  EXPECT_GE(test::metric_value(j, "ota_downloads_total", {{"kind", "delta"}}).value_or(0), 200);
  EXPECT_GT(test::metric_value(j, "ota_download_bytes_total", {{"kind", "delta"}}).value_or(0), 0);
  EXPECT_GE(test::metric_value(j, "ota_patch_build_duration_seconds_count").value_or(0), 1);
  EXPECT_EQ(test::metric_value(j, "ota_status_reports_total", {{"state", "confirmed"}}), 200);
  EXPECT_EQ(test::metric_value(j, "ota_rollouts", {{"state", "completed"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_state", {{"rollout", rid}, {"state", "completed"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_waves", {{"rollout", rid}, {"state", "done"}}), 3);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"state", "confirmed"}}), 200);
  EXPECT_EQ(test::metric_value(j, "ota_devices_running", {{"product", fw_.product}, {"version", "1.0.1"}}), 200);
  EXPECT_GE(test::metric_value(j, "ota_http_requests_total",
                               {{"route", "/api/v1/devices/:device_id/releases/:release"}})
                .value_or(0),
            200);
  std::printf("metric families:");
  for (const auto& f : j) std::printf(" %s(%s)", f["name"].get<std::string>().c_str(), f["type"].get<std::string>().c_str());
  std::printf("\n");
}

TEST_F(e2e_rollouts, TwentyPercentFailingHaltsInTheFirstWave) {
  const std::string failing = "--fail-self-test-fraction 0.2 --seed 3";
  nlohmann::json first = fleet(200, failing);
  ASSERT_EQ(outcome(first, "up_to_date"), 200u) << first.dump();
  ASSERT_EQ(first["failing_self_test"].size(), 40u);
  const std::set<std::string> bad(first["failing_self_test"].begin(), first["failing_self_test"].end());
  const int64_t id = create("--filter 'product=" + fw_.product +
                            "' --waves 10%,50%,100% --success 95% --max-failures 5% --seed 11");
  ASSERT_GT(id, 0);
  std::map<std::string, nlohmann::json> m = members(id);
  std::set<std::string> wave1;
  for (const auto& [device, member] : m)
    if (member["wave"] == 1) wave1.insert(device);
  ASSERT_EQ(wave1.size(), 20u);
  size_t bad_in_wave1 = 0;
  for (const std::string& d : wave1) bad_in_wave1 += bad.count(d);
  ASSERT_GE(bad_in_wave1, 2u) << "the seeds put too few failing devices in wave 1 for this test";

  nlohmann::json s = fleet(200, failing);
  EXPECT_GE(outcome(s, "rolled_back"), 2u) << s.dump();
  EXPECT_LE(outcome(s, "rolled_back") + outcome(s, "updated"), 20u) << s.dump();
  nlohmann::json v = wait_for(id, [](const nlohmann::json& r) { return r["state"] == "halted"; });
  EXPECT_EQ(v["current_wave"], 1);
  EXPECT_EQ(v["wave_list"][0]["done"], false);
  EXPECT_EQ(v["reason"].get<std::string>().rfind("wave 1: ", 0), 0u) << v.dump();
  EXPECT_NE(v["reason"].get<std::string>().find("above the 5% error threshold"), std::string::npos) << v.dump();
  ASSERT_GE(v["halted_by"].size(), 2u);
  for (const auto& d : v["halted_by"]) {
    EXPECT_TRUE(wave1.count(d)) << d;
    EXPECT_TRUE(bad.count(d)) << d << " halted it but its self-test passes";
  }
  // Nobody outside wave 1 downloaded anything; they all still run 1.0.0.
  m = members(id);
  for (const auto& [device, member] : m) {
    if (wave1.count(device)) continue;
    EXPECT_EQ(member["state"], "waiting") << device;
    EXPECT_EQ(member["attempts"], 0) << device;
    for (const auto& [state, at] : history(device)) EXPECT_NE(state, "downloading") << device;
    EXPECT_EQ(admin_.device(device)["running_version"], "1.0.0") << device;
  }
  // A device that rolled back is shown so, never as a success.
  for (const auto& [device, member] : m) {
    if (bad.count(device) && member["state"] != "waiting" && member["state"] != "assigned") {
      EXPECT_EQ(member["state"], "rolled_back") << device;
    }
  }
  // Halted means halted: the next power-on downloads nothing.
  nlohmann::json after = fleet(200, failing);
  EXPECT_EQ(after["bytes_downloaded"], 0) << after.dump();
  EXPECT_EQ(outcome(after, "up_to_date"), 200u) << after.dump();
  Command shown = otactl("rollout show " + std::to_string(id));
  EXPECT_NE(shown.out.find(": halted"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("halted by"), std::string::npos) << shown.out;
  std::printf("%s", shown.out.c_str());
  EXPECT_EQ(otactl("rollout show " + std::to_string(id) + " --watch").exit_code, 1) << "a halt is not a success";
  // In /metrics: halted, its rollbacks, and nobody of waves 2 and 3 started.
  nlohmann::json j = scrape();
  const std::string rid = std::to_string(id);
  EXPECT_EQ(test::metric_value(j, "ota_rollouts", {{"state", "halted"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_state", {{"rollout", rid}, {"state", "halted"}}), 1);
  EXPECT_EQ(test::metric_value(j, "ota_status_reports_total", {{"state", "rolled_back"}}),
            static_cast<double>(outcome(s, "rolled_back")));
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "2"}, {"state", "waiting"}}), 80);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_devices", {{"rollout", rid}, {"wave", "3"}, {"state", "waiting"}}), 100);
  EXPECT_EQ(test::metric_value(j, "ota_rollout_waves", {{"rollout", rid}, {"state", "pending"}}), 2);
}

TEST_F(e2e_rollouts, PauseResumeApproveAndAbort) {
  nlohmann::json first = fleet(40);
  ASSERT_EQ(outcome(first, "up_to_date"), 40u) << first.dump();
  const int64_t id = create("--filter 'product=" + fw_.product + "' --waves 25%,100% --success 100% --approve");
  ASSERT_GT(id, 0);
  const std::string rid = std::to_string(id);
  // Two rollouts never target one device; nor does a device's own assignment.
  Command second = otactl("rollout create --product " + fw_.product + " --version 1.0.1 --group nobody-yet");
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.out.find("404 group_not_found"), std::string::npos) << second.out;
  second = otactl("rollout create --product " + fw_.product + " --version 1.0.1 --filter 'product=" + fw_.product +
                  "'");
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.out.find("409 device_in_rollout: 40 device(s) of the target are in another active rollout"),
            std::string::npos)
      << second.out;
  Command own = otactl("update assign " + device_name(3) + " 1.0.1");
  EXPECT_EQ(own.exit_code, 1);
  EXPECT_NE(own.out.find("409 device_in_rollout"), std::string::npos) << own.out;

  // Paused before anyone came: nobody downloads.
  Command paused = otactl("rollout pause " + rid);
  EXPECT_EQ(paused.exit_code, 0) << paused.out;
  EXPECT_NE(paused.out.find("rollout " + rid + ": paused"), std::string::npos) << paused.out;
  nlohmann::json s = fleet(40);
  EXPECT_EQ(s["bytes_downloaded"], 0) << s.dump();
  // Resumed: wave 1 (10 devices) updates, then waits for an approval.
  EXPECT_EQ(otactl("rollout resume " + rid).exit_code, 0);
  s = fleet(40);
  EXPECT_EQ(outcome(s, "updated"), 10u) << s.dump();
  wait_for(id, [](const nlohmann::json& r) { return r["state"] == "waiting_approval"; });
  Command waiting = otactl("rollout show " + rid);
  EXPECT_NE(waiting.out.find("awaiting approval"), std::string::npos) << waiting.out;
  s = fleet(40);
  EXPECT_EQ(s["bytes_downloaded"], 0) << "wave 2 waits for the approval: " << s.dump();
  // Approved, then aborted before wave 2 came: nobody else updates, and
  // the 10 keep their image.
  EXPECT_EQ(otactl("rollout approve " + rid).exit_code, 0);
  EXPECT_EQ(rollout(id)["state"], "running");
  Command aborted = otactl("rollout abort " + rid);
  EXPECT_EQ(aborted.exit_code, 0) << aborted.out;
  EXPECT_NE(aborted.out.find("rollout " + rid + ": aborted"), std::string::npos) << aborted.out;
  s = fleet(40);
  EXPECT_EQ(s["bytes_downloaded"], 0) << s.dump();
  size_t on_new = 0;
  const nlohmann::json all = get("/api/v1/devices");
  for (const auto& d : all["devices"])
    on_new += d["running_version"] == "1.0.1";
  EXPECT_EQ(on_new, 10u);
  Command again = otactl("rollout resume " + rid);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.out.find("409 invalid_transition"), std::string::npos) << again.out;
  // Aborted, its devices are free: an assignment of their own goes through.
  std::string free_device;
  for (const auto& [device, member] : members(id))
    if (member["wave"] == 2) free_device = device;
  Command assign = otactl("update assign " + free_device + " 1.0.1");
  EXPECT_EQ(assign.exit_code, 0) << assign.out;
  // The audit log has every admin action and transition.
  std::string audit = admin_.http().get("/api/v1/audit?limit=200").body;
  for (const char* action : {"rollout.create", "rollout.pause", "rollout.resume", "rollout.approve", "rollout.abort"})
    EXPECT_NE(audit.find(action), std::string::npos) << action;
  EXPECT_NE(audit.find("wave 1 done"), std::string::npos) << audit.substr(0, 3000);
}

}  // namespace
}  // namespace ota::e2e
