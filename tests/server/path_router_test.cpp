// SPDX-License-Identifier: Apache-2.0
// The router's patterns (server/http path_router.h): the express router's
// matching rules it keeps (case, trailing slash, one segment per
// parameter, the rest of the path for :name(.+)) and the patterns it
// refuses when a route is added.
#include "ota/server/path_router.h"

#include <gtest/gtest.h>

#include <map>

namespace ota::server {
namespace {

// The parameters, or nullopt when the path does not match.
std::optional<std::map<std::string, std::string>> match(const char* pattern, const char* path) {
  RouteParams params;
  if (!RoutePattern(pattern).match(path, params)) return std::nullopt;
  std::map<std::string, std::string> out;
  for (const char* name : {"device_id", "release", "old", "new", "path", "id"})
    if (params.has(name)) out[name] = std::string(params[name]);
  EXPECT_EQ(out.size(), params.size());
  return out;
}

using Params = std::map<std::string, std::string>;

TEST(PathRouter, LiteralsMatchWholeAndIgnoringCase) {
  EXPECT_EQ(match("/healthz", "/healthz"), Params{});
  EXPECT_EQ(match("/healthz", "/HealthZ"), Params{});
  EXPECT_EQ(match("/healthz", "/healthz2"), std::nullopt);
  EXPECT_EQ(match("/healthz", "/health"), std::nullopt);
  EXPECT_EQ(match("/healthz", "/healthz/x"), std::nullopt);
  EXPECT_EQ(match("/", "/"), Params{});
  EXPECT_EQ(match("/", "/x"), std::nullopt);
}

TEST(PathRouter, ThePathMayEndInOneMoreSlash) {
  EXPECT_EQ(match("/api/v1/devices", "/api/v1/devices/"), Params{});
  EXPECT_EQ(match("/api/v1/devices", "/api/v1/devices//"), std::nullopt);
  EXPECT_EQ(match("/check_update/", "/check_update/"), Params{});
  EXPECT_EQ(match("/check_update/", "/check_update//"), Params{});
  EXPECT_EQ(match("/check_update/", "/check_update"), std::nullopt);
}

TEST(PathRouter, AParameterIsOneNonEmptySegment) {
  EXPECT_EQ(match("/api/v1/devices/:device_id/check-in", "/api/v1/devices/esp32_01/check-in"),
            (Params{{"device_id", "esp32_01"}}));
  EXPECT_EQ(match("/api/v1/devices/:device_id/check-in", "/api/v1/devices/Lamp%20Kitchen/check-in/"),
            (Params{{"device_id", "Lamp%20Kitchen"}}))
      << "values are taken as they are in the (normalized) path";
  EXPECT_EQ(match("/api/v1/devices/:device_id/check-in", "/api/v1/devices//check-in"), std::nullopt);
  EXPECT_EQ(match("/api/v1/devices/:device_id/check-in", "/api/v1/devices/a/b/check-in"), std::nullopt);
  EXPECT_EQ(match("/api/v1/devices/:device_id", "/api/v1/devices/a/status"), std::nullopt);
  EXPECT_EQ(match("/get_patch/:old/:new/:device_id", "/get_patch/1.0.0/1.0.1/esp32_01"),
            (Params{{"old", "1.0.0"}, {"new", "1.0.1"}, {"device_id", "esp32_01"}}));
  EXPECT_EQ(match("/api/v1/devices/:device_id/releases/:release", "/api/v1/devices/d/releases/1.0_to_1.1~fa"),
            (Params{{"device_id", "d"}, {"release", "1.0_to_1.1~fa"}}));
}

TEST(PathRouter, TheRestOfThePathWithSlashes) {
  EXPECT_EQ(match("/console/:path(.+)", "/console/views/device.js"), (Params{{"path", "views/device.js"}}));
  EXPECT_EQ(match("/console/:path(.+)", "/console/a/"), (Params{{"path", "a/"}}));
  EXPECT_EQ(match("/console/:path(.+)", "/console/"), std::nullopt);
  EXPECT_EQ(match("/console/:path(.+)", "/console"), std::nullopt);
}

TEST(PathRouter, PatternsOutsideTheSyntaxAreRefused) {
  auto why = [](const char* pattern) {
    try {
      RoutePattern p(pattern);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(why("healthz"), "route \"healthz\": must start with /");
  EXPECT_EQ(why("/a/:/b"), "route \"/a/:/b\": a parameter needs a name");
  EXPECT_EQ(why("/a/:x(\\d+)"), "route \"/a/:x(\\d+)\": :x must be followed by / or end the route");
  EXPECT_EQ(why("/a/:x(.+)/b"), "route \"/a/:x(.+)/b\": :x(.+) must end the route");
  EXPECT_EQ(why("/a/:x-:y"), "route \"/a/:x-:y\": :x must be followed by / or end the route");
  EXPECT_EQ(why("/a*"), "route \"/a*\": only :name and :name(.+) are supported");
}

}  // namespace
}  // namespace ota::server
