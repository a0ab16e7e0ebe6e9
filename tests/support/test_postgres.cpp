// SPDX-License-Identifier: Apache-2.0
#include "test_postgres.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

#include "store_internal.h"

namespace ota::test {
namespace fs = std::filesystem;
namespace sd = ota::server::store_detail;

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? v : nullptr;
}

struct Created {
  std::mutex mu;
  std::map<std::string, std::string> url_by_key;
  std::vector<std::string> names;
  std::string admin;
};

Created& created() {
  static Created* c = new Created;  // outlives the atexit handler below
  return *c;
}

void drop_created_databases() {
  Created& c = created();
  std::lock_guard<std::mutex> lock(c.mu);
  if (c.names.empty()) return;
  try {
    auto sql = sd::connect(sd::parse_url(c.admin));
    for (const auto& n : c.names) *sql << "DROP DATABASE IF EXISTS " + n + " WITH (FORCE)";
  } catch (...) {
    // The cluster may be gone already; it is thrown away with its databases.
  }
}

}  // namespace

bool postgres_required() { return env("OTA_TEST_POSTGRES_REQUIRED") != nullptr; }

bool on_postgres() {
  const char* db = env("OTA_TEST_DB");
  return db != nullptr && std::string(db) == "postgresql";
}

std::optional<std::string> postgres_admin_url(std::string* why) {
  if (const char* url = env("OTA_TEST_POSTGRES_URL")) return std::string(url);
  if (const char* off = env("OTA_TEST_POSTGRES_OFF")) {
    *why = off;
    return std::nullopt;
  }
  const char* file = env("OTA_TEST_POSTGRES_URL_FILE");
  if (file == nullptr) {
    *why = "no PostgreSQL server: run the suite through CTest (`make test` starts one) or set "
           "OTA_TEST_POSTGRES_URL";
    return std::nullopt;
  }
  std::ifstream in(file);
  std::string url;
  if (!in || !std::getline(in, url) || url.empty()) {
    *why = std::string("the PostgreSQL fixture wrote no URL to ") + file +
           " (see the output of the test postgres_start)";
    return std::nullopt;
  }
  return url;
}

std::string postgres_database_url(const std::string& key) {
  Created& c = created();
  std::lock_guard<std::mutex> lock(c.mu);
  if (auto it = c.url_by_key.find(key); it != c.url_by_key.end()) return it->second;
  std::string why;
  auto admin = postgres_admin_url(&why);
  if (!admin) throw std::runtime_error(why);
  std::string name = "ota_test_" + std::to_string(::getpid()) + "_" + std::to_string(c.names.size());
  *sd::connect(sd::parse_url(*admin)) << "CREATE DATABASE " + name;
  if (c.names.empty()) {
    c.admin = *admin;
    std::atexit(drop_created_databases);
  }
  c.names.push_back(name);
  // libpq takes the last of repeated keywords: the admin URL's own dbname
  // gives way to ours.
  std::string url = "postgresql://" + sd::parse_url(*admin).location + " dbname='" + name + "'";
  c.url_by_key[key] = url;
  return url;
}

std::string store_url(const fs::path& dir) {
  if (!on_postgres()) return "sqlite3://" + (dir / "ota.db").string();
  return postgres_database_url("store:" + fs::absolute(dir).lexically_normal().string());
}

std::vector<std::string> server_db_args(const fs::path& data_dir) {
  if (!on_postgres()) return {};
  return {"--db", postgres_database_url("server:" + fs::absolute(data_dir).lexically_normal().string())};
}

}  // namespace ota::test
