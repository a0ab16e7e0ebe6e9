// docs/openapi.json lists exactly the routes the server registers: every
// r.get/post/put/del("...") of the route files (server/http/src/routes*.cpp)
// is in the document with its method, and every operation of the document
// is registered.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "test_support.h"

namespace ota {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(OpenApi, DocumentAndRoutesAgree) {
  auto spec = nlohmann::json::parse(slurp(test::source_dir() / "docs" / "openapi.json"));
  EXPECT_EQ(spec["openapi"].get<std::string>().substr(0, 2), "3.");
  std::string routes;
  for (const auto& e : std::filesystem::directory_iterator(test::source_dir() / "server" / "http" / "src"))
    if (e.path().filename().string().rfind("routes", 0) == 0 && e.path().extension() == ".cpp")
      routes += slurp(e.path());
  std::regex route_re(R"re(\br\.(get|post|del|put|patch)\("([^"]+)")re");
  std::set<std::pair<std::string, std::string>> registered;
  for (auto it = std::sregex_iterator(routes.begin(), routes.end(), route_re); it != std::sregex_iterator(); ++it) {
    std::string path = (*it)[2], method = (*it)[1];
    if (method == "del") method = "delete";
    // ":name" and ":name(regex)" are both "{name}" in the document.
    path = std::regex_replace(path, std::regex(R"(:([a-z_]+)(\([^)]*\))?)"), "{$1}");
    registered.insert({method, path});
  }
  ASSERT_GT(registered.size(), 15u);
  for (const auto& [method, path] : registered) {
    ASSERT_TRUE(spec["paths"].contains(path)) << path << " is not in docs/openapi.json";
    EXPECT_TRUE(spec["paths"][path].contains(method)) << method << " " << path << " is not in docs/openapi.json";
  }
  for (const auto& [path, ops] : spec["paths"].items())
    for (const auto& [method, op] : ops.items()) {
      EXPECT_TRUE(registered.count({method, path})) << method << " " << path << " is documented but not served";
      EXPECT_TRUE(op.contains("summary") && op.contains("responses")) << method << " " << path;
    }
}

}  // namespace
}  // namespace ota
