// SPDX-License-Identifier: Apache-2.0
// The device list's pages without sockets: search, every sort key both
// ways, paging with a total, a filter and a search together, and the
// refusals. The console's device table relies on each.
#include "ota/server/device_query.h"

#include <gtest/gtest.h>

#include <random>

#include "ota/delta/sha256.h"
#include "ota/server/crypto.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/group_service.h"
#include "ota/server/service_error.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kNow = 1'764'000'000;

class DeviceQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("device-query");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    auto clock = [this] { return now_; };
    FirmwareService firmware(*store_, *artifacts_, clock);
    DeviceService devices(*store_, random_bytes(32), clock);
    GroupService groups(*store_, clock);
    std::mt19937 rng(5);
    const auto image = test::synthetic_esp32_app("0.14.1", "WLED", test::synthetic_image(rng, 20000), 5);
    firmware.upload("wled-c3", std::string("0.14.1"), image, "admin");
    // Registered in this order, a second apart, so created_at sorts them.
    now_ = kNow - 100;
    for (const char* id : {"c3-b", "plain", "c3-a", "silent"}) {
      devices.register_device(id, std::string(id).rfind("c3", 0) == 0 ? "wled-c3" : "", std::nullopt, "admin");
      ++now_;
    }
    now_ = kNow;
    store_->touch_device("c3-a", kNow - 60, "0.14.1", delta::to_hex(sha256(image)));
    store_->touch_device("c3-b", kNow - 3 * 86400, "mine", std::string(64, 'e'));
    store_->touch_device("plain", kNow - 600, "1.0", std::string(64, 'f'));
    groups.set_tags("plain", {{"site", std::string("Kitchen")}}, "admin");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // The page's device ids, then "/total".
  std::string page(const DeviceQuery& q) {
    FleetView view(*store_);
    DevicePage p = query_devices(view, q, kNow);
    std::string out;
    for (const DeviceRecord& d : p.devices) out += d.device_id + " ";
    return out + "/" + std::to_string(p.total);
  }
  std::string sorted(const std::string& key) {
    DeviceQuery q;
    q.sort = key;
    return page(q);
  }
  std::string error_of(const DeviceQuery& q) {
    try {
      page(q);
    } catch (const ServiceError& e) {
      return std::to_string(e.status) + " " + e.code + ": " + e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
  int64_t now_ = kNow;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
};

TEST_F(DeviceQueryTest, PagesCountEveryMatch) {
  DeviceQuery q;
  EXPECT_EQ(page(q), "c3-a c3-b plain silent /4");
  q.limit = 2;
  EXPECT_EQ(page(q), "c3-a c3-b /4");
  q.offset = 2;
  EXPECT_EQ(page(q), "plain silent /4");
  q.offset = 3;
  EXPECT_EQ(page(q), "silent /4");
  q.offset = 10;  // past the end: an empty page, the total still told
  EXPECT_EQ(page(q), "/4");
}

TEST_F(DeviceQueryTest, SearchesIdsProductsVersionsAndTagsIgnoringCase) {
  DeviceQuery q;
  q.search = "C3-";
  EXPECT_EQ(page(q), "c3-a c3-b /2");
  q.search = "wled";  // the product
  EXPECT_EQ(page(q), "c3-a c3-b /2");
  q.search = "0.14";  // the version the server knows c3-a runs
  EXPECT_EQ(page(q), "c3-a /1");
  q.search = "MINE";  // the version label c3-b reports
  EXPECT_EQ(page(q), "c3-b /1");
  q.search = "kitchen";  // a tag's value
  EXPECT_EQ(page(q), "plain /1");
  q.search = "nothing-like-it";
  EXPECT_EQ(page(q), "/0");
}

TEST_F(DeviceQueryTest, SortsByEveryKeyBothWays) {
  EXPECT_EQ(sorted("-device_id"), "silent plain c3-b c3-a /4");
  EXPECT_EQ(sorted("created_at"), "c3-b plain c3-a silent /4");
  EXPECT_EQ(sorted("-created_at"), "silent c3-a plain c3-b /4");
  // A device never seen comes last either way.
  EXPECT_EQ(sorted("last_seen"), "c3-b plain c3-a silent /4");
  EXPECT_EQ(sorted("-last_seen"), "c3-a plain c3-b silent /4");
  // Ties go by device id: the default product "" sorts first.
  EXPECT_EQ(sorted("product"), "plain silent c3-a c3-b /4");
  EXPECT_EQ(sorted("-product"), "c3-a c3-b plain silent /4");
  // Only c3-a runs an image the server knows; the others come last.
  EXPECT_EQ(sorted("running_version"), "c3-a c3-b plain silent /4");
}

TEST_F(DeviceQueryTest, AFilterAndASearchNarrowTogether) {
  DeviceQuery q;
  q.filter = "product = wled-c3";
  EXPECT_EQ(page(q), "c3-a c3-b /2");
  q.search = "-b";
  EXPECT_EQ(page(q), "c3-b /1");
  q.filter = "last_seen < 1h";
  q.search = "";
  q.sort = "-last_seen";
  EXPECT_EQ(page(q), "c3-a plain /2");
}

TEST_F(DeviceQueryTest, MistakesAreRefusedWithTheReason) {
  DeviceQuery q;
  q.sort = "colour";
  EXPECT_EQ(error_of(q),
            "400 bad_query: sort is device_id, product, created_at, last_seen or running_version (\"-\" in front: "
            "descending), not 'colour'");
  q = DeviceQuery{};
  q.limit = 0;
  EXPECT_EQ(error_of(q), "400 bad_query: limit must be 1..1000");
  q.limit = 1001;
  EXPECT_EQ(error_of(q), "400 bad_query: limit must be 1..1000");
  q = DeviceQuery{};
  q.search = std::string(65, 'x');
  EXPECT_EQ(error_of(q), "400 bad_query: the search text is limited to 64 characters");
  q = DeviceQuery{};
  q.filter = "product ==";
  EXPECT_EQ(error_of(q).substr(0, 19), "400 invalid_filter:");
}

}  // namespace
}  // namespace ota::server
