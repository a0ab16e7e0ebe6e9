// ota-store-bench: CPU cost of the database calls on the device check-in
// path (GET /check_update/), on SQLite in a temporary directory: device(),
// assignment(), check_in_view() (both in one query), touch_device(), and
// firmware(). One device with an assignment, one firmware version; the
// database is as small as it gets, so this measures per-call overhead
// (statement preparation, pool lease, row conversion), not the search.
//
// Optional argument --store=URL (before Google Benchmark's own flags) runs
// the same calls against another database, e.g. a PostgreSQL server (its
// rows are added if missing and left there).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ota/server/store.h"

namespace {

namespace fs = std::filesystem;
using ota::server::DeviceRecord;
using ota::server::FirmwareRecord;
using ota::server::Store;
using ota::server::UpdateAssignment;

const char* const kDevice = "esp32_bench_01";
std::string g_url;  // set in main()
std::unique_ptr<Store> g_store;

Store& store() {
  if (g_store) return *g_store;
  g_store = [] {
    auto st = Store::open(g_url);
    st->ensure_product("demo", 1700000000);
    FirmwareRecord f;
    f.product = "demo";
    f.chip_id = 9;
    f.size = 1 << 20;
    f.sha256_hex = std::string(64, 'a');
    f.app_version = "1.0";
    f.created_at = 1700000000;
    for (const char* v : {"1.0", "1.1"}) {
      f.version = v;
      st->insert_firmware(f);
    }
    DeviceRecord d;
    d.device_id = kDevice;
    d.product = "demo";
    d.sealed_key_hex = std::string(96, 'b');
    d.token_hash_hex = std::string(64, 'c');
    d.created_at = 1700000000;
    d.running_version = "1.0";
    d.running_sha256_hex = std::string(64, 'a');
    st->insert_device(d);
    st->assign_update(UpdateAssignment{kDevice, "demo", "1.0", "1.1", 1700000001});
    return st;
  }();
  return *g_store;
}

void BM_Device(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) benchmark::DoNotOptimize(s.device(kDevice));
}
BENCHMARK(BM_Device);

void BM_DeviceMissing(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) benchmark::DoNotOptimize(s.device("no_such_device"));
}
BENCHMARK(BM_DeviceMissing);

void BM_Assignment(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) benchmark::DoNotOptimize(s.assignment(kDevice));
}
BENCHMARK(BM_Assignment);

void BM_CheckInView(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) benchmark::DoNotOptimize(s.check_in_view(kDevice));
}
BENCHMARK(BM_CheckInView);

// What UpdateService::check() does today without writing: two reads.
void BM_DeviceThenAssignment(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) {
    benchmark::DoNotOptimize(s.device(kDevice));
    benchmark::DoNotOptimize(s.assignment(kDevice));
  }
}
BENCHMARK(BM_DeviceThenAssignment);

void BM_Firmware(benchmark::State& state) {
  Store& s = store();
  for (auto _ : state) benchmark::DoNotOptimize(s.firmware("demo", "1.1"));
}
BENCHMARK(BM_Firmware);

// The check-in's other read: which firmware the device's image is.
void BM_FirmwareBySha256(benchmark::State& state) {
  Store& s = store();
  const std::string digest(64, 'a');
  for (auto _ : state) benchmark::DoNotOptimize(s.firmware_by_sha256("demo", digest));
}
BENCHMARK(BM_FirmwareBySha256);

// A write (on SQLite in WAL mode: a commit, no fsync per commit beyond the
// WAL's synchronous setting); the check-in does it at most once a minute
// per device, or when the device reports a new version.
void BM_TouchDevice(benchmark::State& state) {
  Store& s = store();
  int64_t at = 1700000100;
  const std::string version = "1.0", sha(64, 'a');
  for (auto _ : state) benchmark::DoNotOptimize(s.touch_device(kDevice, ++at, version, sha));
}
BENCHMARK(BM_TouchDevice);

}  // namespace

int main(int argc, char** argv) {
  fs::path dir;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::strncmp(argv[i], "--store=", 8) == 0)
      g_url = argv[i] + 8;
    else
      args.push_back(argv[i]);
  }
  if (g_url.empty()) {
    char tmpl[] = "/tmp/ota-store-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
    g_url = "sqlite3://" + (dir / "ota.db").string();
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  int rc = 0;
  try {
    benchmark::RunSpecifiedBenchmarks();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ota-store-bench: %s\n", e.what());
    rc = 1;
  }
  benchmark::Shutdown();
  g_store.reset();
  if (!dir.empty()) {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  return rc;
}
