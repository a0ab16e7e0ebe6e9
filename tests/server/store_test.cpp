// The server's database (server/store): migrations, every repository method,
// ordering, hostile strings, concurrency, and failures in the middle of a
// write (thrown, and a process that dies with its transaction open).
//
// Every test runs on SQLite in a temporary directory and on PostgreSQL, in a
// schema of its own: on the private cluster `make test` starts
// (tests/postgres/pg-cluster.sh), or on the server OTA_TEST_POSTGRES_URL
// names (any form Store::open accepts). Under CTest a missing server fails
// the PostgreSQL instances; run by hand without one, they skip and say why.
// All suites are named Store*: `ctest -R '^Store'` runs them.
#include "ota/server/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include "store_internal.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;
namespace sd = store_detail;

constexpr uint64_t k5GiB = 5ull << 30;
constexpr int64_t kT0 = 1'700'000'000;

// --- readable comparisons: a record as one line, compared as strings ---

std::string show(const FirmwareRecord& f) {
  std::ostringstream s;
  s << f.product << '|' << f.version << '|' << f.chip_id << '|' << f.size << '|' << f.sha256_hex
    << '|' << f.app_version << '|' << f.security_counter << '|' << f.created_at;
  return s.str();
}
std::string show(const PatchRecord& p) {
  std::ostringstream s;
  s << p.product << '|' << p.old_version << '|' << p.new_version << '|' << p.size << '|' << p.sha256_hex << '|'
    << int(p.codec) << '|' << p.device_ram << '|' << p.created_at;
  return s.str();
}
std::string show(const DeviceRecord& d) {
  std::ostringstream s;
  s << d.device_id << '|' << d.product << '|' << (d.chip_id ? std::to_string(*d.chip_id) : "chip?")
    << '|' << d.sealed_key_hex << '|' << d.token_hash_hex << '|'
    << d.enabled << '|' << d.created_at << '|'
    << (d.last_seen ? std::to_string(*d.last_seen) : "never") << '|' << d.running_version << '|'
    << d.running_sha256_hex << '|' << d.security_counter;
  return s.str();
}
std::string show(const UpdateAssignment& a) {
  return a.device_id + '|' + a.product + '|' + a.old_version + '|' + a.new_version + '|' +
         std::to_string(a.created_at);
}
std::string show(const CheckInView& v) {
  return show(v.device) + " -> " + (v.assignment ? show(*v.assignment) : "(none)");
}
std::string show(const ProductSummary& p) {
  std::string s = p.name + " fw=" + std::to_string(p.firmware) + " dev=" + std::to_string(p.devices) + " chips=";
  for (uint16_t c : p.chips) s += std::to_string(c) + ",";
  return s;
}
std::string show(const DeviceTag& t) { return t.device_id + '|' + t.source + '|' + t.key + '=' + t.value; }
std::string show(const GroupRecord& g) {
  return g.name + '|' + (g.filter ? *g.filter : "(static)") + '|' + std::to_string(g.created_at);
}

std::string show(const StatusEvent& e) {
  return e.device_id + '|' + std::to_string(e.at) + '|' + e.state + '|' + e.detail;
}
std::string show(const AuditEvent& e) {
  return std::to_string(e.at) + '|' + e.actor + '|' + e.action + '|' + e.detail;
}
template <class T>
std::string show(const std::optional<T>& v) {
  return v ? show(*v) : "(none)";
}
template <class T>
std::string show(const std::vector<T>& v) {
  std::string out;
  for (const T& x : v) out += show(x) + "\n";
  return out;
}

// A 64-digit lowercase hex string derived from `seed`.
std::string hex64(const std::string& seed) {
  static const char* digits = "0123456789abcdef";
  uint64_t h = std::hash<std::string>{}(seed);
  std::string out;
  for (int i = 0; i < 64; ++i) {
    h = h * 6364136223846793005ull + 1442695040888963407ull;
    out += digits[h >> 60];
  }
  return out;
}

FirmwareRecord fw(const std::string& version, int64_t at = kT0) {
  FirmwareRecord f;
  f.version = version;
  f.product = "wled";
  f.chip_id = 5;
  f.size = 1'572'864;
  f.sha256_hex = hex64("image " + version);
  f.app_version = "v" + version;
  f.security_counter = 3;
  f.created_at = at;
  return f;
}

PatchRecord patch_of(const std::string& from, const std::string& to, int64_t at = kT0) {
  PatchRecord p;
  p.product = "wled";
  p.old_version = from;
  p.new_version = to;
  p.size = 45'000;
  p.sha256_hex = hex64("patch " + from + to);
  p.codec = 1;
  p.device_ram = 32'768;
  p.created_at = at;
  return p;
}

DeviceRecord dev(const std::string& id, int64_t at = kT0) {
  DeviceRecord d;
  d.device_id = id;
  d.product = "wled";
  d.sealed_key_hex = hex64("key " + id) + hex64("key2 " + id);
  d.token_hash_hex = hex64("token " + id);
  d.enabled = true;
  d.created_at = at;
  d.running_version = "1.0";
  d.running_sha256_hex = hex64("image 1.0");
  d.security_counter = 1;
  return d;
}

// --- the fault-injection seam (function pointers: state lives here) ---

std::atomic<int> g_points{0};
std::string g_fault_at;  // set before the hook is installed

void count_points(const char*) { ++g_points; }
void throw_at(const char* point) {
  if (g_fault_at == point) throw std::runtime_error("injected fault at " + g_fault_at);
}
void exit_at(const char* point) {
  if (g_fault_at == point) _exit(3);  // a crash: no destructor, no rollback, no commit
}

struct ScopedHook {
  explicit ScopedHook(sd::FaultHook hook, std::string at = "") {
    g_points = 0;
    g_fault_at = std::move(at);
    sd::set_fault_hook(hook);
  }
  ~ScopedHook() { sd::set_fault_hook(nullptr); }
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const StoreError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("not a StoreError: ") + e.what();
  }
  return "(no exception)";
}

// --- the fixture: one instance per backend ---

class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "sqlite") {
      dir_ = test::make_temp_dir("store");
      // A parent directory that does not exist yet, with a space in it.
      db_path_ = dir_ / "state dir" / "ota.db";
      url_ = "sqlite3://" + db_path_.string();
      return;
    }
    std::string why;
    std::optional<std::string> admin = test::postgres_admin_url(&why);
    if (!admin && test::postgres_required()) GTEST_FAIL() << why;
    if (!admin) GTEST_SKIP() << "the PostgreSQL instance is skipped: " << why;
    // Each test gets a schema of its own (tests may run in parallel, and
    // other jobs may share the database), named in its connections'
    // search_path and application_name.
    static std::atomic<int> serial{0};
    schema_ = "ota_store_test_" + std::to_string(::getpid()) + "_" + std::to_string(serial++);
    admin_url_ = *admin;
    *sd::connect(sd::parse_url(admin_url_)) << "CREATE SCHEMA " + schema_;
    url_ = "postgresql://" + sd::parse_url(admin_url_).location + " options='-csearch_path=" +
           schema_ + "' application_name='" + schema_ + "'";
  }

  void TearDown() override {
    sd::set_fault_hook(nullptr);
    if (!dir_.empty()) fs::remove_all(dir_);
    if (!schema_.empty())
      *sd::connect(sd::parse_url(admin_url_)) << "DROP SCHEMA " + schema_ + " CASCADE";
  }

  bool sqlite() const { return GetParam() == "sqlite"; }
  // The store, with the product the helpers' records name.
  std::unique_ptr<Store> open() {
    auto store = Store::open(url_);
    store->ensure_product("wled", kT0);
    return store;
  }
  // A session of our own, configured as the store's are.
  std::unique_ptr<soci::session> raw() { return sd::connect(sd::parse_url(url_)); }
  long long raw_count(const std::string& table) {
    long long n = -1;
    *raw() << "SELECT COUNT(*) FROM " + table, soci::into(n);
    return n;
  }

  fs::path dir_, db_path_;
  std::string url_;
  std::string schema_, admin_url_;  // PostgreSQL
};

INSTANTIATE_TEST_SUITE_P(Store, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// The cases of one backend only: instantiated for it alone, so that a
// PostgreSQL run never shows a skipped case.
class StoreSqliteTest : public StoreTest {};
class StorePostgresTest : public StoreTest {};
INSTANTIATE_TEST_SUITE_P(Store, StoreSqliteTest, ::testing::Values("sqlite"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Store, StorePostgresTest, ::testing::Values("postgresql"),
                         [](const auto& info) { return info.param; });

// --- schema and migrations ---

TEST_P(StoreTest, MigratesOnFirstOpenOnlyAndDataPersists) {
  {
    ScopedHook hook(count_points);
    auto store = open();
    EXPECT_GT(g_points.load(), 0) << "a new database gets every migration";
    EXPECT_EQ(store->schema_version(), sd::latest_schema_version());
    ASSERT_TRUE(store->insert_firmware(fw("1.0")));
    ASSERT_TRUE(store->insert_device(dev("dev-1")));
  }
  if (sqlite()) {
    EXPECT_TRUE(fs::exists(db_path_)) << "the parent directory was created";
  }
  long long rows = raw_count("schema_migrations");
  {
    ScopedHook hook(count_points);
    auto store = open();
    EXPECT_EQ(g_points.load(), 0) << "an up-to-date database gets no migration";
    EXPECT_EQ(store->schema_version(), sd::latest_schema_version());
    EXPECT_EQ(show(store->firmware("wled", "1.0")), show(fw("1.0")));
    EXPECT_EQ(show(store->device("dev-1")), show(dev("dev-1")));
  }
  EXPECT_EQ(raw_count("schema_migrations"), rows);
}

TEST_P(StoreTest, RefusesANewerSchema) {
  open()->insert_firmware(fw("1.0"));
  const int newer = sd::latest_schema_version() + 7;
  *raw() << "INSERT INTO schema_migrations (version, applied_at) VALUES (:v, 0)",
      soci::use(newer, "v");
  EXPECT_EQ(message_of([&] { open(); }),
            "database schema version " + std::to_string(newer) + " is newer than this server (" +
                std::to_string(sd::latest_schema_version()) + ")");
  EXPECT_EQ(raw_count("firmware"), 1) << "nothing was touched";
}

TEST_P(StoreTest, AFailedMigrationAppliesNothing) {
  {
    ScopedHook hook(throw_at, "migrate:1:8");  // after a few CREATE TABLEs
    EXPECT_EQ(message_of([&] { open(); }), "not a StoreError: injected fault at migrate:1:8");
  }
  // Had any of version 1 stayed, re-running it would fail on CREATE TABLE.
  auto store = open();
  EXPECT_EQ(store->schema_version(), sd::latest_schema_version());
  EXPECT_TRUE(store->insert_firmware(fw("1.0")));
}

// A version-1 database written by the last v1 code (tests/server/fixtures:
// a SQLite file, and a PostgreSQL dump loaded into this test's schema)
// opens with today's code: migrated in place, every row there.
TEST_P(StoreTest, MigratesAVersion1DatabaseWithNothingLost) {
  const fs::path fixtures = test::source_dir() / "tests" / "server" / "fixtures";
  if (sqlite()) {
    fs::create_directories(db_path_.parent_path());
    fs::copy_file(fixtures / "store_v1.db", db_path_);
  } else {
    std::ifstream in(fixtures / "store_v1.postgresql.sql");
    ASSERT_TRUE(in) << fixtures;
    std::string text((std::istreambuf_iterator<char>(in)), {}), statement;
    auto sql = raw();
    for (size_t at = 0, end; (end = text.find(";\n", at)) != std::string::npos; at = end + 2) {
      statement = text.substr(at, end - at);
      while (statement.rfind("--", statement.find_first_not_of("\n")) == statement.find_first_not_of("\n"))
        statement = statement.substr(statement.find('\n', statement.find_first_not_of("\n")) + 1);
      *sql << statement;
    }
  }
  EXPECT_EQ(raw_count("schema_migrations"), 2) << "the sentinel and version 1";
  {
    // A failure half way (the old tables dropped, the new ones made) leaves
    // version 1 as it was.
    ScopedHook hook(throw_at, "migrate:2:14");
    EXPECT_EQ(message_of([&] { Store::open(url_); }), "not a StoreError: injected fault at migrate:2:14");
  }
  EXPECT_EQ(raw_count("schema_migrations"), 2);
  EXPECT_EQ(raw_count("firmware"), 4);
  EXPECT_THROW(raw_count("products"), soci::soci_error);
  auto store = Store::open(url_);
  EXPECT_EQ(store->schema_version(), sd::latest_schema_version());

  EXPECT_EQ(show(store->list_products()),
            "wled fw=2 dev=2 chips=0,\n"
            "arduino-lib-builder fw=2 dev=0 chips=5,\n"
            "default fw=0 dev=1 chips=\n");

  auto h64 = [](char c) { return std::string(64, c); };
  std::vector<FirmwareRecord> fws = store->list_firmware();
  ASSERT_EQ(fws.size(), 4u);
  EXPECT_EQ(show(fws[0]), "wled|1.0.0|0|1270480|" + h64('a') + "|0.14.0-b3|1|1764000000");
  EXPECT_EQ(show(fws[3]), "arduino-lib-builder|2.0.1|5|1045300|" + h64('d') +
                              "|esp-idf: v4.4.5 ac5d805d0e|4|1764000300");
  EXPECT_EQ(show(store->firmware("wled", "1.0.1")), "wled|1.0.1|0|1270512|" + h64('b') + "|0.14.0-b4|2|1764000100");
  EXPECT_EQ(show(store->patch("wled", "1.0.0", "1.0.1")),
            "wled|1.0.0|1.0.1|159544|" + h64('e') + "|1|32768|1764000400");
  EXPECT_EQ(store->list_patches().size(), 2u);

  // The device seen running a known image learnt its chip; the others not.
  EXPECT_EQ(show(store->device("esp32_01")), "esp32_01|wled|0|" + std::string(120, '1') + "|" + h64('2') +
                                                 "|1|1764000600|1764000900|1.0.0|" + h64('a') + "|1");
  EXPECT_EQ(show(store->device("c3_kitchen")), "c3_kitchen|default|chip?|" + std::string(120, '3') + "|" +
                                                   h64('4') + "|0|1764000700|1764001000|esp-idf: v4.4.5 "
                                                   "ac5d805d0e|" + h64('9') + "|0");
  EXPECT_EQ(show(store->device("never_seen")), "never_seen|wled|chip?|" + std::string(120, '5') + "|" +
                                                   h64('6') + "|1|1764000800|never|||0");
  EXPECT_EQ(store->list_devices().size(), 3u);

  // Assignments keep their firmware's product, even one v1 let through for
  // a device of another product.
  EXPECT_EQ(show(store->assignment("esp32_01")), "esp32_01|wled||1.0.1|1764001100");
  EXPECT_EQ(show(store->assignment("c3_kitchen")), "c3_kitchen|arduino-lib-builder|2.0.0|2.0.1|1764001200");
  EXPECT_EQ(show(store->status_history("esp32_01")),
            "esp32_01|1764001300|downloading|version=1.0.1\nesp32_01|1764001300|applying|version=1.0.1\n");
  EXPECT_EQ(store->status_history("c3_kitchen").size(), 1u);
  std::vector<AuditEvent> audit = store->audit_log(100);
  ASSERT_EQ(audit.size(), 3u);
  EXPECT_EQ(audit[2].detail, "device=c3_kitchen old=2.0.0 new=2.0.1");

  // The counters go on where v1 left them: new rows list after the old.
  FirmwareRecord f = fw("1.0.0", 1764009000);
  f.product = kDefaultProduct;
  ASSERT_TRUE(store->insert_firmware(f));
  EXPECT_EQ(store->list_firmware().back().product, kDefaultProduct);
  ASSERT_TRUE(store->insert_device(dev("new-one", 1764000600)));
  EXPECT_EQ(store->list_devices()[1].device_id, "new-one") << "same time: after esp32_01 by seq";
  store->add_status({"esp32_01", 1764001300, "rebooting", ""});
  EXPECT_EQ(store->status_history("esp32_01").back().state, "rebooting");
  EXPECT_TRUE(store->ensure_product("another", 1764009999));
  EXPECT_EQ(store->list_products().back().name, "another");
}

TEST_P(StoreSqliteTest, SqliteConnectionSettings) {
  auto store = open();
  auto sql = raw();
  std::string mode;
  int fk = 0;
  *sql << "PRAGMA journal_mode", soci::into(mode);
  *sql << "PRAGMA foreign_keys", soci::into(fk);
  EXPECT_EQ(mode, "wal");
  EXPECT_EQ(fk, 1);
  // Foreign keys are enforced by the database itself, not only by the store.
  EXPECT_THROW((*sql << "INSERT INTO assignments (device_id, product, old_version, new_version,"
                        " created_at) VALUES ('nobody', 'wled', '', 'none', 0)"),
               soci::soci_error);
  EXPECT_THROW((*sql << "INSERT INTO firmware (product, version, chip_id, size, sha256_hex,"
                        " app_version, security_counter, created_at, seq)"
                        " VALUES ('no such product', '1.0', 0, 0, '', '', 0, 0, 0)"),
               soci::soci_error);
  // A plain path names the same database.
  EXPECT_EQ(Store::open(db_path_.string())->schema_version(), sd::latest_schema_version());
}

// --- repositories: every field round-trips ---

TEST_P(StoreTest, FirmwareRoundTripsEveryField) {
  auto store = open();
  FirmwareRecord big = fw("2.0.0-rc.1+build.7", kT0 + 10);
  big.chip_id = 0xFFFF;
  big.size = k5GiB + 12345;  // above 4 GiB: needs all 64 bits
  big.security_counter = std::numeric_limits<uint32_t>::max();
  big.created_at = std::numeric_limits<int64_t>::max();  // times use all 64 bits too
  FirmwareRecord small = fw("1.0", std::numeric_limits<int64_t>::min());
  small.chip_id = 0;
  small.size = 0;
  small.security_counter = 0;
  small.app_version = "";
  FirmwareRecord same_time = fw("1.1", kT0);

  ASSERT_TRUE(store->insert_firmware(big));
  ASSERT_TRUE(store->insert_firmware(small));
  ASSERT_TRUE(store->insert_firmware(same_time));
  EXPECT_EQ(show(store->firmware("wled", big.version)), show(big));
  EXPECT_EQ(show(store->firmware("wled", small.version)), show(small));
  EXPECT_FALSE(store->firmware("wled", "9.9"));
  // Oldest first; equal times keep insertion order.
  EXPECT_EQ(show(store->list_firmware()), show(std::vector{small, same_time, big}));

  EXPECT_EQ(show(store->firmware_by_sha256("wled", big.sha256_hex)), show(big));
  EXPECT_FALSE(store->firmware_by_sha256("wled", hex64("nothing")));

  // A duplicate version is refused and changes nothing.
  FirmwareRecord dup = fw(big.version, kT0 + 99);
  dup.sha256_hex = hex64("other bytes");
  EXPECT_FALSE(store->insert_firmware(dup));
  EXPECT_EQ(show(store->firmware("wled", big.version)), show(big));
  EXPECT_EQ(store->list_firmware().size(), 3u);
  EXPECT_EQ(store->max_security_counter("wled"), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(store->max_security_counter("nothing here"), 0u);

  // Firmware of a product nobody made is refused by the database.
  FirmwareRecord orphan = fw("1.0");
  orphan.product = "never-made";
  EXPECT_EQ(message_of([&] { store->insert_firmware(orphan); }),
            "store: insert_firmware: unknown product 'never-made'");

  // Sizes beyond int64 cannot be stored: refused before touching the database.
  FirmwareRecord huge = fw("huge");
  huge.size = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(message_of([&] { store->insert_firmware(huge); }),
            "store: firmware size is too large to store");
}

// The same version string in two products: two firmware, each found by its
// own product; digests, counters, patches and deletes stay per product.
TEST_P(StoreTest, ProductsKeepTheirOwnVersions) {
  auto store = open();
  EXPECT_TRUE(store->ensure_product("wled-c3", kT0 + 5));
  EXPECT_FALSE(store->ensure_product("wled-c3", kT0 + 9)) << "made once";
  EXPECT_EQ(store->product("wled-c3")->created_at, kT0 + 5);
  EXPECT_FALSE(store->product("nope"));

  FirmwareRecord esp32 = fw("0.14.0");
  esp32.chip_id = 0;
  esp32.security_counter = 4;
  FirmwareRecord c3 = fw("0.14.0", kT0 + 1);
  c3.product = "wled-c3";
  c3.chip_id = 5;
  c3.sha256_hex = hex64("c3 image");
  c3.security_counter = 1;
  ASSERT_TRUE(store->insert_firmware(esp32));
  ASSERT_TRUE(store->insert_firmware(c3)) << "the same version in another product";
  EXPECT_EQ(show(store->firmware("wled", "0.14.0")), show(esp32));
  EXPECT_EQ(show(store->firmware("wled-c3", "0.14.0")), show(c3));
  EXPECT_EQ(show(store->list_firmware("wled-c3")), show(std::vector{c3}));
  EXPECT_EQ(store->list_firmware().size(), 2u);
  EXPECT_FALSE(store->firmware_by_sha256("wled", c3.sha256_hex)) << "digests are looked up per product";
  EXPECT_EQ(show(store->firmware_by_sha256("wled-c3", c3.sha256_hex)), show(c3));
  EXPECT_EQ(store->max_security_counter("wled"), 4u);
  EXPECT_EQ(store->max_security_counter("wled-c3"), 1u);

  FirmwareRecord c3next = fw("0.14.1", kT0 + 2);
  c3next.product = "wled-c3";
  ASSERT_TRUE(store->insert_firmware(c3next));
  PatchRecord p = patch_of("0.14.0", "0.14.1");
  p.product = "wled-c3";
  store->put_patch(p);
  EXPECT_EQ(show(store->patch("wled-c3", "0.14.0", "0.14.1")), show(p));
  EXPECT_FALSE(store->patch("wled", "0.14.0", "0.14.1"));
  EXPECT_EQ(show(store->list_patches("wled-c3")), show(std::vector{p}));
  EXPECT_TRUE(store->list_patches("wled").empty());
  EXPECT_EQ(message_of([&] { store->put_patch(patch_of("0.14.0", "0.14.1")); }),
            "store: put_patch: unknown firmware version '0.14.1' of product 'wled'")
      << "a patch's versions are of its own product";

  // Devices belong to a product that exists; an assignment names the
  // device's own product.
  DeviceRecord d = dev("c3-1");
  d.product = "wled-c3";
  d.chip_id = 5;
  ASSERT_TRUE(store->insert_device(d));
  EXPECT_EQ(show(store->device("c3-1")), show(d));
  DeviceRecord stray = dev("stray");
  stray.product = "typo";
  EXPECT_EQ(message_of([&] { store->insert_device(stray); }),
            "store: insert_device: unknown product 'typo'");
  EXPECT_EQ(message_of([&] { store->assign_update({"c3-1", "wled", "", "0.14.0", kT0}); }),
            "store: assign_update: device 'c3-1' is in product 'wled-c3', not 'wled'");
  store->assign_update({"c3-1", "wled-c3", "", "0.14.1", kT0});
  EXPECT_EQ(store->assignment("c3-1")->product, "wled-c3");
  EXPECT_TRUE(store->set_device_chip("c3-1", 9));
  EXPECT_EQ(store->device("c3-1")->chip_id, 9);
  EXPECT_FALSE(store->set_device_chip("nobody", 9));

  // Deleting one product's version leaves the other's.
  EXPECT_TRUE(store->delete_firmware("wled", "0.14.0"));
  EXPECT_FALSE(store->delete_firmware("wled-c3", "0.14.0")) << "its patch refers to it";
  EXPECT_EQ(show(store->firmware("wled-c3", "0.14.0")), show(c3));

  // Listed oldest first, with their chips and what they hold.
  EXPECT_EQ(show(store->list_products()),
            "wled fw=0 dev=0 chips=\n"
            "wled-c3 fw=2 dev=1 chips=5,\n"
            "default fw=0 dev=0 chips=\n");
}

TEST_P(StoreTest, PatchesRoundTripAndAreReplaced) {
  auto store = open();
  for (const char* v : {"1.0", "1.1", "1.2"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  PatchRecord a = patch_of("1.0", "1.1", kT0 + 1);
  a.size = k5GiB;
  a.codec = 255;
  a.device_ram = std::numeric_limits<uint32_t>::max() - 1;
  PatchRecord b = patch_of("1.1", "1.2", kT0 + 2);
  store->put_patch(b);
  store->put_patch(a);
  EXPECT_EQ(show(store->patch("wled", "1.0", "1.1")), show(a));
  EXPECT_EQ(show(store->patch("wled", "1.1", "1.2")), show(b));
  EXPECT_FALSE(store->patch("wled", "1.1", "1.0"));
  EXPECT_EQ(show(store->list_patches()), show(std::vector{a, b}));

  PatchRecord a2 = patch_of("1.0", "1.1", kT0 + 5);
  a2.codec = 2;
  a2.size = 7;
  store->put_patch(a2);
  EXPECT_EQ(show(store->patch("wled", "1.0", "1.1")), show(a2));
  EXPECT_EQ(store->list_patches().size(), 2u);

  EXPECT_EQ(message_of([&] { store->put_patch(patch_of("1.0", "7.7")); }),
            "store: put_patch: unknown firmware version '7.7' of product 'wled'");
  EXPECT_EQ(message_of([&] { store->put_patch(patch_of("0.1", "1.0")); }),
            "store: put_patch: unknown firmware version '0.1' of product 'wled'");
}

TEST_P(StoreTest, DevicesRoundTripEveryField) {
  auto store = open();
  DeviceRecord a = dev("esp32-a", kT0 + 3);
  a.enabled = false;
  a.last_seen = int64_t{1} << 40;
  a.security_counter = std::numeric_limits<uint32_t>::max();
  DeviceRecord b = dev("esp32-b", kT0);  // never seen: last_seen stays empty
  b.running_version = "";
  b.running_sha256_hex = "";
  ASSERT_TRUE(store->insert_device(a));
  ASSERT_TRUE(store->insert_device(b));
  EXPECT_EQ(show(store->device("esp32-a")), show(a));
  EXPECT_EQ(show(store->device("esp32-b")), show(b));
  EXPECT_FALSE(store->device("esp32-c"));
  EXPECT_EQ(show(store->list_devices()), show(std::vector{b, a}));
  EXPECT_FALSE(store->insert_device(dev("esp32-a")));
  EXPECT_EQ(show(store->device("esp32-a")), show(a));

  EXPECT_TRUE(store->set_device_enabled("esp32-a", true));
  a.enabled = true;
  EXPECT_TRUE(store->touch_device("esp32-b", kT0 + 100, "2.0", hex64("image 2.0")));
  b.last_seen = kT0 + 100;
  b.running_version = "2.0";
  b.running_sha256_hex = hex64("image 2.0");
  EXPECT_TRUE(store->set_device_security_counter("esp32-b", 0xFFFFFFF0u));
  b.security_counter = 0xFFFFFFF0u;
  EXPECT_TRUE(store->set_device_enabled("esp32-b", true));  // unchanged value still counts
  EXPECT_EQ(show(store->device("esp32-a")), show(a));
  EXPECT_EQ(show(store->device("esp32-b")), show(b));

  EXPECT_FALSE(store->set_device_enabled("nobody", false));
  EXPECT_FALSE(store->touch_device("nobody", kT0, "1.0", ""));
  EXPECT_FALSE(store->set_device_security_counter("nobody", 1));
}

TEST_P(StoreTest, AssignmentsAreReplacedAndChecked) {
  auto store = open();
  for (const char* v : {"1.0", "1.1", "1.2"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  EXPECT_FALSE(store->assignment("d1"));

  UpdateAssignment first{"d1", "wled", "1.0", "1.1", kT0};
  store->assign_update(first);
  EXPECT_EQ(show(store->assignment("d1")), show(first));
  UpdateAssignment second{"d1", "wled", "", "1.2", kT0 + 1};  // replaces; no old version named
  store->assign_update(second);
  EXPECT_EQ(show(store->assignment("d1")), show(second));
  UpdateAssignment unknown_old{"d2", "wled", "0.9-factory", "1.2", kT0};  // old need not be stored
  store->assign_update(unknown_old);
  EXPECT_EQ(show(store->assignment("d2")), show(unknown_old));

  EXPECT_EQ(message_of([&] { store->assign_update({"ghost", "wled", "", "1.1", kT0}); }),
            "store: assign_update: unknown device 'ghost'");
  EXPECT_EQ(message_of([&] { store->assign_update({"d1", "wled", "", "8.8", kT0}); }),
            "store: assign_update: unknown firmware version '8.8' of product 'wled'");
  EXPECT_EQ(show(store->assignment("d1")), show(second)) << "a refused assignment changes nothing";

  EXPECT_TRUE(store->clear_assignment("d1"));
  EXPECT_FALSE(store->clear_assignment("d1"));
  EXPECT_FALSE(store->assignment("d1"));
  EXPECT_FALSE(store->clear_assignment("ghost"));
}

TEST_P(StoreTest, CheckInViewIsTheDeviceAndItsAssignment) {
  auto store = open();
  for (const char* v : {"1.0", "1.1"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  DeviceRecord a = dev("d1");
  DeviceRecord b = dev("d2");
  b.enabled = false;  // returned all the same: the caller decides
  b.last_seen = kT0 + 7;
  ASSERT_TRUE(store->insert_device(a));
  ASSERT_TRUE(store->insert_device(b));
  EXPECT_FALSE(store->check_in_view("ghost"));
  EXPECT_EQ(show(store->check_in_view("d1")), show(CheckInView{a, std::nullopt}));

  UpdateAssignment first{"d1", "wled", "1.0", "1.1", kT0 + 1};
  store->assign_update(first);
  EXPECT_EQ(show(store->check_in_view("d1")), show(CheckInView{a, first}));
  EXPECT_EQ(show(store->check_in_view("d2")), show(CheckInView{b, std::nullopt}));
  UpdateAssignment unnamed{"d2", "wled", "", "1.1", kT0 + 2};  // empty old version is not "none"
  store->assign_update(unnamed);
  EXPECT_EQ(show(store->check_in_view("d2")), show(CheckInView{b, unnamed}));

  // It follows every write, like device() and assignment() do.
  ASSERT_TRUE(store->touch_device("d1", kT0 + 60, "1.1", hex64("image 1.1")));
  a.last_seen = kT0 + 60;
  a.running_version = "1.1";
  a.running_sha256_hex = hex64("image 1.1");
  EXPECT_EQ(show(store->check_in_view("d1")), show(CheckInView{a, first}));
  EXPECT_EQ(show(store->check_in_view("d1")->device), show(store->device("d1")));
  EXPECT_EQ(show(store->check_in_view("d1")->assignment), show(store->assignment("d1")));
  ASSERT_TRUE(store->clear_assignment("d1"));
  EXPECT_EQ(show(store->check_in_view("d1")), show(CheckInView{a, std::nullopt}));
  EXPECT_EQ(show(store->check_in_view("d2")), show(CheckInView{b, unnamed}));
}

TEST_P(StoreTest, DeleteFirmwareIsRefusedWhileReferenced) {
  auto store = open();
  for (const char* v : {"1.0", "1.1", "1.2", "1.3", "1.4"})
    ASSERT_TRUE(store->insert_firmware(fw(v)));
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  store->put_patch(patch_of("1.0", "1.1"));
  store->assign_update({"d1", "wled", "1.2", "1.3", kT0});

  EXPECT_FALSE(store->delete_firmware("wled", "1.0")) << "a patch's old version";
  EXPECT_FALSE(store->delete_firmware("wled", "1.1")) << "a patch's new version";
  EXPECT_FALSE(store->delete_firmware("wled", "1.2")) << "an assignment's old version";
  EXPECT_FALSE(store->delete_firmware("wled", "1.3")) << "an assignment's new version";
  EXPECT_EQ(store->list_firmware().size(), 5u);

  EXPECT_TRUE(store->delete_firmware("wled", "1.4"));
  EXPECT_FALSE(store->firmware("wled", "1.4"));
  EXPECT_FALSE(store->delete_firmware("wled", "1.4")) << "already gone";
  EXPECT_FALSE(store->delete_firmware("wled", "nope"));

  ASSERT_TRUE(store->clear_assignment("d1"));
  EXPECT_TRUE(store->delete_firmware("wled", "1.2"));
  EXPECT_TRUE(store->delete_firmware("wled", "1.3"));
  EXPECT_EQ(store->list_firmware().size(), 2u);
}

// --- tags and groups ---

TEST_P(StoreTest, TagsBySourceReplaceAndSetOne) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  store->replace_device_tags("d1", "device", {{"hw", "B"}, {"fw", "x"}});
  store->set_device_tag("d1", "admin", "hw", std::string("C"));
  store->set_device_tag("d2", "admin", "region", std::string("eu west"));
  EXPECT_EQ(show(store->device_tags("d1")), "d1|admin|hw=C\nd1|device|fw=x\nd1|device|hw=B\n");
  // Replacing is the whole set of that source; the admin's stay.
  store->replace_device_tags("d1", "device", {{"hw", "D"}});
  EXPECT_EQ(show(store->device_tags("d1")), "d1|admin|hw=C\nd1|device|hw=D\n");
  store->replace_device_tags("d1", "device", {{"hw", "D"}});  // unchanged: no write, same rows
  store->set_device_tag("d1", "admin", "hw", std::nullopt);
  EXPECT_EQ(show(store->device_tags("d1")), "d1|device|hw=D\n");
  store->set_device_tag("d1", "admin", "nothing", std::nullopt);  // removing what is not there
  EXPECT_EQ(show(store->all_device_tags()), "d1|device|hw=D\nd2|admin|region=eu west\n");
  EXPECT_EQ(message_of([&] { store->set_device_tag("ghost", "admin", "k", std::string("v")); }),
            "store: set_device_tag: unknown device 'ghost'");
  EXPECT_EQ(message_of([&] { store->replace_device_tags("ghost", "device", {}); }),
            "store: replace_device_tags: unknown device 'ghost'");
}

TEST_P(StoreTest, StaticAndDynamicGroups) {
  auto store = open();
  for (const char* id : {"d1", "d2", "d3"}) ASSERT_TRUE(store->insert_device(dev(id)));
  GroupRecord beta{"beta", std::nullopt, kT0};
  GroupRecord eu{"eu", std::string("tag.region=eu"), kT0 + 1};
  ASSERT_TRUE(store->create_group(beta));
  ASSERT_TRUE(store->create_group(eu));
  EXPECT_FALSE(store->create_group({"beta", std::string("x=y"), kT0 + 9})) << "the name is taken";
  EXPECT_EQ(show(store->group("beta")), show(beta));
  EXPECT_EQ(show(store->group("eu")), show(eu));
  EXPECT_FALSE(store->group("nope"));
  EXPECT_EQ(show(store->list_groups()), show(std::vector{beta, eu}));

  store->add_group_member("beta", "d2");
  store->add_group_member("beta", "d1");
  store->add_group_member("beta", "d1");  // twice: no error, once
  EXPECT_EQ(store->group_members("beta"), (std::vector<std::string>{"d1", "d2"}));
  EXPECT_EQ(message_of([&] { store->add_group_member("eu", "d1"); }),
            "store: add_group_member: group 'eu' is dynamic (its filter decides)");
  EXPECT_EQ(message_of([&] { store->add_group_member("nope", "d1"); }),
            "store: add_group_member: unknown group 'nope'");
  EXPECT_EQ(message_of([&] { store->add_group_member("beta", "ghost"); }),
            "store: add_group_member: unknown device 'ghost'");
  EXPECT_TRUE(store->remove_group_member("beta", "d2"));
  EXPECT_FALSE(store->remove_group_member("beta", "d2"));
  ASSERT_TRUE(store->create_group({"alpha", std::nullopt, kT0 + 2}));
  store->add_group_member("alpha", "d3");
  EXPECT_EQ(store->all_group_members(),
            (std::vector<std::pair<std::string, std::string>>{{"alpha", "d3"}, {"beta", "d1"}}));
  EXPECT_TRUE(store->delete_group("beta"));
  EXPECT_FALSE(store->delete_group("beta"));
  EXPECT_TRUE(store->group_members("beta").empty()) << "members go with the group";
  ASSERT_TRUE(store->create_group(beta)) << "the name is free again";
  EXPECT_TRUE(store->group_members("beta").empty());
}

// --- rollouts ---

// A rollout of version 1.1 of wled to `ids`, one wave.
RolloutSnapshot rollout_of(const std::vector<std::string>& ids) {
  RolloutSnapshot s;
  RolloutRecord& r = s.rollout;
  r.product = "wled";
  r.version = "1.1";
  r.target_kind = "filter";
  r.target = "product=wled";
  r.waves = "100%";
  r.success = {true, 9500};
  r.max_failures = {false, 2};
  r.confirm_within = 1800;
  r.max_downloads = 10;
  r.order = "random:7";
  r.state = RolloutState::kRunning;
  r.halted_by = {};
  r.created_at = r.updated_at = kT0;
  s.waves.push_back({0, "100%", ids.size(), true, false, kT0, 0});
  for (size_t i = 0; i < ids.size(); ++i) {
    MemberRecord m;
    m.device_id = ids[i];
    m.position = static_cast<int64_t>(i);
    m.state = MemberState::kAssigned;
    m.attempts = 1;
    m.updated_at = kT0;
    s.members.push_back(m);
  }
  return s;
}

TEST_P(StoreTest, RolloutsRoundTripAndADeviceIsInOneActiveRolloutOnly) {
  auto store = open();
  for (const char* v : {"1.0", "1.1"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  for (const char* id : {"d1", "d2", "d3"}) ASSERT_TRUE(store->insert_device(dev(id)));
  RolloutSnapshot a = rollout_of({"d1", "d2"});
  a.rollout.halted_by = {"d9", "d8"};
  auto id = store->create_rollout(a, {kT0, "admin", "rollout.create", "version=1.1"});
  ASSERT_TRUE(id);
  auto back = store->rollout(*id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->rollout.id, *id);
  EXPECT_EQ(back->rollout.revision, 1);
  EXPECT_EQ(back->rollout.success.text(), "95%");
  EXPECT_EQ(back->rollout.max_failures.text(), "2");
  EXPECT_EQ(back->rollout.halted_by, (std::vector<std::string>{"d9", "d8"}));
  EXPECT_EQ(back->rollout.order, "random:7");
  ASSERT_EQ(back->members.size(), 2u);
  EXPECT_EQ(back->members[1].device_id, "d2");
  EXPECT_EQ(back->members[1].state, MemberState::kAssigned);
  EXPECT_EQ(back->members[1].revision, 1);
  EXPECT_EQ(back->waves[0].planned, 2u);
  EXPECT_EQ(store->rollout_of_device("d1"), id);
  EXPECT_FALSE(store->rollout_of_device("d3"));
  EXPECT_EQ(store->audit_log(1)[0].detail, "rollout=" + std::to_string(*id) + " version=1.1");
  // d2 is taken: a second rollout over it is refused, and writes nothing.
  EXPECT_FALSE(store->create_rollout(rollout_of({"d3", "d2"}), {kT0, "admin", "rollout.create", ""}));
  EXPECT_FALSE(store->rollout_of_device("d3"));
  EXPECT_EQ(store->list_rollouts().size(), 1u);
  EXPECT_EQ(store->active_rollouts(), std::vector<int64_t>{*id});
  EXPECT_TRUE(store->add_rollout_member(*id, rollout_of({"d3"}).members[0])) << "a late joiner";
  EXPECT_FALSE(store->add_rollout_member(*id, rollout_of({"d3"}).members[0])) << "once";
  EXPECT_EQ(store->rollout(*id)->members.size(), 3u);
}

TEST_P(StoreTest, ARolloutStepIsWrittenWholeOrNotAtAll) {
  auto store = open();
  for (const char* v : {"1.0", "1.1"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  for (const char* id : {"d1", "d2"}) ASSERT_TRUE(store->insert_device(dev(id)));
  int64_t id = *store->create_rollout(rollout_of({"d1", "d2"}), {kT0, "admin", "rollout.create", ""});
  RolloutSnapshot s = *store->rollout(id);
  RolloutWrite w;
  w.rollout = s.rollout;
  w.expected_revision = s.rollout.revision;
  w.members = s.members;
  for (MemberRecord& m : w.members) m.holds = true;
  w.assign = {"d1", "d2"};
  w.audit = {{kT0, "server", "rollout.wave", "started"}};
  ASSERT_TRUE(store->write_rollout_step(w));
  EXPECT_EQ(store->assignment("d1")->new_version, "1.1");
  EXPECT_EQ(store->assignment("d2")->product, "wled");
  EXPECT_EQ(store->rollout(id)->rollout.revision, 2);
  EXPECT_EQ(store->rollout(id)->members[0].revision, 2);
  EXPECT_FALSE(store->write_rollout_step(w)) << "the same step on a stale revision";

  // A report moves d2 on between a read and its write: the step is refused
  // whole (its rollout row and d1 stay as they were).
  s = *store->rollout(id);
  MemberRecord d2 = s.members[1];
  d2.state = MemberState::kConfirmed;
  ASSERT_TRUE(store->update_rollout_member(id, d2, d2.revision));
  EXPECT_FALSE(store->update_rollout_member(id, d2, d2.revision)) << "compare and set";
  RolloutWrite stale;
  stale.rollout = s.rollout;
  stale.rollout.state = RolloutState::kCompleted;
  stale.expected_revision = s.rollout.revision;
  stale.members = s.members;  // d2 with its old revision
  for (MemberRecord& m : stale.members) m.holds = false;
  stale.unassign = {"d1", "d2"};
  EXPECT_FALSE(store->write_rollout_step(stale));
  EXPECT_EQ(store->rollout(id)->rollout.state, RolloutState::kRunning);
  EXPECT_TRUE(store->assignment("d1")) << "nothing of the refused step";
  EXPECT_EQ(store->rollout_of_device("d1"), id);

  // Over: the members are free, and only the rollout's own assignments go.
  store->assign_update({"d2", "wled", "", "1.0", kT0});  // someone else's assignment
  s = *store->rollout(id);
  RolloutWrite done;
  done.rollout = s.rollout;
  done.rollout.state = RolloutState::kCompleted;
  done.expected_revision = s.rollout.revision;
  done.unassign = {"d1", "d2"};
  ASSERT_TRUE(store->write_rollout_step(done));
  EXPECT_FALSE(store->assignment("d1"));
  EXPECT_EQ(store->assignment("d2")->new_version, "1.0") << "not the rollout's: kept";
  EXPECT_FALSE(store->rollout_of_device("d1"));
  EXPECT_TRUE(store->active_rollouts().empty());
  auto history = store->device_rollouts("d2");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].second.state, MemberState::kConfirmed);
}

TEST_P(StoreTest, AdmissionsCountDownloadsInProgress) {
  auto store = open();
  for (const char* v : {"1.0", "1.1"}) ASSERT_TRUE(store->insert_firmware(fw(v)));
  for (const char* id : {"d1", "d2", "d3"}) ASSERT_TRUE(store->insert_device(dev(id)));
  RolloutSnapshot s = rollout_of({"d1", "d2", "d3"});
  s.members[2].state = MemberState::kWaiting;
  int64_t id = *store->create_rollout(s, {kT0, "admin", "rollout.create", ""});
  EXPECT_EQ(store->admit_rollout_download(id, "d1", 1, kT0 + 5), Admission::kAdmitted);
  EXPECT_EQ(store->rollout(id)->members[0].state, MemberState::kDownloading);
  EXPECT_EQ(store->rollout(id)->members[0].started_at, kT0 + 5);
  EXPECT_EQ(store->admit_rollout_download(id, "d2", 1, kT0 + 6), Admission::kCapReached);
  EXPECT_EQ(store->admit_rollout_download(id, "d1", 1, kT0 + 7), Admission::kAdmitted) << "already started";
  EXPECT_EQ(store->rollout(id)->members[0].started_at, kT0 + 5) << "its start is kept";
  EXPECT_EQ(store->admit_rollout_download(id, "d2", 0, kT0 + 8), Admission::kAdmitted) << "no cap";
  EXPECT_EQ(store->admit_rollout_download(id, "d3", 0, kT0 + 8), Admission::kNotAssigned);
  EXPECT_EQ(store->admit_rollout_download(id, "ghost", 0, kT0 + 8), Admission::kNotAssigned);
}

// --- histories ---

TEST_P(StoreTest, StatusHistoryIsOrderedNewestLast) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  std::vector<StatusEvent> want;
  // Several events in one second keep insertion order.
  for (const char* state : {"downloading", "applying", "rebooting", "confirmed"}) {
    StatusEvent e{"d1", kT0 + 50, state, std::string("step ") + state};
    store->add_status(e);
    want.push_back(e);
    store->add_status({"d2", kT0 + 50, state, ""});
  }
  // An event stamped earlier (a device clock behind) sorts by its time.
  StatusEvent early{"d1", kT0 + 10, "failed", "no space"};
  store->add_status(early);
  want.insert(want.begin(), early);
  StatusEvent late{"d1", kT0 + 60, "downloading", ""};
  store->add_status(late);
  want.push_back(late);

  EXPECT_EQ(show(store->status_history("d1")), show(want));
  EXPECT_EQ(store->status_history("d2").size(), 4u);
  EXPECT_TRUE(store->status_history("nobody").empty());
  EXPECT_EQ(message_of([&] { store->add_status({"nobody", kT0, "x", ""}); }),
            "store: add_status: unknown device 'nobody'");
}

TEST_P(StoreTest, RecentFailuresAreTheNewestFailedRolledBackOrRefusedEvents) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  store->add_status({"d1", kT0 + 1, "failed", "no space"});
  store->add_status({"d1", kT0 + 2, "confirmed", ""});
  store->add_status({"d2", kT0 + 3, "rolled_back", "self-test failed"});
  store->add_status({"d2", kT0 + 3, "refused", "product_mismatch"});  // same second: insertion order
  store->add_status({"d1", kT0 + 4, "downloading", ""});
  EXPECT_EQ(show(store->recent_failures(10)),
            show(std::vector<StatusEvent>{{"d2", kT0 + 3, "refused", "product_mismatch"},
                  {"d2", kT0 + 3, "rolled_back", "self-test failed"},
                  {"d1", kT0 + 1, "failed", "no space"}}));
  EXPECT_EQ(show(store->recent_failures(1)), show(std::vector<StatusEvent>{{"d2", kT0 + 3, "refused", "product_mismatch"}}));
  EXPECT_TRUE(store->recent_failures(0).empty());
}

TEST_P(StoreTest, LatestStatesAreEachDevicesNewestReportWhateverItsTime) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  ASSERT_TRUE(store->insert_device(dev("d3")));
  store->add_status({"d1", kT0 + 5, "downloading", ""});
  store->add_status({"d1", kT0 + 1, "failed", "no space"});  // received last, stamped earlier
  store->add_status({"d2", kT0 + 3, "rolled_back", "self-test failed"});
  store->add_status({"d2", kT0 + 3, "confirmed", ""});  // same second: insertion order
  EXPECT_EQ(store->latest_states(),
            (std::map<std::string, std::string>{{"d1", "failed"}, {"d2", "confirmed"}}));
  EXPECT_EQ(store->latest_state("d1"), std::optional<std::string>("failed"));
  EXPECT_EQ(store->latest_state("d2"), std::optional<std::string>("confirmed"));
  EXPECT_EQ(store->latest_state("d3"), std::nullopt);
  EXPECT_EQ(store->latest_state("nobody"), std::nullopt);
}

TEST_P(StoreTest, DownloadsAreCountedPerDevice) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->insert_device(dev("d2")));
  EXPECT_EQ(store->download_counts("d1").requests, 0u);  // never counted
  store->count_download("d1", 4096, false);
  store->count_download("d1", 1000, true);
  store->count_download("d2", 7, false);
  DownloadCounts c = store->download_counts("d1");
  EXPECT_EQ(c.requests, 2u);
  EXPECT_EQ(c.bytes, 5096u);
  EXPECT_EQ(c.resumes, 1u);
  EXPECT_EQ(store->download_counts("d2").bytes, 7u);
  EXPECT_EQ(store->download_counts("nobody").requests, 0u);
  EXPECT_EQ(message_of([&] { store->count_download("nobody", 1, false); }),
            "store: count_download: unknown device 'nobody'");
  // Kept in the database, not in the store object.
  store.reset();
  EXPECT_EQ(open()->download_counts("d1").bytes, 5096u);
}

TEST_P(StoreTest, AuditLogOrderAndLimit) {
  auto store = open();
  EXPECT_TRUE(store->audit_log(10).empty());
  std::vector<AuditEvent> all;
  for (int i = 0; i < 12; ++i) {
    // Runs of three events per second.
    AuditEvent e{kT0 + i / 3, i % 2 ? "admin" : "ci-token", "action." + std::to_string(i),
                 "detail " + std::to_string(i)};
    store->add_audit(e);
    all.push_back(e);
  }
  EXPECT_EQ(show(store->audit_log(100)), show(all));
  EXPECT_EQ(show(store->audit_log(std::numeric_limits<size_t>::max())), show(all));
  EXPECT_EQ(show(store->audit_log(4)), show(std::vector(all.end() - 4, all.end())));
  EXPECT_EQ(show(store->audit_log(1)), show(std::vector{all.back()}));
  EXPECT_TRUE(store->audit_log(0).empty());
}

// --- hostile input ---

TEST_P(StoreTest, HostileStringsAreStoredVerbatim) {
  const std::vector<std::string> nasty = {
      "it's",
      "\"double\" and 'single' quotes",
      "'; DROP TABLE firmware; --",
      "\"); DELETE FROM devices; --",
      "x :v $1 ? %s %n {} \\ \\\\ \\'",
      "Grüße, 日本語, emoji \xF0\x9F\x9A\x80, RTL \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D",
      "tab\tnew\nline\rcarriage",
      std::string(300, 'q') + "'",
  };
  auto store = open();
  int n = 0;
  for (const std::string& s : nasty) {
    SCOPED_TRACE(s);
    const std::string id = s + "#" + std::to_string(n++);
    // The hostile string as a product name too (the store does not
    // validate names; the services do).
    store->ensure_product(s, kT0);
    EXPECT_EQ(store->product(s)->name, s);
    FirmwareRecord f = fw(id);
    f.product = s;
    f.sha256_hex = s;
    f.app_version = s;
    ASSERT_TRUE(store->insert_firmware(f));
    EXPECT_EQ(show(store->firmware(s, id)), show(f));
    EXPECT_EQ(show(store->firmware_by_sha256(s, s)), show(f));

    DeviceRecord d = dev(id);
    d.product = d.sealed_key_hex = d.token_hash_hex = d.running_version = d.running_sha256_hex = s;
    ASSERT_TRUE(store->insert_device(d));
    EXPECT_EQ(show(store->device(id)), show(d));
    ASSERT_TRUE(store->touch_device(id, kT0, s + "v", s + "h"));
    d.last_seen = kT0;
    d.running_version = s + "v";
    d.running_sha256_hex = s + "h";
    EXPECT_EQ(show(store->device(id)), show(d));

    PatchRecord p = patch_of(id, id);
    p.product = s;
    p.sha256_hex = s;
    store->put_patch(p);
    EXPECT_EQ(show(store->patch(s, id, id)), show(p));

    UpdateAssignment a{id, s, s, id, kT0};
    store->assign_update(a);
    EXPECT_EQ(show(store->assignment(id)), show(a));

    StatusEvent e{id, kT0, s, s};
    store->add_status(e);
    EXPECT_EQ(show(store->status_history(id)), show(std::vector{e}));

    AuditEvent au{kT0, s, s, s};
    store->add_audit(au);
    EXPECT_EQ(show(store->audit_log(1)), show(std::vector{au}));
  }
  EXPECT_EQ(store->list_firmware().size(), nasty.size()) << "no table was dropped";
  EXPECT_EQ(store->list_devices().size(), nasty.size());
}

TEST_P(StoreTest, DatabaseErrorsNameTheOperationNotTheSqlOrValues) {
  auto store = open();
  *raw() << "DROP TABLE audit_events";
  const std::string msg =
      message_of([&] { store->add_audit({kT0, "admin", "secret-action", "SECRET-VALUE"}); });
  EXPECT_EQ(msg.rfind("store: add_audit: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("SECRET"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("secret-action"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("INSERT"), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  // The store keeps working for everything else.
  EXPECT_TRUE(store->insert_firmware(fw("1.0")));
}

// --- concurrency ---

TEST_P(StoreTest, ConcurrentMixedWritesAndReads) {
  // Two Store objects on one database (two servers), two threads on each.
  auto first = open();
  auto second = open();
  constexpr int kThreads = 4, kOps = 200;
  std::atomic<int> failures{0};
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 ? *second : *first;
      try {
        for (int i = 0; i < kOps; ++i) {
          const std::string tag = std::to_string(t) + "-" + std::to_string(i);
          switch (i % 5) {
            case 0:
              if (!store.insert_firmware(fw("v" + tag, kT0 + i))) throw StoreError("lost " + tag);
              break;
            case 1:
              if (!store.insert_device(dev("d" + tag, kT0 + i))) throw StoreError("lost " + tag);
              break;
            case 2:
              store.add_audit({kT0 + i / 10, "t" + std::to_string(t), "op", tag});
              break;
            case 3:
              store.add_status({"d" + std::to_string(t) + "-" + std::to_string(i - 2), kT0 + i,
                                "downloading", tag});
              break;
            default:
              if (!store.firmware("wled", "v" + std::to_string(t) + "-" + std::to_string(i - 4)))
                throw StoreError("unreadable " + tag);
              store.list_devices();
              store.audit_log(5);
          }
        }
      } catch (const std::exception& e) {
        ++failures;
        errors[t] = e.what();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  ASSERT_EQ(failures.load(), 0);

  const size_t per_kind = kThreads * kOps / 5;
  EXPECT_EQ(first->list_firmware().size(), per_kind);
  EXPECT_EQ(second->list_devices().size(), per_kind);
  auto audit = first->audit_log(100000);
  ASSERT_EQ(audit.size(), per_kind);
  std::set<std::string> tags;
  for (const AuditEvent& e : audit) tags.insert(e.detail);
  EXPECT_EQ(tags.size(), per_kind) << "every event once";
  // Per thread, events keep their order (they are newest last by (at, seq)).
  for (int t = 0; t < kThreads; ++t) {
    int last = -1;
    for (const AuditEvent& e : audit) {
      if (e.actor != "t" + std::to_string(t)) continue;
      int i = std::stoi(e.detail.substr(e.detail.find('-') + 1));
      EXPECT_GT(i, last);
      last = i;
    }
  }
  size_t statuses = 0;
  for (const DeviceRecord& d : first->list_devices())
    statuses += first->status_history(d.device_id).size();
  EXPECT_EQ(statuses, per_kind);
}

// A write waits for another connection's write lock (another server's)
// for 5 s at most, then fails with the database's reason; the store goes
// on once the lock is gone.
TEST_P(StoreSqliteTest, WriteLockWaitIsBounded) {
  auto store = open();
  auto locker = raw();
  *locker << "BEGIN IMMEDIATE";
  const auto start = std::chrono::steady_clock::now();
  const std::string why = message_of([&] { store->insert_device(dev("d1")); });
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(why.find("database is locked"), std::string::npos) << why;
  EXPECT_GE(waited, 4.9) << "gave up before the 5 s bound";
  EXPECT_LT(waited, 30.0) << "waited without bound";
  *locker << "COMMIT";
  EXPECT_TRUE(store->insert_device(dev("d1")));
}

// SQLite's pool: while one call waits for the write lock (held here by
// another connection, as another server would), the pool's other
// connections go on reading; with one connection every call would queue
// behind the waiting writer. The writer gets the lock once it is free.
TEST_P(StoreSqliteTest, PoolReadsWhileAWriterWaitsForTheLock) {
  Store::Options options;
  options.pool_size = 2;
  auto store = Store::open(url_, options);
  store->ensure_product("wled", kT0);
  ASSERT_TRUE(store->insert_device(dev("d0")));

  auto locker = raw();
  *locker << "BEGIN IMMEDIATE";
  std::atomic<bool> written{false};
  std::string writer_error;
  std::thread writer([&] {
    try {
      written = store->insert_device(dev("d1"));
    } catch (const std::exception& e) {
      writer_error = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the writer now waits for the lock
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(store->device("d0")) << "read " << i;
  EXPECT_EQ(store->list_devices().size(), 1u) << "the waiting write is not visible yet";
  const double read_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_FALSE(written.load()) << "the writer must still be waiting";
  *locker << "COMMIT";
  writer.join();
  EXPECT_EQ(writer_error, "");
  EXPECT_TRUE(written.load());
  EXPECT_LT(read_seconds, 2.5) << "reads did not wait for the writer's lock";
  EXPECT_TRUE(store->device("d1")) << "the write is visible on every connection";
}

TEST_P(StoreTest, ConcurrentReadsOnPreparedStatementsGetTheirOwnRows) {
  // The hot calls reuse each connection's prepared statements and their
  // bound variables: threads taking turns on them must never see another
  // thread's key or row.
  auto store = open();
  constexpr int kThreads = 8, kOps = 150;
  for (int t = 0; t < kThreads; ++t) {
    const std::string v = "1." + std::to_string(t), product = "product-" + std::to_string(t);
    store->ensure_product(product, kT0);
    FirmwareRecord f = fw(v, kT0 + t);
    f.product = product;
    ASSERT_TRUE(store->insert_firmware(f));
    DeviceRecord d = dev("d" + std::to_string(t), kT0 + t);
    d.product = product;
    d.security_counter = 100 + t;
    ASSERT_TRUE(store->insert_device(d));
    if (t % 2 == 0) store->assign_update({d.device_id, product, "1.0", v, kT0 + t});
  }
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string id = "d" + std::to_string(t), v = "1." + std::to_string(t);
      auto fail = [&](const std::string& what) {
        if (errors[t].empty()) errors[t] = id + ": " + what;
      };
      try {
        for (int i = 0; i < kOps && errors[t].empty(); ++i) {
          auto d = store->device(id);
          if (!d || d->product != "product-" + std::to_string(t) ||
              d->security_counter != uint32_t(100 + t))
            fail("device() " + show(d));
          auto a = store->assignment(id);
          if ((t % 2 == 0) != a.has_value() || (a && (a->device_id != id || a->new_version != v)))
            fail("assignment() " + show(a));
          auto view = store->check_in_view(id);
          if (!view || view->device.device_id != id || show(view->assignment) != show(a))
            fail("check_in_view() " + (view ? show(*view) : "(none)"));
          auto f = store->firmware("product-" + std::to_string(t), v);
          if (!f || f->version != v || f->created_at != kT0 + t) fail("firmware() " + show(f));
          if (store->device("ghost-" + id) || store->check_in_view("ghost-" + id))
            fail("a missing device was found");
          const std::string running = std::to_string(t) + "." + std::to_string(i);
          if (!store->touch_device(id, kT0 + 1000 + i, running, hex64(running)))
            fail("touch_device() found no row");
          d = store->device(id);
          if (!d || d->running_version != running || d->last_seen != kT0 + 1000 + i ||
              d->running_sha256_hex != hex64(running))
            fail("device() after touch " + show(d));
        }
      } catch (const std::exception& e) {
        fail(e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
  for (int t = 0; t < kThreads; ++t) {
    auto d = store->device("d" + std::to_string(t));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->running_version, std::to_string(t) + "." + std::to_string(kOps - 1));
  }
}

TEST_P(StoreTest, PreparedStatementsSeeOtherWritersAndHoldNoSnapshot) {
  // A reused statement must not keep its connection in a read transaction
  // between calls (on SQLite, one stopped at a row would): it would read an
  // old snapshot, refuse the connection's next write, block checkpoints.
  auto first = open();
  auto second = open();
  ASSERT_TRUE(first->insert_firmware(fw("1.0")));
  ASSERT_TRUE(first->insert_firmware(fw("1.1")));
  ASSERT_TRUE(first->insert_device(dev("d1")));
  first->assign_update({"d1", "wled", "1.0", "1.1", kT0});
  ASSERT_TRUE(first->device("d1"));
  ASSERT_TRUE(first->assignment("d1"));
  ASSERT_TRUE(first->check_in_view("d1"));
  ASSERT_TRUE(first->firmware("wled", "1.0"));

  ASSERT_TRUE(second->touch_device("d1", kT0 + 5, "1.1", hex64("image 1.1")));
  ASSERT_TRUE(second->clear_assignment("d1"));
  EXPECT_EQ(first->device("d1")->running_version, "1.1");
  EXPECT_FALSE(first->assignment("d1"));
  EXPECT_FALSE(first->check_in_view("d1")->assignment);
  // The reading connection can still write (no stale snapshot to upgrade).
  EXPECT_TRUE(first->touch_device("d1", kT0 + 6, "1.0", hex64("image 1.0")));
  EXPECT_TRUE(first->insert_firmware(fw("1.2")));
  EXPECT_EQ(second->device("d1")->running_version, "1.0");
  EXPECT_TRUE(second->firmware("wled", "1.2"));

  if (sqlite()) {
    // No reader left: a TRUNCATE checkpoint completes (busy = 0).
    ASSERT_TRUE(first->firmware("wled", "1.2"));
    ASSERT_TRUE(first->check_in_view("d1"));
    int busy = -1, log = -1, done = -1;
    *raw() << "PRAGMA wal_checkpoint(TRUNCATE)", soci::into(busy), soci::into(log),
        soci::into(done);
    EXPECT_EQ(busy, 0);
  }
}

TEST_P(StoreTest, AFailedCallDropsPreparedStatementsAndTheStoreRecovers) {
  auto store = open();
  ASSERT_TRUE(store->insert_firmware(fw("1.0")));
  ASSERT_TRUE(store->insert_device(dev("d1")));
  ASSERT_TRUE(store->device("d1"));
  ASSERT_TRUE(store->check_in_view("d1"));
  // The prepared statements' table goes away, then comes back (empty).
  *raw() << "ALTER TABLE assignments RENAME TO assignments_away";
  const std::string msg = message_of([&] { store->check_in_view("d1"); });
  EXPECT_EQ(msg.rfind("store: check_in_view: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("SELECT"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("d1"), std::string::npos) << msg;
  EXPECT_TRUE(store->device("d1")) << "other statements still work";
  *raw() << "ALTER TABLE assignments_away RENAME TO assignments";
  auto view = store->check_in_view("d1");
  ASSERT_TRUE(view);
  EXPECT_FALSE(view->assignment);
  store->assign_update({"d1", "wled", "", "1.0", kT0});
  EXPECT_EQ(store->check_in_view("d1")->assignment->new_version, "1.0");
}

// The pool's size is the number of connections the store holds, and the
// statement timeout bounds a statement that waits on a lock: it fails with
// a StoreError that says so, and the store goes on once the lock is gone.
// The options are added to the URL's own (its search_path stays).
TEST_P(StorePostgresTest, PoolSizeAndStatementTimeoutAreTheConnections) {
  auto connections = [&] {
    long long n = -1;
    *raw() << "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = :a AND pid <> pg_backend_pid()",
        soci::use(schema_, "a"), soci::into(n);
    return n;
  };
  {
    auto store = open();
    EXPECT_EQ(connections(), static_cast<long long>(Store::kDefaultPostgresPool));
  }
  Store::Options options;
  options.pool_size = 3;
  options.statement_timeout_ms = 300;
  auto store = Store::open(url_, options);
  EXPECT_EQ(connections(), 3);
  long long in_schema = 0;
  *raw() << "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = :s AND table_name = 'devices'",
      soci::use(schema_, "s"), soci::into(in_schema);
  EXPECT_EQ(in_schema, 1) << "the URL's search_path was kept";

  auto locker = raw();
  soci::transaction lock(*locker);
  *locker << "LOCK TABLE devices IN ACCESS EXCLUSIVE MODE";
  const std::string why = message_of([&] { store->insert_device(dev("d1")); });
  EXPECT_NE(why.find("statement timeout"), std::string::npos) << why;
  lock.rollback();
  EXPECT_TRUE(store->insert_device(dev("d1"))) << "the store goes on once the lock is gone";

  options.statement_timeout_ms = 0;
  options.pool_size = 1;
  EXPECT_EQ(Store::open(url_, options)->device("d1")->device_id, "d1") << "0: no timeout";
  options.pool_size = 257;
  EXPECT_EQ(message_of([&] { Store::open(url_, options); }), "store: the PostgreSQL pool size must be 1..256");
  options.pool_size = 2;
  options.statement_timeout_ms = -1;
  EXPECT_EQ(message_of([&] { Store::open(url_, options); }),
            "store: the statement timeout must be 0 (none) to 86,400,000 ms");
}

TEST_P(StoreSqliteTest, RefusesPostgresOptions) {
  Store::Options pool;
  pool.pool_size = 0;
  EXPECT_EQ(message_of([&] { Store::open(url_, pool); }), "store: the SQLite pool size must be 1..256");
  pool.pool_size = 257;
  EXPECT_EQ(message_of([&] { Store::open(url_, pool); }), "store: the SQLite pool size must be 1..256");
  pool.pool_size = 2;
  EXPECT_EQ(message_of([&] { Store::open("sqlite3://:memory:", pool); }),
            "store: an in-memory SQLite database has one connection (pool size 1)");
  EXPECT_EQ(Store::open("sqlite3://:memory:")->schema_version(), sd::latest_schema_version())
      << "an in-memory database gets its one connection by default";
  Store::Options timeout;
  timeout.statement_timeout_ms = 1000;
  EXPECT_EQ(message_of([&] { Store::open(url_, timeout); }),
            "store: a statement timeout is for PostgreSQL (SQLite waits at most 5 s for its lock)");
  EXPECT_FALSE(fs::exists(db_path_)) << "refused before the database was made";
}

TEST_P(StorePostgresTest, ReconnectsAfterTheServerDropsItsConnections) {
  auto store = open();
  ASSERT_TRUE(store->insert_firmware(fw("1.0")));
  ASSERT_TRUE(store->insert_device(dev("d1")));
  // Prepared statements on (likely) every pooled connection: their server
  // side goes with the connection, and they must be remade on the new one.
  {
    std::vector<std::thread> warm;
    for (int t = 0; t < 8; ++t)
      warm.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          store->device("d1");
          store->check_in_view("d1");
          store->assignment("d1");
          store->firmware("wled", "1.0");
          store->touch_device("d1", kT0 + i, "1.0", hex64("image 1.0"));
        }
      });
    for (auto& th : warm) th.join();
  }
  try {
    *raw() << "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
              " WHERE pid <> pg_backend_pid() AND application_name = :a",
        soci::use(schema_, "a");
  } catch (const soci::soci_error& e) {
    // The suite's own cluster makes us a superuser; another server may not.
    if (test::postgres_required()) GTEST_FAIL() << "cannot terminate connections: " << e.get_error_message();
    GTEST_SKIP() << "cannot terminate connections here: " << e.get_error_message();
  }
  // Each pooled connection may fail once (a StoreError), then is reopened.
  int failures = 0;
  for (int i = 0; i < 8; ++i) {
    try {
      store->list_firmware();
    } catch (const StoreError&) {
      ++failures;
    }
  }
  EXPECT_LE(failures, 4);
  EXPECT_EQ(store->list_firmware().size(), 1u);
  EXPECT_TRUE(store->insert_firmware(fw("1.1")));
  // The prepared-statement calls work on every connection, from several
  // threads at once: those not used since the drop fail once each (as
  // StoreErrors), then are reopened; no call returns a wrong answer.
  auto hammer = [&](std::atomic<int>& errors, std::atomic<int>& wrong) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0; i < 50; ++i) {
          try {
            if (!store->device("d1") || !store->check_in_view("d1") || store->assignment("d1") ||
                !store->firmware("wled", "1.1") ||
                !store->touch_device("d1", kT0 + 100 + i, "1." + std::to_string(t), ""))
              ++wrong;
          } catch (const StoreError&) {
            ++errors;
          }
        }
      });
    for (auto& th : threads) th.join();
  };
  std::atomic<int> errors{0}, wrong{0};
  hammer(errors, wrong);
  EXPECT_LE(errors.load(), 3) << "connection 0 was reopened above";
  EXPECT_EQ(wrong.load(), 0);
  errors = 0;
  hammer(errors, wrong);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wrong.load(), 0);
  // And after a second drop, each connection again fails at most once.
  *raw() << "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE pid <> pg_backend_pid() AND application_name = :a",
      soci::use(schema_, "a");
  failures = 0;
  for (int i = 0; i < 8; ++i) {
    try {
      store->check_in_view("d1");
    } catch (const StoreError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("store: check_in_view: ", 0), 0u) << e.what();
      ++failures;
    }
  }
  EXPECT_LE(failures, 4);
  EXPECT_TRUE(store->check_in_view("d1"));
  EXPECT_TRUE(store->device("d1"));
}

// --- failures in the middle of a write ---

TEST_P(StoreTest, AThrowMidWriteLeavesNoHalfRow) {
  auto store = open();
  ASSERT_TRUE(store->insert_device(dev("d1")));
  store->add_status({"d1", kT0, "downloading", ""});
  store->add_audit({kT0, "admin", "first", ""});
  {
    ScopedHook hook(throw_at, "add_status:inserted");
    EXPECT_ANY_THROW(store->add_status({"d1", kT0, "applying", "half"}));
  }
  {
    ScopedHook hook(throw_at, "add_audit:inserted");
    EXPECT_ANY_THROW(store->add_audit({kT0, "admin", "second", "half"}));
  }
  {
    ScopedHook hook(throw_at, "insert_firmware:sequenced");
    EXPECT_ANY_THROW(store->insert_firmware(fw("2.0")));
  }
  {
    ScopedHook hook(throw_at, "insert_device:sequenced");
    EXPECT_ANY_THROW(store->insert_device(dev("d2")));
  }
  ASSERT_TRUE(store->insert_firmware(fw("1.0")));
  {
    ScopedHook hook(throw_at, "delete_firmware:checked");
    EXPECT_ANY_THROW(store->delete_firmware("wled", "1.0"));
  }
  EXPECT_EQ(store->status_history("d1").size(), 1u);
  EXPECT_EQ(store->audit_log(10).size(), 1u);
  EXPECT_FALSE(store->firmware("wled", "2.0"));
  EXPECT_FALSE(store->device("d2"));
  EXPECT_TRUE(store->firmware("wled", "1.0"));

  // The store is usable afterwards, and the order still holds.
  store->add_status({"d1", kT0, "applying", "after"});
  store->add_audit({kT0, "admin", "after", ""});
  ASSERT_TRUE(store->insert_firmware(fw("2.0")));
  auto history = store->status_history("d1");
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[1].detail, "after");
  auto audit = store->audit_log(10);
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[1].action, "after");
}

TEST_P(StoreTest, AProcessDyingMidWriteLeavesNoHalfRow) {
  // fork() without re-running the test: the child must use this test's
  // database, not set up one of its own.
  GTEST_FLAG_SET(death_test_style, "fast");
  {
    auto store = open();
    ASSERT_TRUE(store->insert_device(dev("d1")));
    store->add_audit({kT0, "admin", "before", ""});
  }
  // The child dies with its transaction open: after the row was written and
  // before COMMIT.
  EXPECT_EXIT(
      {
        auto store = open();
        ScopedHook hook(exit_at, "add_audit:inserted");
        store->add_audit({kT0 + 1, "admin", "torn", ""});
      },
      ::testing::ExitedWithCode(3), "");
  EXPECT_EXIT(
      {
        auto store = open();
        ScopedHook hook(exit_at, "add_status:inserted");
        store->add_status({"d1", kT0 + 1, "torn", ""});
      },
      ::testing::ExitedWithCode(3), "");
  auto store = open();
  auto audit = store->audit_log(10);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "before");
  EXPECT_TRUE(store->status_history("d1").empty());
  store->add_audit({kT0 + 2, "admin", "after", ""});
  EXPECT_EQ(store->audit_log(10).size(), 2u);
}

TEST_P(StoreTest, AProcessDyingMidMigrationLeavesAnEmptyDatabase) {
  GTEST_FLAG_SET(death_test_style, "fast");
  EXPECT_EXIT(
      {
        ScopedHook hook(exit_at, "migrate:1:10");
        open();
      },
      ::testing::ExitedWithCode(3), "");
  auto store = open();
  EXPECT_EQ(store->schema_version(), sd::latest_schema_version());
  EXPECT_TRUE(store->insert_firmware(fw("1.0")));
}

// --- URLs (no database needed) ---

TEST(StoreUrl, Forms) {
  EXPECT_EQ(sd::parse_url("sqlite3:///var/lib/ota/ota.db").location, "/var/lib/ota/ota.db");
  EXPECT_EQ(sd::parse_url("sqlite3://rel/ota.db").location, "rel/ota.db");
  EXPECT_EQ(sd::parse_url("/srv/x y=z.db").backend, sd::Backend::sqlite);
  EXPECT_EQ(sd::parse_url("/srv/x y=z.db").location, "/srv/x y=z.db");

  // Both PostgreSQL forms become a keyword string with quoted, escaped
  // values (in libpq's own order, so checked piece by piece).
  auto has_all = [](const std::string& conninfo, std::vector<std::string> pieces) {
    size_t total = 0;
    for (const std::string& p : pieces) {
      if (conninfo.find(p) == std::string::npos) return ::testing::AssertionFailure() << p;
      total += p.size() + 1;
    }
    if (total != conninfo.size() + 1) return ::testing::AssertionFailure() << "extra options";
    return ::testing::AssertionSuccess();
  };
  sd::Target kw = sd::parse_url("postgresql://dbname=ota user=ota host=db");
  EXPECT_EQ(kw.backend, sd::Backend::postgresql);
  EXPECT_TRUE(has_all(kw.location, {"user='ota'", "host='db'", "dbname='ota'"})) << kw.location;
  sd::Target uri = sd::parse_url("postgres://o%27ta:p%5Cw@db:5433/ota?sslmode=require");
  EXPECT_EQ(uri.backend, sd::Backend::postgresql);
  EXPECT_TRUE(has_all(uri.location, {"user='o\\'ta'", "password='p\\\\w'", "host='db'",
                                     "port='5433'", "dbname='ota'", "sslmode='require'"}))
      << uri.location;
}

TEST(StoreUrl, BadOnesAreRefusedClearly) {
  EXPECT_EQ(message_of([] { sd::parse_url(""); }), "store: empty database URL");
  EXPECT_EQ(message_of([] { sd::parse_url("sqlite3://"); }),
            "store: the SQLite URL names no file");
  EXPECT_EQ(message_of([] { sd::parse_url("mysql://x"); }),
            "store: unsupported database URL scheme (use sqlite3:// or postgresql://)");
  EXPECT_EQ(message_of([] { sd::parse_url("a\"b.db"); }),
            "store: SQLite file names may not contain '\"'");
  std::string bad = message_of([] { sd::parse_url("postgresql://u:hunter2@h/db?bogus=1"); });
  EXPECT_EQ(bad.rfind("store: invalid PostgreSQL URL: ", 0), 0u) << bad;
  EXPECT_EQ(bad.find("hunter2"), std::string::npos) << bad;
}

TEST(StoreUrl, UnreachablePostgresIsAStoreError) {
  std::string msg =
      message_of([] { Store::open("postgresql://ota:hunter2@127.0.0.1:1/ota?connect_timeout=2"); });
  EXPECT_EQ(msg.rfind("store: connect to PostgreSQL: ", 0), 0u) << msg;
  EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
}

}  // namespace
}  // namespace ota::server
