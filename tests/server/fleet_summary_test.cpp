// SPDX-License-Identifier: Apache-2.0
// The console's overview without sockets: counts by product, version and
// latest state (with the devices that never reported), the silent devices
// longest first, the newest failures with their reasons and products.
#include "ota/server/fleet_summary.h"

#include <gtest/gtest.h>

#include <random>

#include "ota/delta/sha256.h"
#include "ota/server/crypto.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/service_error.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kNow = 1'764'000'000;

std::string show(const std::vector<FleetSummary::Count>& v) {
  std::string out;
  for (const auto& c : v) out += c.product + ":" + c.name.value_or("?") + "=" + std::to_string(c.devices) + " ";
  return out;
}

class FleetSummaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("fleet-summary");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    auto clock = [] { return kNow; };
    FirmwareService firmware(*store_, *artifacts_, clock);
    DeviceService devices(*store_, random_bytes(32), clock);
    std::mt19937 rng(9);
    const auto image = test::synthetic_esp32_app("2.0", "LAMP", test::synthetic_image(rng, 20000), 5);
    firmware.upload("lamp", std::string("2.0"), image, "admin");
    for (const char* id : {"l1", "l2", "l3"}) devices.register_device(id, "lamp", std::nullopt, "admin");
    devices.register_device("p1", "", std::nullopt, "admin");
    devices.register_device("p2", "", std::nullopt, "admin");
    devices.set_enabled("p2", false, "admin");
    store_->touch_device("l1", kNow - 60, "2.0", delta::to_hex(sha256(image)));
    store_->touch_device("l2", kNow - 60, "2.0", delta::to_hex(sha256(image)));
    store_->touch_device("l3", kNow - 5 * 86400, "1.0", std::string(64, 'e'));
    store_->touch_device("p1", kNow - 2 * 86400, "x", std::string(64, 'f'));
    store_->add_status({"l1", kNow - 300, "downloading", ""});
    store_->add_status({"l1", kNow - 200, "confirmed", ""});
    store_->add_status({"l2", kNow - 100, "rolled_back", "self-test failed"});
    store_->add_status({"p1", kNow - 90, "refused", "product_mismatch: firmware of product lamp"});
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
};

TEST_F(FleetSummaryTest, CountsByProductVersionAndLatestState) {
  FleetSummary s = summarize_fleet(*store_, kNow, 86400);
  EXPECT_EQ(s.devices, 5u);
  EXPECT_EQ(s.enabled, 4u);
  EXPECT_EQ(show(s.by_product), "default:?=2 lamp:?=3 ");
  // "?": an image the server does not know.
  EXPECT_EQ(show(s.by_version), "default:?=2 lamp:?=1 lamp:2.0=2 ");
  // The latest report only (l1's downloading is history); "none": never reported.
  EXPECT_EQ(show(s.by_state), "default:none=1 default:refused=1 lamp:confirmed=1 lamp:none=1 lamp:rolled_back=1 ");
}

TEST_F(FleetSummaryTest, SilentDevicesLongestFirstNeverSeenFirst) {
  FleetSummary s = summarize_fleet(*store_, kNow, 86400);
  EXPECT_EQ(s.not_seen_total, 3u);
  std::string ids;
  for (const DeviceRecord& d : s.not_seen) ids += d.device_id + " ";
  EXPECT_EQ(ids, "p2 l3 p1 ");
  EXPECT_EQ(summarize_fleet(*store_, kNow, 3 * 86400).not_seen_total, 2u);  // p2, l3
  EXPECT_EQ(summarize_fleet(*store_, kNow, 30).not_seen_total, 5u);
}

TEST_F(FleetSummaryTest, NewestFailuresWithTheirReasonAndProduct) {
  FleetSummary s = summarize_fleet(*store_, kNow, 86400);
  ASSERT_EQ(s.failures.size(), 2u);
  EXPECT_EQ(s.failures[0].event.device_id, "p1");
  EXPECT_EQ(s.failures[0].product, "default");
  EXPECT_EQ(s.failures[0].event.detail, "product_mismatch: firmware of product lamp");
  EXPECT_EQ(s.failures[1].event.device_id, "l2");
  EXPECT_EQ(s.failures[1].product, "lamp");
  EXPECT_EQ(s.failures[1].event.state, "rolled_back");
}

TEST_F(FleetSummaryTest, ABadThresholdIsRefused) {
  for (int64_t bad : {int64_t{0}, int64_t{-5}, int64_t{11} * 366 * 86400}) {
    try {
      summarize_fleet(*store_, kNow, bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.code, "bad_query");
    }
  }
}

}  // namespace
}  // namespace ota::server
