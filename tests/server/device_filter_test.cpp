// SPDX-License-Identifier: Apache-2.0
// Device filters (server/services device_filter.h): every field and
// operator, precedence, durations at their edges, and malformed filters
// refused with where and why.
#include "ota/server/device_filter.h"

#include <gtest/gtest.h>

#include "ota/server/service_error.h"

namespace ota::server {
namespace {

constexpr int64_t kNow = 1'764'000'000;

struct Fixture {
  DeviceRecord d;
  DeviceFacts f;
  Fixture() {
    d.device_id = "lamp-1";
    d.product = "wled-esp32c3";
    d.chip_id = 5;
    d.enabled = true;
    d.last_seen = kNow - 3600;  // an hour ago
    d.running_version = "esp-idf: v4.4.5";
    f.device = &d;
    f.running_version = "0.14.1";
    f.tags = {{"hw", "B"}, {"region", "eu west"}};
    f.groups = {"beta"};
  }
  bool match(const std::string& filter) const { return DeviceFilter::parse(filter).matches(f, kNow); }
};

TEST(DeviceFilter, FieldsAndOperators) {
  Fixture x;
  for (const char* yes :
       {"product=wled-esp32c3", "product!=wled-esp32", "chip=ESP32-C3", "chip=esp32c3", "chip!=ESP32",
        "version=0.14.1", "version!=0.14.0", "reported_version=\"esp-idf: v4.4.5\"", "enabled=true",
        "image_known=true", "group=beta", "group!=alpha", "tag.hw=B", "tag.region=\"eu west\"", "tag.nope!=x",
        "last_seen<2h", "last_seen<3600s", "last_seen>59m", "not last_seen>1d"})
    EXPECT_TRUE(x.match(yes)) << yes;
  for (const char* no : {"product=wled", "chip=unknown", "version=0.14", "enabled=false", "image_known=false",
                         "group=alpha", "tag.hw=b", "tag.nope=x", "last_seen<59m", "last_seen>2h"})
    EXPECT_FALSE(x.match(no)) << no;
}

TEST(DeviceFilter, AnUnknownImageHasNoVersionAndANeverSeenDeviceIsNotRecent) {
  Fixture x;
  x.f.running_version.reset();
  x.d.chip_id.reset();
  x.d.last_seen.reset();
  EXPECT_FALSE(x.match("version=0.14.1"));
  EXPECT_TRUE(x.match("version!=0.14.1"));
  EXPECT_TRUE(x.match("image_known=false"));
  EXPECT_TRUE(x.match("chip=unknown"));
  EXPECT_FALSE(x.match("chip=ESP32-C3"));
  EXPECT_FALSE(x.match("last_seen<100d"));
  EXPECT_TRUE(x.match("last_seen>1s")) << "never seen counts as not seen for any time";
}

TEST(DeviceFilter, TheLatestReportsStateAndNoneBeforeTheFirst) {
  Fixture x;
  EXPECT_TRUE(x.match("state=none"));
  EXPECT_FALSE(x.match("state=failed"));
  x.f.last_state = "rolled_back";
  EXPECT_TRUE(x.match("state=rolled_back"));
  EXPECT_TRUE(x.match("state=failed or state=rolled_back"));
  EXPECT_FALSE(x.match("state=none"));
  EXPECT_TRUE(x.match("state!=confirmed"));
}

TEST(DeviceFilter, AndBindsTighterThanOrAndNotTighterThanBoth) {
  Fixture x;
  EXPECT_TRUE(x.match("product=x or product=wled-esp32c3 and tag.hw=B"));
  EXPECT_FALSE(x.match("(product=x or product=wled-esp32c3) and tag.hw=C"));
  EXPECT_TRUE(x.match("product=x or tag.hw=B and not tag.hw=C"));
  EXPECT_FALSE(x.match("not product=wled-esp32c3 or tag.hw=C"));
  EXPECT_TRUE(x.match("not (product=x or tag.hw=C)"));
  EXPECT_TRUE(x.match("  ( ( tag.hw = B ) )  "));
}

TEST(DeviceFilter, EdgesOfTheLastSeenWindow) {
  Fixture x;
  x.d.last_seen = kNow - 600;
  EXPECT_TRUE(x.match("last_seen<600s")) << "seen exactly 600 s ago is within 600 s";
  EXPECT_FALSE(x.match("last_seen>600s"));
  EXPECT_FALSE(x.match("last_seen<599s"));
  EXPECT_TRUE(x.match("last_seen>599s"));
  EXPECT_TRUE(x.match("last_seen<10m"));
}

TEST(DeviceFilter, NamesTheGroupsItUses) {
  DeviceFilter f = DeviceFilter::parse("group=a or (group=b and not group=a)");
  EXPECT_EQ(f.groups_named(), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(f.text(), "group=a or (group=b and not group=a)");
}

TEST(DeviceFilter, MalformedFiltersSayWhereAndWhy) {
  auto why = [](const std::string& filter) {
    try {
      DeviceFilter::parse(filter);
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status, 400);
      EXPECT_EQ(e.code, "invalid_filter");
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(why(""), "filter: at character 1: empty filter");
  EXPECT_EQ(why("colour=blue"), "filter: at character 1: unknown field 'colour' (product, chip, version, "
                                "reported_version, enabled, image_known, group, tag.KEY, state, last_seen)");
  EXPECT_EQ(why("product"), "filter: at character 8: expected = or != after product");
  EXPECT_EQ(why("product="), "filter: at character 9: expected a value after =");
  EXPECT_EQ(why("product=a and"), "filter: at character 14: expected a field (product, chip, version, tag.KEY, ...)");
  EXPECT_EQ(why("product=a product=b"), "filter: at character 11: unexpected 'product' (and, or, ) or the end?)");
  EXPECT_EQ(why("(product=a"), "filter: at character 11: expected ')'");
  EXPECT_EQ(why("tag.hw=\"B"), "filter: at character 8: unterminated string");
  EXPECT_EQ(why("tag.hw=\"a\\x\""), "filter: at character 10: bad escape (\\\" or \\\\)");
  EXPECT_EQ(why("chip=esp8266"), "filter: at character 6: unknown chip 'esp8266'");
  EXPECT_EQ(why("state=done"), "filter: at character 7: unknown state 'done' (downloading, applying, rebooting, "
                               "confirmed, rolled_back, failed, refused or none)");
  EXPECT_EQ(why("enabled=yes"), "filter: at character 9: enabled is true or false");
  EXPECT_EQ(why("last_seen=7d"), "filter: at character 10: last_seen takes < or > and a duration, e.g. last_seen<7d");
  EXPECT_EQ(why("last_seen<7w"), "filter: at character 11: a duration ends in s, m, h or d");
  EXPECT_EQ(why("last_seen<d"), "filter: at character 11: expected a duration such as 30m, 12h or 7d");
  EXPECT_EQ(why("product=a; drop table"), "filter: at character 10: unexpected ';'");
  EXPECT_EQ(why("tag.=x"), "filter: at character 1: unknown field 'tag.' (product, chip, version, "
                           "reported_version, enabled, image_known, group, tag.KEY, state, last_seen)");
  EXPECT_NE(why(std::string(40, '(') + "product=a" + std::string(40, ')')).find("nested too deeply"),
            std::string::npos);
  EXPECT_NE(why(std::string(1001, 'a')).find("at most 1000 characters"), std::string::npos);
}

}  // namespace
}  // namespace ota::server
