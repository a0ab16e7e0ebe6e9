// SPDX-License-Identifier: Apache-2.0
// Groups and tags without sockets: static and dynamic groups, filters over
// every attribute, tags from an admin and from devices, and the refusals.
#include "ota/server/group_service.h"

#include <gtest/gtest.h>

#include "ota/server/device_service.h"
#include "ota/server/fleet_view.h"
#include "ota/server/firmware_service.h"
#include "ota/delta/sha256.h"
#include "ota/server/crypto.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kNow = 1'764'000'000;

class GroupServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("groups");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    auto clock = [this] { return now_; };
    firmware_ = std::make_unique<FirmwareService>(*store_, *artifacts_, clock);
    devices_ = std::make_unique<DeviceService>(*store_, random_bytes(32), clock);
    groups_ = std::make_unique<GroupService>(*store_, clock);
    std::mt19937 rng(3);
    c3_ = test::synthetic_esp32_app("0.14.1", "WLED", test::synthetic_image(rng, 30000), 5);
    firmware_->upload("wled-c3", std::string("0.14.1"), c3_, "admin");
    // Four devices: two C3s in wled-c3 (one runs 0.14.1, one an unknown
    // image), an ESP32 in the default product, one never seen.
    devices_->register_device("c3-a", "wled-c3", std::string("esp32c3"), "admin");
    devices_->register_device("c3-b", "wled-c3", std::nullopt, "admin");
    devices_->register_device("plain", "", std::string("ESP32"), "admin");
    devices_->register_device("silent", "", std::nullopt, "admin");
    store_->touch_device("c3-a", kNow - 60, "0.14.1", delta::to_hex(sha256(c3_)));
    store_->touch_device("c3-b", kNow - 3 * 86400, "mine", std::string(64, 'e'));
    store_->touch_device("plain", kNow - 600, "1.0", std::string(64, 'f'));
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string matching(const std::string& filter) {
    std::string out;
    for (const DeviceRecord& d : groups_->devices_matching(filter)) out += d.device_id + " ";
    return out;
  }
  std::string error_of(const std::function<void()>& f) {
    try {
      f();
    } catch (const ServiceError& e) {
      return std::to_string(e.status) + " " + e.code + ": " + e.what();
    }
    return "(no error)";
  }

  fs::path dir_;
  int64_t now_ = kNow;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<FirmwareService> firmware_;
  std::unique_ptr<DeviceService> devices_;
  std::unique_ptr<GroupService> groups_;
  std::vector<uint8_t> c3_;
};

TEST_F(GroupServiceTest, FiltersSeeProductChipVersionTagsAndLastSeen) {
  EXPECT_EQ(matching("product=wled-c3"), "c3-a c3-b ");
  EXPECT_EQ(matching("chip=ESP32-C3"), "c3-a ") << "c3-b's chip is not known yet";
  EXPECT_EQ(matching("chip=unknown"), "c3-b silent ");
  EXPECT_EQ(matching("version=0.14.1"), "c3-a ");
  EXPECT_EQ(matching("image_known=false and product=wled-c3"), "c3-b ");
  EXPECT_EQ(matching("last_seen<1h"), "c3-a plain ");
  EXPECT_EQ(matching("last_seen>1d"), "c3-b silent ");
  EXPECT_EQ(matching("reported_version=mine"), "c3-b ");
  groups_->report_tags("c3-b", {{"hw", "B"}});
  groups_->set_tags("plain", {{"hw", std::string("B")}, {"region", std::string("eu")}}, "admin");
  EXPECT_EQ(matching("tag.hw=B"), "c3-b plain ");
  EXPECT_EQ(matching("tag.hw=B and not product=wled-c3"), "plain ");
  EXPECT_EQ(error_of([&] { matching("colour=red"); }).substr(0, 19), "400 invalid_filter:");
}

TEST_F(GroupServiceTest, AnAdminsTagWinsOverTheDevicesOwn) {
  groups_->report_tags("c3-a", {{"hw", "B"}, {"batch", "7"}});
  groups_->set_tags("c3-a", {{"hw", std::string("C")}}, "admin");
  FleetView view(*store_, "c3-a");
  EXPECT_EQ(view.tags("c3-a"), (std::map<std::string, std::string>{{"batch", "7"}, {"hw", "C"}}));
  // The device reporting again replaces its own set; the admin's stays.
  groups_->report_tags("c3-a", {{"hw", "D"}});
  EXPECT_EQ(FleetView(*store_, "c3-a").tags("c3-a"), (std::map<std::string, std::string>{{"hw", "C"}}));
  groups_->set_tags("c3-a", {{"hw", std::nullopt}}, "admin");
  EXPECT_EQ(FleetView(*store_, "c3-a").tags("c3-a"), (std::map<std::string, std::string>{{"hw", "D"}}));
  EXPECT_EQ(store_->audit_log(1)[0].detail, "device=c3-a hw removed");
}

TEST_F(GroupServiceTest, BadTagsAreRefused) {
  EXPECT_EQ(error_of([&] { groups_->set_tags("plain", {{"Hw", std::string("B")}}, "admin"); }),
            "400 invalid_tag: tag key 'Hw': 1-32 of [a-z0-9_.-], starting with a letter");
  EXPECT_EQ(error_of([&] { groups_->set_tags("plain", {{"hw", std::string("")}}, "admin"); }),
            "400 invalid_tag: tag hw: the value must be 1-64 printable ASCII characters");
  EXPECT_EQ(error_of([&] { groups_->set_tags("plain", {{"hw", std::string("a\nb")}}, "admin"); }).substr(0, 16),
            "400 invalid_tag:");
  EXPECT_EQ(error_of([&] { groups_->set_tags("ghost", {{"hw", std::string("B")}}, "admin"); }),
            "404 device_not_found: no device ghost");
  std::map<std::string, std::string> many;
  for (int i = 0; i < 17; ++i) many["k" + std::to_string(i)] = "v";
  EXPECT_EQ(error_of([&] { groups_->report_tags("plain", many); }),
            "400 invalid_tag: a device reports at most 16 tags");
  EXPECT_TRUE(store_->device_tags("plain").empty()) << "nothing of a refused call was written";
}

TEST_F(GroupServiceTest, StaticGroupsListTheirMembersDynamicOnesWhoMatchesNow) {
  groups_->create("beta", std::nullopt, "admin");
  groups_->add_members("beta", {"plain", "c3-b"}, "admin");
  groups_->create("fresh-c3", std::string("product=wled-c3 and last_seen<1d"), "admin");
  groups_->create("beta-or-silent", std::string("group=beta or last_seen>30d"), "admin");
  EXPECT_EQ(groups_->get("beta").members, (std::vector<std::string>{"c3-b", "plain"}));
  EXPECT_EQ(groups_->get("fresh-c3").members, (std::vector<std::string>{"c3-a"}));
  EXPECT_EQ(groups_->get("beta-or-silent").members, (std::vector<std::string>{"c3-b", "plain", "silent"}));
  // Membership follows the device: c3-b checks in now and joins fresh-c3.
  store_->touch_device("c3-b", kNow, "mine", std::string(64, 'e'));
  EXPECT_EQ(groups_->get("fresh-c3").members, (std::vector<std::string>{"c3-a", "c3-b"}));
  std::vector<GroupService::Group> all = groups_->list();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[1].members.size(), 2u);
  // A device's view names its groups, static and dynamic.
  FleetView view(*store_, "c3-b");
  EXPECT_EQ(view.groups(view.devices()[0], kNow),
            (std::vector<std::string>{"beta", "beta-or-silent", "fresh-c3"}));
  groups_->remove_member("beta", "c3-b", "admin");
  EXPECT_EQ(groups_->get("beta").members, (std::vector<std::string>{"plain"}));
}

TEST_F(GroupServiceTest, GroupMistakesAreRefusedWithTheReason) {
  groups_->create("beta", std::nullopt, "admin");
  groups_->create("c3", std::string("chip=ESP32-C3"), "admin");
  EXPECT_EQ(error_of([&] { groups_->create("beta", std::nullopt, "admin"); }), "409 group_exists: group beta exists");
  EXPECT_EQ(error_of([&] { groups_->create("../x", std::nullopt, "admin"); }).substr(0, 23),
            "400 invalid_group_name:");
  EXPECT_EQ(error_of([&] { groups_->create("x", std::string("group=nope"), "admin"); }),
            "400 invalid_filter: filter: no group nope");
  EXPECT_EQ(error_of([&] { groups_->create("x", std::string("group=c3"), "admin"); }),
            "400 invalid_filter: filter: group c3 is dynamic; name static groups only");
  EXPECT_EQ(error_of([&] { groups_->create("x", std::string("product="), "admin"); }).substr(0, 19),
            "400 invalid_filter:");
  EXPECT_EQ(error_of([&] { groups_->add_members("c3", {"plain"}, "admin"); }),
            "409 group_is_dynamic: group c3 is dynamic: its filter decides");
  EXPECT_EQ(error_of([&] { groups_->add_members("beta", {"plain", "ghost"}, "admin"); }),
            "404 device_not_found: no device ghost");
  EXPECT_TRUE(groups_->get("beta").members.empty()) << "all or nothing";
  EXPECT_EQ(error_of([&] { groups_->get("nope"); }), "404 group_not_found: no group nope");
  groups_->create("beta-c3", std::string("group=beta and chip=ESP32-C3"), "admin");
  EXPECT_EQ(error_of([&] { groups_->remove("beta", "admin"); }),
            "409 group_in_use: group beta-c3's filter names group beta");
  groups_->remove("beta-c3", "admin");
  groups_->remove("beta", "admin");
  EXPECT_EQ(groups_->list().size(), 1u);
}

}  // namespace
}  // namespace ota::server
