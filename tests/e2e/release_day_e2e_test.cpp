// SPDX-License-Identifier: Apache-2.0
//
// Release day end to end (issue 21), small: a real ota-server over TLS,
// devices as ota-sim processes spread over four base versions, all assigned
// the newest at once while one device with nothing to do keeps checking in.
// The server queues one firmware-aware build per base in use (before the
// devices ask), every device updates, each build runs once, and the idle
// device is answered every time. The latencies are printed, not judged:
// bench/release-day.sh measures them on the corpus.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <random>
#include <thread>

#include "e2e_support.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::e2e {
namespace {

constexpr const char* kToken = "release-day-e2e-admin-token-0123456789";
constexpr int kBases = 4;
constexpr int kPerBase = 3;

class e2e_release_day : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("e2e-release-day");
    cert_ = dir_ / "server.pem";
    fs::path key = dir_ / "server.key";
    std::string err;
    ASSERT_TRUE(make_tls_cert(cert_, key, &err)) << err;
    ASSERT_TRUE(server_.start(dir_ / "data", dir_ / "server.log", kToken, cert_, key, &err,
                              {"--threads", "2", "--build-threads", "1"}))
        << err;
    ASSERT_TRUE(server_.wait_ready(cert_.string(), 20000, &err)) << err;
    admin_ = HttpClient(server_.url(), cert_.string(), kToken);
  }
  void TearDown() override {
    server_.stop();
    fs::remove_all(dir_);
  }

  Command otactl(const std::string& args) {
    return run_command(shell_quoted(test::bin_dir() / "otactl") + " --server " + server_.url() + " --token " + kToken +
                       " --cacert " + shell_quoted(cert_) + " " + args + " 2>&1");
  }
  Command sim(const std::string& id, const fs::path& image) {
    return run_command(shell_quoted(test::bin_dir() / "ota-sim") + " --bundle " + shell_quoted(dir_ / "bundles" / id) + " --state " +
                       shell_quoted(dir_ / "devices" / id) + " --image " + shell_quoted(image) + " --once --quiet --ram 49152 2>&1");
  }

  fs::path dir_, cert_;
  ServerProcess server_;
  HttpClient admin_;
};

TEST_F(e2e_release_day, EveryBaseIsBuiltOnceAndEveryDeviceUpdatesWhileTheIdleOneIsAnswered) {
  // Five versions of one product: four bases and the release.
  std::mt19937 rng(21);
  Bytes code = test::synthetic_image(rng, 300000);
  std::vector<fs::path> images;
  std::vector<std::string> shas;
  for (int v = 0; v <= kBases; ++v) {
    Bytes app = test::synthetic_esp32_app("1.0." + std::to_string(v), "fleet", code);
    images.push_back(dir_ / ("v" + std::to_string(v) + ".bin"));
    test::write_file(images.back(), app);
    shas.push_back(sha256_hex(app));
    Command up = otactl("firmware upload 1.0." + std::to_string(v) + " " + shell_quoted(images.back()) + " --product fleet");
    ASSERT_EQ(up.exit_code, 0) << up.out;
    code = test::mutate_image(rng, code, 15);
  }
  // The fleet, each device powered on once on its base (nothing to do yet),
  // and the idle device on the release.
  std::vector<std::pair<std::string, int>> fleet;
  for (int b = 0; b < kBases; ++b)
    for (int i = 0; i < kPerBase; ++i) fleet.emplace_back("d" + std::to_string(b) + "-" + std::to_string(i), b);
  fleet.emplace_back("idle", kBases);
  for (const auto& [id, base] : fleet) {
    Command add = otactl("device add " + id + " --out " + shell_quoted(dir_ / "bundles" / id) + " --ca " + shell_quoted(cert_) +
                         " --product fleet");
    ASSERT_EQ(add.exit_code, 0) << add.out;
    Command first = sim(id, images[base]);
    ASSERT_EQ(last_json(first.out).value("outcome", ""), "up_to_date") << first.out;
  }
  fleet.pop_back();

  // The idle device checks in every 50 ms as its agent would.
  Bytes token_bytes = test::read_file(dir_ / "bundles" / "idle" / "device.token");
  std::string idle_token(token_bytes.begin(), token_bytes.end());
  while (!idle_token.empty() && (idle_token.back() == '\n' || idle_token.back() == '\r')) idle_token.pop_back();
  HttpClient idle = admin_.with_bearer(idle_token);
  const std::string idle_body = nlohmann::json{{"version", "1.0." + std::to_string(kBases)},
                                               {"image_sha256", shas[kBases]},
                                               {"nonce", std::string(32, '0')},
                                               {"ram_budget", 49152}}
                                    .dump();
  std::atomic<bool> stop{false};
  std::vector<double> latencies_ms;
  std::vector<long> statuses;
  std::thread poller([&] {
    while (!stop.load()) {
      auto t = std::chrono::steady_clock::now();
      HttpResult r = idle.post("/api/v1/devices/idle/check-in", idle_body, "application/json");
      latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count());
      statuses.push_back(r.status);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });

  // Release: the whole product at once.
  HttpResult assign = admin_.post("/api/v1/updates", R"({"product":"fleet","version":"1.0.4"})", "application/json");
  ASSERT_EQ(assign.status, 201) << assign.body;
  std::vector<std::future<Command>> runs;
  for (const auto& [id, base] : fleet)
    runs.push_back(std::async(std::launch::async, [&, id = id, base = base] { return sim(id, images[base]); }));
  std::map<std::string, int> outcomes;
  uint64_t waits = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    Command c = runs[i].get();
    nlohmann::json s = last_json(c.out);
    outcomes[s.value("outcome", "?")]++;
    waits += s.value("waits", uint64_t{0});
    EXPECT_EQ(s.value("outcome", ""), "updated") << fleet[i].first << ": " << c.out;
    EXPECT_EQ(s.value("image_sha256", ""), shas[kBases]) << fleet[i].first;
  }
  stop = true;
  poller.join();

  // The idle device: answered every time, nothing to do.
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), 200L), static_cast<long>(statuses.size()));
  std::vector<double> sorted = latencies_ms;
  std::sort(sorted.begin(), sorted.end());
  std::printf("[ e2e      ] release day: %zu devices on %d bases updated (%llu check-ins repeated after retry_after); "
              "idle check-ins %zu, p50 %.1f ms, max %.1f ms\n",
              fleet.size(), kBases, static_cast<unsigned long long>(waits), sorted.size(),
              sorted[sorted.size() / 2], sorted.back());

  // One firmware-aware build per base, each built once, none failed.
  HttpResult listed = admin_.get("/api/v1/patches?product=fleet");
  ASSERT_EQ(listed.status, 200) << listed.body;
  nlohmann::json builds = nlohmann::json::parse(listed.body)["builds"];
  int firmware_aware_ready = 0;
  for (const auto& b : builds) {
    EXPECT_NE(b["state"], "failed") << b.dump();
    if (b["label"].get<std::string>().find("firmware-aware") != std::string::npos) {
      EXPECT_EQ(b["state"], "ready") << b.dump();
      EXPECT_EQ(b["attempts"], 1) << b.dump();
      ++firmware_aware_ready;
    }
  }
  EXPECT_EQ(firmware_aware_ready, kBases) << builds.dump();
  Command table = otactl("patch list --product fleet");
  EXPECT_EQ(table.exit_code, 0) << table.out;
  EXPECT_NE(table.out.find("firmware-aware"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("ready"), std::string::npos) << table.out;
}

}  // namespace
}  // namespace ota::e2e
