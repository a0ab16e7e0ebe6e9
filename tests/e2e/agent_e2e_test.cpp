// End to end: a real ota-server process over TLS on loopback, and simulated
// devices (the device agent on the POSIX ports, tools/ota-sim) updating
// with real corpus firmware (or synthetic ESP32 apps without the corpus).
// Every scenario checks three views: the device's summary, what its flash
// would boot (the slot the simulated bootloader starts, its image compared
// byte for byte with the firmware file; see inspect_flash), and the
// server's (status history, running_version).
//
// One server per fixture (SetUpTestSuite); every test uses its own device
// ids. Set OTA_E2E_FIRMWARE=synthetic to use the synthetic firmware even
// when the corpus is present, OTA_E2E_KEEP=1 to keep the temporary
// directory (server data, bundles, device states and logs).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "e2e_support.h"
#include "sim_device.h"
#include "test_support.h"

namespace ota::e2e {
namespace {

using sim::SimConfig;
using sim::SimDevice;
using sim::SimSummary;

const char kAdminToken[] = "e2e-admin-token-0123456789abcdef";

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// `want` appears in `v` in this order (other entries may come between).
bool in_order(const std::vector<std::string>& v, const std::vector<std::string>& want) {
  size_t k = 0;
  for (const auto& x : v)
    if (k < want.size() && x == want[k]) ++k;
  return k == want.size();
}

size_t count_of(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<size_t>(std::count(v.begin(), v.end(), x));
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// --- A simulated device ------------------------------------------------------------

struct DeviceOptions {
  bool assign = true;
  std::string version = "1.0.1";
  fs::path bundle_ca;                         // default: the server's certificate
  bool mitm = false;                          // put the Mitm between agent and transport
  std::function<void(SimConfig&)> tune;       // anything else

  DeviceOptions& man_in_the_middle() {
    mitm = true;
    return *this;
  }
  DeviceOptions& trusting(fs::path ca) {
    bundle_ca = std::move(ca);
    return *this;
  }
  DeviceOptions& unassigned() {
    assign = false;
    return *this;
  }
  DeviceOptions& config(std::function<void(SimConfig&)> f) {
    tune = std::move(f);
    return *this;
  }
};

struct Device {
  ProvisionedDevice p;
  fs::path state_dir, log_path;
  FILE* log = nullptr;
  Mitm mitm;
  SimConfig cfg;
  std::unique_ptr<SimDevice> sim;
  posix::OtadataDump factory_otadata;  // right after the device was made

  ~Device() {
    sim.reset();
    if (log) std::fclose(log);
  }
  SimSummary run() {
    SimSummary s = sim->run_once();
    std::fflush(log);
    std::printf("[ e2e      ] %-22s %s\n", p.id.c_str(), s.to_json().c_str());
    std::fflush(stdout);
    return s;
  }
  // The device's state lines so far (for failure messages).
  std::string lines() const {
    if (log) std::fflush(log);
    std::string s = "state lines of " + p.id + ":\n" + slurp(log_path);
    if (cfg.wrap_transport) s += "exchanges:\n" + mitm.describe_events();
    return s;
  }
};

// --- One server and what a fixture needs around it ------------------------------------

struct Suite {
  fs::path dir;
  fs::path cert, key;
  ServerProcess server;
  Admin admin;
  FirmwareSet fw;
  // The product the suite's devices and firmware are in: the images'
  // project name (the admin's choice), the default product for the
  // original endpoints.
  std::string product;
  std::string error;  // set when the suite could not start

  bool start(const std::string& tag, bool upload) {
    auto t0 = std::chrono::steady_clock::now();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    dir = test::make_temp_dir("e2e-" + tag);
    std::string err;
    fs::create_directories(dir / "firmware");
    if (!load_firmware(dir / "firmware", &fw, &err)) {
      error = err;
      return false;
    }
    if (product.empty()) product = fw.product;
    std::printf("[ e2e      ] firmware: %s\n[ e2e      ] product %s; 1.0.0 %zu bytes sha256 %s; 1.0.1 %zu bytes "
                "sha256 %s\n",
                fw.source.c_str(), fw.product.c_str(), fw.base.bytes.size(), fw.base.sha256.c_str(),
                fw.next.bytes.size(), fw.next.sha256.c_str());
    cert = dir / "tls" / "server.pem";
    key = dir / "tls" / "server.key";
    fs::create_directories(dir / "tls");
    if (!make_tls_cert(cert, key, &err)) {
      error = err;
      return false;
    }
    if (!server.start(dir / "server-data", dir / "server.log", kAdminToken, cert, key, &err) ||
        !server.wait_ready(cert.string(), 20000, &err)) {
      error = err;
      return false;
    }
    admin = Admin(server.url(), cert.string(), kAdminToken);
    std::printf("[ e2e      ] ota-server at %s (TLS, data in %s), ready after %.2f s\n", server.url().c_str(),
                (dir / "server-data").c_str(), seconds_since(t0));
    if (upload) {
      for (const Firmware* f : {&fw.base, &fw.next}) {
        nlohmann::json j = admin.upload_firmware(product, f->label, f->bytes, &err);
        if (j.is_null() || j.is_discarded()) {
          error = err;
          return false;
        }
        if (j.value("product", "") != product) {
          error = "firmware " + f->label + " stored for product " + j.value("product", "") + ", expected " + product;
          return false;
        }
      }
      std::printf("[ e2e      ] firmware uploaded after %.2f s\n", seconds_since(t0));
    }
    return true;
  }

  void stop() {
    if (server.port() != 0) {
      int code = server.stop();
      if (code != 0) std::printf("[ e2e      ] ota-server stopped with %d:\n%s\n", code, server.output().c_str());
    }
    const char* keep = std::getenv("OTA_E2E_KEEP");
    if (keep && *keep && std::string(keep) != "0") {
      std::printf("[ e2e      ] kept %s\n", dir.c_str());
    } else {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  }

  // Registers a device, writes its bundle, assigns the update and opens the
  // simulated device with `factory` flashed.
  std::unique_ptr<Device> device(const std::string& id, const Firmware& factory, const DeviceOptions& o,
                                 std::string* err) const {
    auto d = std::make_unique<Device>();
    fs::path ca = o.bundle_ca.empty() ? cert : o.bundle_ca;
    if (!admin.provision(id, product, dir / "bundles" / id, ca, &d->p, err)) return nullptr;
    if (o.assign && !admin.assign(id, o.version, err)) return nullptr;
    d->state_dir = dir / "devices" / id;
    d->log_path = dir / "logs" / (id + ".log");
    std::error_code ec;
    fs::create_directories(d->log_path.parent_path(), ec);
    d->log = std::fopen(d->log_path.c_str(), "w");
    if (!d->log) {
      *err = "cannot write " + d->log_path.string();
      return nullptr;
    }
    SimConfig& c = d->cfg;
    if (!sim::load_bundle(d->p.bundle_dir.string(), &c.bundle, err)) return nullptr;
    c.state_dir = d->state_dir.string();
    c.image_path = factory.path.string();
    c.version_label = factory.label;
    c.out = d->log;
    if (o.mitm) c.wrap_transport = d->mitm.hook();
    if (o.tune) o.tune(c);
    d->sim = SimDevice::open(c, err);
    if (!d->sim) return nullptr;
    d->factory_otadata = read_otadata(d->state_dir);
    return d;
  }

  // A check-in as the device (its token), the way the agent does it, with
  // the given nonce (and RAM budget); the server's answer once its patch is
  // built (while it answers retry_reason "building", asked again every
  // 100 ms, up to 120 s); null unless a 200 with JSON.
  nlohmann::json check_in(const ProvisionedDevice& p, const Firmware& running, const std::string& nonce_hex,
                          std::optional<uint32_t> ram_budget = std::nullopt) const {
    HttpClient dev = admin.http().with_bearer(p.token);
    nlohmann::json body = {{"version", running.label}, {"image_sha256", running.sha256}, {"nonce", nonce_hex}};
    if (ram_budget) body["ram_budget"] = *ram_budget;
    for (int i = 0;; ++i) {
      HttpResult r = dev.post("/api/v1/devices/" + p.id + "/check-in", body.dump(), "application/json");
      nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
      if (r.status != 200 || j.is_discarded()) return nlohmann::json(nullptr);
      if (j.value("retry_reason", "") != "building" || i == 1200) return j;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
};

std::string random_nonce_hex() {
  static std::mt19937_64 rng(std::random_device{}());
  uint8_t n[16];
  for (auto& b : n) b = static_cast<uint8_t>(rng());
  return to_hex(n, 16);
}

// What the device's flash would boot is exactly `fw`.
::testing::AssertionResult boots(const Device& d, const Firmware& fw) {
  BootView v = inspect_flash(d.state_dir);
  if (!v.ok) return ::testing::AssertionFailure() << d.p.id << ": " << v.error;
  if (v.image != fw.bytes)
    return ::testing::AssertionFailure()
           << d.p.id << " would boot slot " << v.slot << " (" << posix::image_state_name(v.state) << ", "
           << v.image.size() << " bytes, sha256 " << sha256_hex(v.image) << "), not " << fw.label << " (sha256 "
           << fw.sha256 << "); otadata: " << v.otadata.describe();
  return ::testing::AssertionSuccess();
}

// The device boots `fw` and its otadata is as it was when the device was made.
::testing::AssertionResult untouched(const Device& d, const Firmware& fw) {
  ::testing::AssertionResult b = boots(d, fw);
  if (!b) return b;
  posix::OtadataDump now = read_otadata(d.state_dir);
  if (!same_otadata(now, d.factory_otadata))
    return ::testing::AssertionFailure() << d.p.id << ": otadata changed: was " << d.factory_otadata.describe()
                                         << ", now " << now.describe();
  return ::testing::AssertionSuccess();
}

#define MAKE_DEVICE(var, suite, id, factory, opts)                       \
  std::string var##_err;                                                 \
  auto var = (suite)->device((id), (factory), (opts), &var##_err);       \
  ASSERT_TRUE(var) << "device " << (id) << ": " << var##_err

// =====================================================================================
// The versioned API, over TLS.

class e2e_agent : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    s_ = new Suite;
    s_->start("agent", true);
  }
  static void TearDownTestSuite() {
    s_->stop();
    delete s_;
    s_ = nullptr;
  }

 protected:
  void SetUp() override { ASSERT_TRUE(s_->error.empty()) << "suite setup failed: " << s_->error; }
  const FirmwareSet& fw() const { return s_->fw; }
  // The record stream a device running `from` gets for 1.0.1 (a check-in
  // the test makes with the device's token; the release is made once).
  uint64_t stream_size(const Device& d, const Firmware& from) const {
    nlohmann::json j = s_->check_in(d.p, from, random_nonce_hex());
    return j.is_object() && j.value("update", false) ? j.value("size", uint64_t{0}) : 0;
  }
  static Suite* s_;
};
Suite* e2e_agent::s_ = nullptr;

// 1. A delta update: the stream is a small fraction of the image; the
// server saw every step; a second check-in offers nothing.
TEST_F(e2e_agent, DeltaUpdate) {
  MAKE_DEVICE(d, s_, "delta-1", fw().base, DeviceOptions{});
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.version, "1.0.1");
  EXPECT_EQ(s.image_sha256, fw().next.sha256);
  EXPECT_GT(s.stream_size, 0u);
  EXPECT_LT(s.stream_size, fw().next.bytes.size() / 4) << "a delta is much smaller than the image";
  EXPECT_EQ(s.bytes_downloaded, s.stream_size);
  EXPECT_EQ(s.resumes, 0u);
  EXPECT_EQ(s.resets, 0u);
  EXPECT_TRUE(contains(s.reported, "confirmed")) << join(s.reported);
  EXPECT_TRUE(boots(*d, fw().next));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(in_order(h, {"downloading", "applying", "rebooting", "confirmed"})) << join(h);
  EXPECT_FALSE(contains(h, "failed")) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.1");
  std::printf("[ e2e      ] delta: stream %llu bytes for a %zu-byte image (%.1f%%)\n",
              static_cast<unsigned long long>(s.stream_size), fw().next.bytes.size(),
              100.0 * static_cast<double>(s.stream_size) / static_cast<double>(fw().next.bytes.size()));

  SimSummary again = d->run();
  EXPECT_EQ(again.outcome, "up_to_date") << d->lines();
  EXPECT_EQ(again.bytes_downloaded, 0u);
  EXPECT_EQ(count_of(s_->admin.history_states(d->p.id), "downloading"), 1u);
}

// 1b. A device that gives the patch decoder 48 KiB reports it at check-in
// and gets the firmware-aware delta (docs/reloc.md); it applies it in that
// RAM and boots the target. A device without the RAM gets the plain one.
TEST_F(e2e_agent, FirmwareAwareDeltaForADeviceWithTheRam) {
  constexpr uint32_t kRam = 48 * 1024;
  MAKE_DEVICE(d, s_, "fa-1", fw().base, DeviceOptions{}.config([](SimConfig& c) {
    c.workspace_size = kRam - static_cast<uint32_t>(sizeof(PatchDecoder));
  }));
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.image_sha256, fw().next.sha256);
  EXPECT_TRUE(boots(*d, fw().next));

  // What the server answers each budget, once the release that budget
  // needs is built (the plain one is built on the first such question).
  auto ask = [&](std::optional<uint32_t> ram) {
    nlohmann::json j = s_->check_in(d->p, fw().base, random_nonce_hex(), ram);
    return std::make_pair(j.is_null() ? 0L : 200L, j);  // null: not a 200 with JSON
  };
  // The device runs 1.0.1 now; give it the assignment back for the question.
  std::string assign_err;
  ASSERT_TRUE(s_->admin.assign(d->p.id, "1.0.1", &assign_err)) << assign_err;
  auto [st_fa, fa] = ask(kRam);
  auto [st_plain, plain] = ask(std::nullopt);
  auto [st_small, small] = ask(32 * 1024);
  ASSERT_EQ(st_fa, 200) << fa.dump();
  ASSERT_EQ(st_plain, 200) << plain.dump();
  ASSERT_EQ(st_small, 200) << small.dump();
  ASSERT_TRUE(fa.value("update", false)) << fa.dump();
  EXPECT_EQ(s.stream_size, fa.value("size", uint64_t{0})) << "the device got the answer for its budget";
  EXPECT_FALSE(plain.value("firmware_aware", true));
  EXPECT_FALSE(small.value("firmware_aware", true));
  EXPECT_EQ(plain.value("download_url", ""), small.value("download_url", ""));
  EXPECT_NE(plain.value("download_url", ""), fa.value("download_url", ""));
  if (fw().source.rfind("corpus", 0) == 0) {
    // Real firmware: two ESP32 images of one chip, where T pays off.
    EXPECT_TRUE(fa.value("firmware_aware", false)) << fa.dump();
    EXPECT_LT(fa.value("size", uint64_t{0}), plain.value("size", uint64_t{0}));
  }
  std::printf("[ e2e      ] firmware-aware: stream %llu bytes (plain %llu) for a %zu-byte image\n",
              static_cast<unsigned long long>(fa.value("size", uint64_t{0})),
              static_cast<unsigned long long>(plain.value("size", uint64_t{0})), fw().next.bytes.size());
  // A budget that is no whole number of bytes is refused.
  HttpClient dev = s_->admin.http().with_bearer(d->p.token);
  for (const char* bad : {"-1", "1.5", "\"49152\"", "4294967296"}) {
    std::string body = R"({"version":"1.0.0","image_sha256":")" + fw().base.sha256 +
                       R"(","nonce":"000102030405060708090a0b0c0d0e0f","ram_budget":)" + bad + "}";
    EXPECT_EQ(dev.post("/api/v1/devices/" + d->p.id + "/check-in", body, "application/json").status, 400) << bad;
  }
}

// 2. The device runs an image the server does not have: the full image.
TEST_F(e2e_agent, FullImageWhenTheServerLacksTheBase) {
  MAKE_DEVICE(d, s_, "full-1", fw().other, DeviceOptions{});
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.version, "1.0.1");
  EXPECT_EQ(s.image_sha256, fw().next.sha256);
  EXPECT_GE(s.stream_size, fw().next.bytes.size()) << "a full image";
  EXPECT_EQ(s.bytes_downloaded, s.stream_size);
  EXPECT_TRUE(boots(*d, fw().next));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(in_order(h, {"downloading", "applying", "rebooting", "confirmed"})) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.1");
}

// 3a. The transport's own fault injection: the connection is cut several
// times (the first cut lands in the stream after the check-in answer and
// the "downloading" report; then after 1 byte, 4096 bytes, one whole
// record, a third of the stream). Every cut resumes at the exact byte.
TEST_F(e2e_agent, ResumesAfterTransportCuts) {
  std::vector<uint64_t> cuts;
  MAKE_DEVICE(d, s_, "cuts-1", fw().base, DeviceOptions{});
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 2000u + 1 + 4096 + 4157 + S / 3) << "stream too small for the cut list";
  // The cut list needs the stream size: reopen the device with it.
  d->sim.reset();
  d->cfg.cuts = {2000, 1, 4096, 4157, S / 3};
  std::string err;
  d->sim = SimDevice::open(d->cfg, &err);
  ASSERT_TRUE(d->sim) << err;
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_GE(s.resumes, 5u) << d->lines();
  EXPECT_EQ(s.stream_size, S);
  EXPECT_EQ(s.bytes_downloaded, s.stream_size) << "nothing downloaded twice";
  EXPECT_TRUE(boots(*d, fw().next));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(in_order(h, {"downloading", "confirmed"})) << join(h);
  EXPECT_EQ(count_of(h, "downloading"), 1u) << "one download, resumed: " << join(h);
  nlohmann::json view = s_->admin.device(d->p.id);
  EXPECT_EQ(view.value("running_version", ""), "1.0.1");
  // The device's page counts what the server sent it: every resume, and at
  // least the whole stream (a cut loses what was in flight).
  const nlohmann::json& dl = view["downloads"];
  EXPECT_GE(dl.value("resumes", 0u), 5u) << view.dump();
  EXPECT_GE(dl.value("requests", 0u), 6u) << view.dump();
  EXPECT_GE(dl.value("bytes", uint64_t{0}), S) << view.dump();
}

// 3b. Cuts at exact stream offsets (a man in the middle fails the exchange
// when the stream reaches them): the first byte, inside record 0, the
// record boundary and one past it, mid-stream, the last byte.
TEST_F(e2e_agent, ResumesAfterCutsAtExactStreamOffsets) {
  MAKE_DEVICE(d, s_, "cuts-2", fw().base, DeviceOptions().man_in_the_middle());
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 8314u) << "stream too small";
  d->mitm.cut_at = {1, 4096, 4157, 4158, S / 2, S - 1};
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(d->mitm.cuts_fired(), d->mitm.cut_at.size());
  EXPECT_GE(s.resumes, d->mitm.cut_at.size()) << d->lines();
  EXPECT_EQ(s.bytes_downloaded, S) << "nothing downloaded twice";
  EXPECT_TRUE(boots(*d, fw().next));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(in_order(h, {"downloading", "applying", "rebooting", "confirmed"})) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.1");
}

// 4. Power cuts at 100 random points of a whole update.
struct CutRun {
  uint64_t point = 0;
  SimSummary s;
  std::string phase;
  bool boots_next = false;
  std::string problem;  // setup or inspection failure
  std::string lines;    // state lines, kept when something is wrong
  std::string events;   // the exchanges, one per line
  double t_setup = 0, t_run = 0, t_inspect = 0;  // seconds
};

// Where the cut struck, from what the agent told the server before the
// first exchange that failed (the transport fails while the power is off):
//   download       after "downloading": erasing/writing the new slot, checkpoints
//   verify/switch  after "applying": the read-back hash, persisting `pending`, set_boot
//   after confirm  after "confirmed" was delivered: the state commit that clears the report
// A cut with no failed exchange struck while the device booted, between
// "rebooting" and the next report: the bootloader's otadata write, the
// self-test's mark_valid or the confirmation's state commit ("first boot").
std::string cut_phase(const std::vector<Mitm::Event>& events, uint64_t resets) {
  if (resets == 0) return "none";
  std::string last;
  for (const auto& e : events) {
    if (e.rc != 0) {
      if (last.empty()) return "before download";
      if (last == "downloading") return "download";
      if (last == "applying") return "verify/switch";
      if (last == "confirmed") return "after confirm";
      return "after " + last;
    }
    if (!e.status_state.empty()) last = e.status_state;
  }
  return "first boot";
}

class PowerCutFleet {
 public:
  PowerCutFleet(const Suite* s, std::string tag, uint32_t checkpoint_interval,
                uint32_t workspace_size = sim::kSimDefaultWorkspace)
      : s_(s), tag_(std::move(tag)), interval_(checkpoint_interval), workspace_(workspace_size) {}

  // point < 0: no power cut.
  CutRun run_one(const std::string& id, int64_t point) const {
    CutRun r;
    r.point = point < 0 ? UINT64_MAX : static_cast<uint64_t>(point);
    auto t0 = std::chrono::steady_clock::now();
    std::string err;
    uint32_t interval = interval_, workspace = workspace_;
    auto tune = [&](SimConfig& c) {
      c.power_cut_after = point;
      c.checkpoint_interval = interval;
      c.workspace_size = workspace;
      c.durable = false;  // the cut is logical
    };
    auto d = s_->device(id, s_->fw.base, DeviceOptions().man_in_the_middle().config(tune), &err);
    if (!d) {
      r.problem = "setup: " + err;
      return r;
    }
    r.t_setup = seconds_since(t0);
    auto t1 = std::chrono::steady_clock::now();
    r.s = d->sim->run_once();
    r.t_run = seconds_since(t1);
    r.phase = cut_phase(d->mitm.events(), r.s.resets);
    if (r.phase != "download" && r.phase != "none") r.events = d->mitm.describe_events();
    auto t2 = std::chrono::steady_clock::now();
    BootView v = inspect_flash(d->state_dir);
    r.boots_next = v.ok && v.image == s_->fw.next.bytes;
    if (!r.boots_next)
      r.problem = v.ok ? "boots slot " + std::to_string(v.slot) + " sha256 " + sha256_hex(v.image) +
                             "; otadata " + v.otadata.describe()
                       : v.error;
    bool ok = r.problem.empty() && r.s.outcome == "updated";
    if (!ok) r.lines = d->lines();
    std::string dir = d->state_dir.string();
    d.reset();
    if (ok) {
      std::error_code ec;
      fs::remove_all(dir, ec);  // keep the disk small: 2 images per device
    }
    r.t_inspect = seconds_since(t2);
    return r;
  }

  // The flash units a whole update uses: one clean update (SimSummary::
  // flash_units), then the budgets around it: a little less must cut the
  // power, a little more must not. Not exact to the unit: every checkpoint
  // holds the manifest, whose DER signature is 70 to 72 bytes long, so two
  // updates of the same release may differ by a few units (kSlack). The
  // device ids all have the same length (the manifest holds the id too).
  static constexpr uint64_t kSlack = 32;
  uint64_t measure_units(std::string* problem, uint64_t* stream_size = nullptr) {
    CutRun clean = run_one(tag_ + "-m01", -1);
    if (!clean.problem.empty() || clean.s.outcome != "updated" || clean.s.flash_units <= kSlack) {
      *problem += "clean update: " + clean.s.to_json() + " " + clean.problem + "\n" + clean.lines;
      return 0;
    }
    if (stream_size) *stream_size = clean.s.stream_size;
    uint64_t total = clean.s.flash_units;
    CutRun below = run_one(tag_ + "-m02", static_cast<int64_t>(total - kSlack));
    CutRun above = run_one(tag_ + "-m03", static_cast<int64_t>(total + kSlack));
    if (below.s.resets != 1 || below.s.outcome != "updated")
      *problem += "a budget of " + std::to_string(total - kSlack) + " units: " + below.s.to_json() + "\n" + below.lines;
    if (above.s.resets != 0 || above.s.outcome != "updated")
      *problem += "a budget of " + std::to_string(total + kSlack) + " units: " + above.s.to_json() + "\n" + above.lines;
    return total;
  }

  std::vector<CutRun> run(const std::vector<uint64_t>& points, unsigned threads) const {
    std::vector<CutRun> out(points.size());
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < points.size(); i = next++)
        out[i] = run_one(tag_ + "-" + std::string(i < 10 ? "00" : i < 100 ? "0" : "") + std::to_string(i),
                         static_cast<int64_t>(points[i]));
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    return out;
  }

 private:
  const Suite* s_;
  std::string tag_;
  uint32_t interval_;
  uint32_t workspace_;
};

TEST_F(e2e_agent, HundredPowerCutsAtRandomPoints) {
  auto t0 = std::chrono::steady_clock::now();
  // What a whole update costs in flash units, without and with checkpoints.
  // The checkpoint interval is the agent's default, 64 KiB of payload, or a
  // quarter of a stream shorter than 128 KiB (the synthetic firmware's) so
  // that there are checkpoints to resume from.
  PowerCutFleet without_ck(s_, "pc-nock", 0);
  std::string problem_ck, problem_nock;
  uint64_t stream = 0;
  uint64_t total_nock = without_ck.measure_units(&problem_nock, &stream);
  ASSERT_TRUE(problem_nock.empty()) << problem_nock;
  uint32_t interval =
      stream >= 2 * 65536 ? 65536 : static_cast<uint32_t>(std::max<uint64_t>(4096, stream / 4 / 4096 * 4096));
  PowerCutFleet with_ck(s_, "pc-ck", interval);
  uint64_t total_ck = with_ck.measure_units(&problem_ck);
  ASSERT_TRUE(problem_ck.empty()) << problem_ck;
  double t_measure = seconds_since(t0);
  std::printf("[ e2e      ] a whole update (stream %llu bytes) uses %llu flash units with checkpoints every %u "
              "payload bytes, %llu without (measured and checked in %.1f s; the estimate 2 x image + 64 KiB would "
              "be %zu)\n",
              static_cast<unsigned long long>(stream), static_cast<unsigned long long>(total_ck), interval,
              static_cast<unsigned long long>(total_nock), t_measure, 2 * fw().next.bytes.size() + 65536);

  std::mt19937_64 rng(20240611);
  std::uniform_int_distribution<uint64_t> uniform(0, total_ck);
  std::vector<uint64_t> points(100);
  for (auto& p : points) p = uniform(rng);

  const unsigned kThreads = 8;
  auto t1 = std::chrono::steady_clock::now();
  std::vector<CutRun> ck = with_ck.run(points, kThreads);
  double t_ck = seconds_since(t1);
  auto t2 = std::chrono::steady_clock::now();
  std::vector<CutRun> nock = without_ck.run(points, kThreads);
  double t_nock = seconds_since(t2);

  struct Totals {
    std::map<std::string, int> phases, outcomes;
    uint64_t redownloaded = 0, resets = 0, checkpoint_resumes = 0, boots = 0;
    double t_setup = 0, t_run = 0, t_inspect = 0;
    int updated = 0, boots_next = 0;
  };
  auto check = [&](const std::vector<CutRun>& runs, uint64_t total, const char* what) {
    Totals t;
    for (const CutRun& r : runs) {
      const SimSummary& s = r.s;
      SCOPED_TRACE(std::string(what) + ": cut after " + std::to_string(r.point) + " units (phase " + r.phase + ")");
      EXPECT_TRUE(r.problem.empty()) << r.problem << "\n" << r.lines;
      EXPECT_EQ(s.outcome, "updated") << s.to_json() << "\n" << r.lines;
      EXPECT_NE(s.outcome, "bricked");
      EXPECT_NE(s.outcome, "boot_loop");
      EXPECT_EQ(s.version, "1.0.1") << r.lines;
      EXPECT_EQ(s.image_sha256, fw().next.sha256);
      EXPECT_TRUE(r.boots_next) << r.problem;
      // A point within kSlack of the total may or may not be reached.
      if (r.point + PowerCutFleet::kSlack < total) EXPECT_EQ(s.resets, 1u) << s.to_json() << "\n" << r.lines;
      else if (r.point >= total + PowerCutFleet::kSlack) EXPECT_EQ(s.resets, 0u) << s.to_json() << "\n" << r.lines;
      else EXPECT_LE(s.resets, 1u) << s.to_json() << "\n" << r.lines;
      EXPECT_GE(s.bytes_downloaded, s.stream_size);
      t.phases[r.phase]++;
      t.outcomes[s.outcome]++;
      t.updated += s.outcome == "updated";
      t.boots_next += r.boots_next;
      t.resets += s.resets;
      t.boots += s.boots;
      t.checkpoint_resumes += s.checkpoint_resumes;
      t.t_setup += r.t_setup;
      t.t_run += r.t_run;
      t.t_inspect += r.t_inspect;
      if (s.bytes_downloaded > s.stream_size) t.redownloaded += s.bytes_downloaded - s.stream_size;
    }
    return t;
  };
  Totals a = check(ck, total_ck, "with checkpoints");
  Totals b = check(nock, total_nock, "without checkpoints");

  std::set<std::string> phase_names;
  for (const auto& [k, v] : a.phases) phase_names.insert(k);
  for (const auto& [k, v] : b.phases) phase_names.insert(k);
  std::printf("\n[ e2e      ] 100 power cuts, points uniform over [0, %llu] flash units (seed 20240611), %u threads\n",
              static_cast<unsigned long long>(total_ck), kThreads);
  std::printf("  %-34s %18s %18s\n", "", ("checkpoints " + std::to_string(interval / 1024) + " KiB").c_str(),
              "no checkpoints");
  auto row = [](const std::string& name, const std::string& x, const std::string& y) {
    std::printf("  %-34s %18s %18s\n", name.c_str(), x.c_str(), y.c_str());
  };
  auto num = [](double v, int prec = 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", prec, v);
    return std::string(buf);
  };
  row("units of a whole update", num(static_cast<double>(total_ck)), num(static_cast<double>(total_nock)));
  for (const auto& p : phase_names)
    row("cut in: " + p, num(a.phases.count(p) ? a.phases[p] : 0), num(b.phases.count(p) ? b.phases[p] : 0));
  row("outcome updated", num(a.updated), num(b.updated));
  row("boots 1.0.1 (flash inspected)", num(a.boots_next), num(b.boots_next));
  row("resets (power cuts struck)", num(static_cast<double>(a.resets)), num(static_cast<double>(b.resets)));
  row("boots in all", num(static_cast<double>(a.boots)), num(static_cast<double>(b.boots)));
  row("downloads resumed from checkpoint", num(static_cast<double>(a.checkpoint_resumes)),
      num(static_cast<double>(b.checkpoint_resumes)));
  row("bytes re-downloaded, total", num(static_cast<double>(a.redownloaded)), num(static_cast<double>(b.redownloaded)));
  row("bytes re-downloaded, mean per run", num(static_cast<double>(a.redownloaded) / 100.0, 1),
      num(static_cast<double>(b.redownloaded) / 100.0, 1));
  row("seconds (wall clock)", num(t_ck, 1), num(t_nock, 1));
  row("  device seconds: provisioning", num(a.t_setup, 1), num(b.t_setup, 1));
  row("  device seconds: run_once", num(a.t_run, 1), num(b.t_run, 1));
  row("  device seconds: flash inspection", num(a.t_inspect, 1), num(b.t_inspect, 1));
  std::printf("\n");
  std::fflush(stdout);

  // One example of every phase but the common ones, with what the agent did.
  std::set<std::string> shown;
  for (const auto* runs : {&ck, &nock})
    for (const CutRun& r : *runs)
      if (r.phase != "download" && r.phase != "none" && shown.insert(r.phase).second)
        std::printf("[ e2e      ] example of a cut in '%s': after %llu units: %s\n%s", r.phase.c_str(),
                    static_cast<unsigned long long>(r.point), r.s.to_json().c_str(), r.events.c_str());
  std::fflush(stdout);

  EXPECT_LE(a.redownloaded, b.redownloaded) << "checkpoints must not make a reset cost more download";
  EXPECT_EQ(b.checkpoint_resumes, 0u);
}

// 4b. Power cuts during a firmware-aware update (a 48 KiB device): the
// checkpoints now carry the address map, and the resumed decoder rebuilds T
// from it. 20 points uniform over the update; every device boots a valid
// image and ends updated, and some resume from a checkpoint.
TEST_F(e2e_agent, PowerCutsDuringAFirmwareAwareUpdate) {
  const uint32_t workspace = 48 * 1024 - static_cast<uint32_t>(sizeof(PatchDecoder));
  std::string problem;
  uint64_t stream = 0;
  // Checkpoints every 16 KiB of payload, so that most cuts in the download
  // have one to resume from.
  const uint32_t interval = 16384;
  PowerCutFleet fleet(s_, "pcfa", interval, workspace);
  uint64_t total = fleet.measure_units(&problem, &stream);
  ASSERT_TRUE(problem.empty()) << problem;
  std::mt19937_64 rng(20261125);
  std::uniform_int_distribution<uint64_t> uniform(0, total);
  std::vector<uint64_t> points(20);
  for (auto& p : points) p = uniform(rng);
  std::vector<CutRun> runs = fleet.run(points, 4);
  uint64_t checkpoint_resumes = 0, redownloaded = 0;
  int updated = 0;
  for (const CutRun& r : runs) {
    SCOPED_TRACE("cut after " + std::to_string(r.point) + " units (phase " + r.phase + ")");
    EXPECT_TRUE(r.problem.empty()) << r.problem << "\n" << r.lines;
    EXPECT_EQ(r.s.outcome, "updated") << r.s.to_json() << "\n" << r.lines;
    EXPECT_TRUE(r.boots_next);
    EXPECT_LE(r.s.resets, 1u);
    updated += r.s.outcome == "updated";
    checkpoint_resumes += r.s.checkpoint_resumes;
    if (r.s.bytes_downloaded > r.s.stream_size) redownloaded += r.s.bytes_downloaded - r.s.stream_size;
  }
  std::printf("[ e2e      ] firmware-aware (stream %llu bytes, %llu flash units, checkpoints every %u): "
              "%d/20 updated after a power cut, %llu resumed from a checkpoint, %llu bytes downloaded again\n",
              static_cast<unsigned long long>(stream), static_cast<unsigned long long>(total), interval, updated,
              static_cast<unsigned long long>(checkpoint_resumes), static_cast<unsigned long long>(redownloaded));
  EXPECT_GT(checkpoint_resumes, 0u) << "no cut resumed from a checkpoint";
}

// 5. The new image fails its self-test: rolled back, reported, and the
// server ends the assignment (no install/rollback loop).
TEST_F(e2e_agent, SelfTestFailureRollsBack) {
  MAKE_DEVICE(d, s_, "selftest-1", fw().base,
              DeviceOptions().config([](SimConfig& c) { c.fail_self_test = true; }));
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "rolled_back") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.version, "1.0.0");
  EXPECT_EQ(s.image_sha256, fw().base.sha256);
  EXPECT_TRUE(contains(s.reported, "rolled_back")) << join(s.reported);
  EXPECT_TRUE(boots(*d, fw().base));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(in_order(h, {"downloading", "applying", "rebooting", "rolled_back"})) << join(h);
  EXPECT_FALSE(contains(h, "confirmed")) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");

  SimSummary again = d->run();
  EXPECT_EQ(again.outcome, "up_to_date") << "the server ended the assignment\n" << d->lines();
  EXPECT_EQ(again.bytes_downloaded, 0u);
  EXPECT_EQ(again.boots, 0u) << "no further reboot";
  EXPECT_TRUE(boots(*d, fw().base));
  EXPECT_EQ(count_of(s_->admin.history_states(d->p.id), "downloading"), 1u);
}

// 6. A man in the middle (above TLS: the wrapper sees plaintext HTTP).
// (a) One bit flipped at several offsets of the record stream.
TEST_F(e2e_agent, ManInTheMiddleFlipsStreamBits) {
  MAKE_DEVICE(d, s_, "mitm-flip", fw().base, DeviceOptions().man_in_the_middle());
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 8314u);
  // record 0: nonce, tag, ciphertext, its chain digest; record 1; mid; last byte
  std::vector<uint64_t> offsets = {0, 20, 29 + 100, 4156, 4157 + 50, S / 2, S - 1};
  size_t failed_before = 0;
  for (uint64_t off : offsets) {
    SCOPED_TRACE("bit flipped at stream offset " + std::to_string(off));
    d->mitm.flip_at = {off};
    SimSummary s = d->run();
    EXPECT_EQ(s.outcome, "failed") << d->lines();
    EXPECT_NE(s.error.find("download"), std::string::npos) << s.error;
    EXPECT_EQ(s.version, "1.0.0");
    EXPECT_TRUE(untouched(*d, fw().base));
    size_t failed = count_of(s_->admin.history_states(d->p.id), "failed");
    EXPECT_EQ(failed, failed_before + 1) << join(s_->admin.history_states(d->p.id));
    failed_before = failed;
  }
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
  // The tampering stops: the same device updates.
  d->mitm.flip_at.clear();
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << d->lines();
  EXPECT_TRUE(boots(*d, fw().next));
}

// (b) Bytes dropped from the stream: inside a record, and a whole record.
TEST_F(e2e_agent, ManInTheMiddleDropsStreamBytes) {
  MAKE_DEVICE(d, s_, "mitm-drop", fw().base, DeviceOptions().man_in_the_middle());
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 3 * 4157u);
  // inside record 1; the whole of record 1; one byte mid-stream (dropping the
  // tail would be a truncation: the device resumes and waits, see (e))
  std::vector<std::pair<uint64_t, uint64_t>> drops = {{5000, 100}, {4157, 4157}, {S / 2, 1}};
  for (auto [from, len] : drops) {
    SCOPED_TRACE("dropped " + std::to_string(len) + " bytes at " + std::to_string(from));
    d->mitm.drop_from = from;
    d->mitm.drop_len = len;
    SimSummary s = d->run();
    EXPECT_NE(s.outcome, "updated") << d->lines();
    EXPECT_EQ(s.outcome, "failed") << d->lines();
    EXPECT_EQ(s.version, "1.0.0");
    EXPECT_TRUE(untouched(*d, fw().base));
  }
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_EQ(count_of(h, "failed"), drops.size()) << join(h);
  EXPECT_FALSE(contains(h, "confirmed"));
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
}

// (c) Replay: the check-in answered with a manifest of an earlier check-in.
TEST_F(e2e_agent, ManInTheMiddleReplaysAnOldManifest) {
  MAKE_DEVICE(d, s_, "mitm-replay", fw().base, DeviceOptions().man_in_the_middle());
  ASSERT_GT(stream_size(*d, fw().base), 0u) << "the release is built before the capture";
  // First check-in: captured; the device is told there is nothing.
  std::string captured;
  d->mitm.rewrite_checkin = [&](const std::string&, const std::string& answer) {
    captured = answer;
    return std::string(R"({"update":false})");
  };
  SimSummary first = d->run();
  EXPECT_EQ(first.outcome, "up_to_date") << d->lines();
  ASSERT_NE(captured.find("\"manifest\""), std::string::npos) << captured;
  // Second check-in: the old answer instead of the fresh one.
  d->mitm.rewrite_checkin = [&](const std::string&, const std::string&) { return captured; };
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "failed") << d->lines();
  EXPECT_NE(s.error.find("replay"), std::string::npos) << s.error;
  EXPECT_EQ(s.bytes_downloaded, 0u) << "nothing downloaded before the manifest is verified";
  EXPECT_TRUE(untouched(*d, fw().base));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(contains(h, "failed")) << join(h);
  EXPECT_FALSE(contains(h, "downloading")) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
}

// (d) One bit of the check-in's manifest flipped (the hex stays hex).
TEST_F(e2e_agent, ManInTheMiddleFlipsAManifestBit) {
  MAKE_DEVICE(d, s_, "mitm-manifest", fw().base, DeviceOptions().man_in_the_middle());
  // Byte offsets: in the nonce, in the middle (signed fields), the last
  // byte of the signature.
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE("manifest byte #" + std::to_string(which));
    size_t flipped_byte = 0;
    d->mitm.rewrite_checkin = [&](const std::string&, const std::string& answer) {
      std::string a = answer;
      size_t at = a.find("\"manifest\":\"");
      if (at == std::string::npos) return a;
      at += 12;
      size_t end = a.find('"', at);
      size_t len = (end - at) / 2;
      size_t byte = which == 0 ? 20 : which == 1 ? len / 2 : len - 1;
      flipped_byte = byte;
      char& c = a[at + 2 * byte + 1];  // low nibble: flips bit 0 of the byte
      static const char kHex[] = "0123456789abcdef";
      int v = c >= 'a' ? c - 'a' + 10 : c - '0';
      c = kHex[v ^ 1];
      return a;
    };
    SimSummary s = d->run();
    EXPECT_EQ(s.outcome, "failed") << "flipped byte " << flipped_byte << "\n" << d->lines();
    EXPECT_NE(s.error.find("manifest refused"), std::string::npos) << s.error;
    EXPECT_EQ(s.bytes_downloaded, 0u);
    EXPECT_TRUE(untouched(*d, fw().base));
    EXPECT_EQ(count_of(s_->admin.history_states(d->p.id), "failed"), static_cast<size_t>(which + 1));
  }
  EXPECT_FALSE(contains(s_->admin.history_states(d->p.id), "downloading"));
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
}

// (e) The stream truncated: every answer ends early at the same byte. The
// device resumes with Range, gets nothing more, and gives up for this poll
// (offline); nothing is switched.
TEST_F(e2e_agent, ManInTheMiddleTruncatesTheStream) {
  MAKE_DEVICE(d, s_, "mitm-truncate", fw().base,
              DeviceOptions().man_in_the_middle().config([](SimConfig& c) { c.retry_delay_ms = 20; }));
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 8314u);
  d->mitm.truncate_at = S / 2 + 7;
  SimSummary s = d->run();
  EXPECT_NE(s.outcome, "updated") << d->lines();
  EXPECT_EQ(s.outcome, "offline") << d->lines();
  EXPECT_EQ(s.bytes_downloaded, S / 2 + 7);
  EXPECT_GE(s.resumes, 1u);
  EXPECT_TRUE(untouched(*d, fw().base));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_TRUE(contains(h, "downloading")) << join(h);
  EXPECT_FALSE(contains(h, "applying")) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
}

// After a poll gave up on a download (the link kept failing), the next
// poll continues it from RAM (docs/device.md, "One update", step 4), here
// after the stream was truncated in the middle of a record: the part of
// that record already received is given up (the record buffer takes the
// next check-in's answer), so it alone comes again.
TEST_F(e2e_agent, NextPollContinuesAnInterruptedDownload) {
  MAKE_DEVICE(d, s_, "resume-next-poll", fw().base,
              DeviceOptions().man_in_the_middle().config([](SimConfig& c) { c.retry_delay_ms = 20; }));
  uint64_t S = stream_size(*d, fw().base);
  ASSERT_GT(S, 8314u);
  d->mitm.truncate_at = S / 2 + 7;  // inside a record
  SimSummary s = d->run();
  ASSERT_EQ(s.outcome, "offline") << d->lines();
  EXPECT_TRUE(untouched(*d, fw().base));
  d->mitm.truncate_at = UINT64_MAX;
  SimSummary after = d->run();
  EXPECT_EQ(after.outcome, "updated") << after.error << "\n" << d->lines();
  uint64_t record = 29 + 4096 + 32;
  uint64_t partial = (S / 2 + 7) % record;
  EXPECT_EQ(s.bytes_downloaded + after.bytes_downloaded, S + partial)
      << "only the partial record is downloaded twice";
  EXPECT_TRUE(boots(*d, fw().next));
  std::vector<std::string> h = s_->admin.history_states(d->p.id);
  EXPECT_FALSE(contains(h, "failed")) << join(h);
  EXPECT_TRUE(in_order(h, {"downloading", "applying", "rebooting", "confirmed"})) << join(h);
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.1");
}

// (f) Another device's release: the check-in answered with the manifest the
// server made for a different device (same nonce, same release).
TEST_F(e2e_agent, ManInTheMiddleServesAnotherDevicesRelease) {
  MAKE_DEVICE(other, s_, "mitm-other-b", fw().base, DeviceOptions{});
  MAKE_DEVICE(d, s_, "mitm-other-a", fw().base, DeviceOptions().man_in_the_middle());
  std::string substituted;
  d->mitm.rewrite_checkin = [&](const std::string& request, const std::string& answer) {
    nlohmann::json req = nlohmann::json::parse(request, nullptr, false);
    if (req.is_discarded()) return answer;
    nlohmann::json b = s_->check_in(other->p, fw().base, req.value("nonce", ""));
    if (!b.is_object()) return answer;
    substituted = b.dump();
    return substituted;
  };
  SimSummary s = d->run();
  ASSERT_NE(substituted.find("mitm-other-b"), std::string::npos) << substituted;
  EXPECT_EQ(s.outcome, "failed") << d->lines();
  EXPECT_NE(s.error.find("another device"), std::string::npos) << s.error;
  EXPECT_EQ(s.bytes_downloaded, 0u);
  EXPECT_TRUE(untouched(*d, fw().base));
  EXPECT_TRUE(contains(s_->admin.history_states(d->p.id), "failed"));
  EXPECT_EQ(s_->admin.device(d->p.id).value("running_version", ""), "1.0.0");
}

// 7. TLS: a bundle whose ca.pem is another CA. The device refuses the
// server; nothing reaches the server's history, nothing is switched.
TEST_F(e2e_agent, RefusesAServerItsCaDidNotSign) {
  fs::path ca = s_->dir / "tls" / "other-ca.pem", key = s_->dir / "tls" / "other-ca.key";
  std::string err;
  ASSERT_TRUE(make_tls_cert(ca, key, &err)) << err;
  MAKE_DEVICE(d, s_, "tls-wrong-ca", fw().base, DeviceOptions().trusting(ca));
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "offline") << d->lines();
  EXPECT_EQ(s.bytes_downloaded, 0u);
  EXPECT_EQ(s.version, "1.0.0");
  EXPECT_TRUE(untouched(*d, fw().base));
  EXPECT_TRUE(s_->admin.history_states(d->p.id).empty()) << join(s_->admin.history_states(d->p.id));
  nlohmann::json dev = s_->admin.device(d->p.id);
  ASSERT_TRUE(dev.is_object());
  EXPECT_TRUE(dev.contains("last_seen") && dev["last_seen"].is_null()) << "never seen: " << dev.dump();
  // The same device with the right CA gets through.
  fs::copy_file(s_->cert, d->p.bundle_dir / "ca.pem", fs::copy_options::overwrite_existing);
  d->sim.reset();
  ASSERT_TRUE(sim::load_bundle(d->p.bundle_dir.string(), &d->cfg.bundle, &err)) << err;
  d->sim = SimDevice::open(d->cfg, &err);
  ASSERT_TRUE(d->sim) << err;
  SimSummary ok = d->run();
  EXPECT_EQ(ok.outcome, "updated") << d->lines();
  EXPECT_TRUE(boots(*d, fw().next));
}

// 9. The ota-sim binary: the last stdout line is the JSON summary.

std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

std::string sh(const fs::path& p) { return "'" + p.string() + "'"; }

TEST_F(e2e_agent, OtaSimBinaryPrintsAJsonSummary) {
  std::string err;
  ProvisionedDevice p;
  ASSERT_TRUE(s_->admin.provision("ota-sim-1", s_->product, s_->dir / "bundles" / "ota-sim-1", s_->cert, &p, &err))
      << err;
  ASSERT_TRUE(s_->admin.assign(p.id, "1.0.1", &err)) << err;
  fs::path state = s_->dir / "devices" / "ota-sim-1";
  std::string cmd = sh(test::bin_dir() / "ota-sim") + " --bundle " + sh(p.bundle_dir) + " --state " + sh(state) +
                    " --image " + sh(fw().base.path) + " --version 1.0.0 --once --cut-after 3000,4157 2>&1";
  Command c = run_command(cmd);
  std::printf("%s", c.out.c_str());
  EXPECT_EQ(c.exit_code, 0) << cmd << "\n" << c.out;
  nlohmann::json j = nlohmann::json::parse(last_line(c.out), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "last line is not JSON: " << last_line(c.out);
  for (const char* k : {"version", "image_sha256", "bytes_downloaded", "resumes", "outcome"})
    EXPECT_TRUE(j.contains(k)) << k << " missing: " << j.dump();
  EXPECT_EQ(j.value("outcome", ""), "updated");
  EXPECT_EQ(j.value("version", ""), "1.0.1");
  EXPECT_EQ(j.value("image_sha256", ""), fw().next.sha256);
  EXPECT_GE(j.value("resumes", 0), 2);
  EXPECT_EQ(j.value("bytes_downloaded", 0ull), j.value("stream_size", 1ull));
  Device view;  // only for the flash inspection helpers
  view.p = p;
  view.state_dir = state;
  EXPECT_TRUE(boots(view, fw().next));
  EXPECT_TRUE(in_order(s_->admin.history_states(p.id), {"downloading", "confirmed"}));
  EXPECT_EQ(s_->admin.device(p.id).value("running_version", ""), "1.0.1");
}

TEST_F(e2e_agent, OtaSimBinaryUsageErrorsExit2) {
  fs::path bin = test::bin_dir() / "ota-sim";
  for (const std::string& args : {std::string("--bundle ") + sh(s_->dir) + " --once",  // no --state
                                  std::string("--bundle x --state y --once --poll 1"),
                                  std::string("--bundle x --state y --once --rate 0"),
                                  std::string("--frobnicate")}) {
    Command c = run_command(sh(bin) + " " + args + " 2>&1");
    EXPECT_EQ(c.exit_code, 2) << args << "\n" << c.out;
    EXPECT_NE(c.out.find("usage"), std::string::npos) << args << "\n" << c.out;
  }
  Command help = run_command(sh(bin) + " --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--bundle"), std::string::npos);
}

// =====================================================================================
// 8. The original endpoints: the admin runs the original workflow
// (/upload_firmware/, /make_patch/, /instruct_update/), the device updates
// through /check_update/, /get_signature/ and /get_patch/ (staged).

class e2e_legacy : public ::testing::Test {
 public:
  static void SetUpTestSuite() {
    s_ = new Suite;
    s_->product = "default";  // where /upload_firmware/ stores
    if (!s_->start("legacy", false)) return;
    const HttpClient& h = s_->admin.http();
    for (const Firmware* f : {&s_->fw.base, &s_->fw.next}) {
      std::string bytes(f->bytes.begin(), f->bytes.end());
      HttpResult r = h.post_form("/upload_firmware/", {{"version", f->label}, {"file", bytes, true}});
      if (r.status != 200 || r.body.find("\"ok\"") == std::string::npos) {
        s_->error = "/upload_firmware/ " + f->label + ": HTTP " + std::to_string(r.status) + " " + r.body;
        return;
      }
    }
    HttpResult r = h.post_form("/make_patch/", {{"old_version", "1.0.0"}, {"new_version", "1.0.1"}});
    if (r.status != 200 || r.body.find("\"ok\"") == std::string::npos)
      s_->error = "/make_patch/: HTTP " + std::to_string(r.status) + " " + r.body;
  }
  static void TearDownTestSuite() {
    s_->stop();
    delete s_;
    s_ = nullptr;
  }

 protected:
  void SetUp() override { ASSERT_TRUE(s_->error.empty()) << "suite setup failed: " << s_->error; }
  const FirmwareSet& fw() const { return s_->fw; }
  static DeviceOptions legacy(std::function<void(SimConfig&)> more = nullptr) {
    return DeviceOptions().unassigned().man_in_the_middle().config([more](SimConfig& c) {
      c.legacy = true;
      if (more) more(c);
    });
  }
  // /instruct_update/ for the device; the staged patch's size (/get_patch/).
  uint64_t instruct(const Device& d) {
    HttpResult r = s_->admin.http().post_form(
        "/instruct_update/", {{"device_id", d.p.id}, {"old_version", "1.0.0"}, {"new_version", "1.0.1"}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("update_queued"), std::string::npos) << r.body;
    HttpClient anonymous = s_->admin.http().with_bearer("");
    HttpResult check = anonymous.get("/check_update/?device_id=" + d.p.id + "&version=1.0.0");
    EXPECT_NE(check.body.find("\"update_available\":true"), std::string::npos) << check.body;
    HttpResult patch = anonymous.get("/get_patch/1.0.0/1.0.1/" + d.p.id);
    EXPECT_EQ(patch.status, 200);
    return patch.body.size();
  }
  void expect_updated_view(const Device& d) {
    EXPECT_TRUE(boots(d, fw().next));
    EXPECT_EQ(s_->admin.device(d.p.id).value("running_version", ""), "1.0.1");
    std::vector<std::string> h = s_->admin.history_states(d.p.id);
    EXPECT_FALSE(contains(h, "failed")) << join(h);
    std::printf("[ e2e      ] %s: status history (the original endpoints take no reports): [%s]\n",
                d.p.id.c_str(), join(h).c_str());
  }
  static Suite* s_;
};
Suite* e2e_legacy::s_ = nullptr;

TEST_F(e2e_legacy, OriginalWorkflowUpdates) {
  MAKE_DEVICE(d, s_, "legacy-1", fw().base, legacy());
  uint64_t P = instruct(*d);
  ASSERT_GT(P, 0u);
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.version, "1.0.1");
  EXPECT_EQ(s.image_sha256, fw().next.sha256);
  EXPECT_EQ(s.bytes_downloaded, P) << "the staged patch, once";
  EXPECT_LT(P, fw().next.bytes.size() / 4) << "a patch, not the image";
  expect_updated_view(*d);
  SimSummary again = d->run();
  EXPECT_EQ(again.outcome, "up_to_date") << d->lines();
  EXPECT_EQ(again.bytes_downloaded, 0u);
}

// Connection cuts during the staged download: each continues from the
// staged size with Range.
TEST_F(e2e_legacy, ConnectionCutsResumeTheStagedDownload) {
  MAKE_DEVICE(d, s_, "legacy-cut", fw().base, legacy());
  uint64_t P = instruct(*d);
  ASSERT_GT(P, 8000u);
  d->sim.reset();
  // The check_update answer and the signature come first (a few hundred
  // bytes); the cuts then land in the patch.
  d->cfg.cuts = {P / 4, 1, P / 4};
  std::string err;
  d->sim = SimDevice::open(d->cfg, &err);
  ASSERT_TRUE(d->sim) << err;
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_GE(s.resumes, 3u) << d->lines();
  // The agent asks for exactly what is missing: each ranged request starts
  // where the bytes staged so far end.
  uint64_t staged = 0;
  for (const Mitm::Event& e : d->mitm.events()) {
    if (e.path.rfind("/get_patch/", 0) != 0) continue;
    EXPECT_EQ(e.range_from, staged) << e.describe();
    // 206: the rest from range_from; 200: the whole file again, of which
    // the agent drops what it has.
    staged = e.http_status == 206 ? e.range_from + e.body_bytes : std::max(e.range_from, e.body_bytes);
  }
  EXPECT_EQ(staged, P);
  // ... and only the missing bytes cross the link.
  EXPECT_EQ(s.bytes_downloaded, P) << "nothing downloaded twice\n" << d->lines();
  expect_updated_view(*d);
}

// A power cut during the staged download: after the reboot the download
// continues from what the staging file holds.
TEST_F(e2e_legacy, PowerCutResumesFromTheStagedSize) {
  std::unique_ptr<Device> d;
  uint64_t P = 0;
  {
    MAKE_DEVICE(probe, s_, "legacy-power", fw().base, legacy());
    P = instruct(*probe);
    ASSERT_GT(P, 8000u);
    d = std::move(probe);
  }
  // The first units of the poll are one state commit (< 1 KiB); the cut
  // strikes at about 60% of the patch being staged.
  uint64_t point = 1024 + P * 6 / 10;
  d->sim.reset();
  d->cfg.power_cut_after = static_cast<int64_t>(point);
  std::string err;
  d->sim = SimDevice::open(d->cfg, &err);
  ASSERT_TRUE(d->sim) << err;
  SimSummary s = d->run();
  EXPECT_EQ(s.outcome, "updated") << s.error << "\n" << d->lines();
  EXPECT_EQ(s.resets, 1u) << d->lines();
  EXPECT_GE(s.resumes, 1u) << "continued from the staged size\n" << d->lines();
  std::vector<Mitm::Event> patch_gets;
  for (const Mitm::Event& e : d->mitm.events())
    if (e.path.rfind("/get_patch/", 0) == 0) patch_gets.push_back(e);
  ASSERT_EQ(patch_gets.size(), 2u) << d->lines();
  EXPECT_GT(patch_gets[1].range_from, P / 2) << "the second boot continues after what was staged\n" << d->lines();
  EXPECT_LE(patch_gets[1].range_from, patch_gets[0].body_bytes);
  EXPECT_GE(s.bytes_downloaded, P);
  // At most the piece that was being appended when the power failed (one
  // transport read, 16 KiB) comes again.
  EXPECT_LE(s.bytes_downloaded, P + 16384) << d->lines();
  expect_updated_view(*d);
}

}  // namespace
}  // namespace ota::e2e
