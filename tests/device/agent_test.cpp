// The device agent on the simulator's ports against an in-process fake
// server (no sockets): every power-cut point of an update, checkpoints that
// are damaged or belong to another release, a server that ignores Range, a
// wrong base image, a refused download, a failing self-test. The server it
// fakes makes its releases with the server's own envelope code, so the
// bytes are those a real server sends; tests/e2e runs the real server.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/delta/patch_encoder.h"
#include "ota/delta/sha256.h"
#include "ota/esp_image.h"
#include "ota/patch_decoder.h"
#include "ota/posix/flash.h"
#include "ota/server/crypto.h"
#include "ota/server/envelope.h"
#include "sim_device.h"
#include "test_support.h"

namespace ota {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

std::string hex(const uint8_t* b, size_t n) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += k[b[i] >> 4];
    s += k[b[i] & 15];
  }
  return s;
}

Bytes sha(const Bytes& b) {
  auto d = server::sha256(b);
  return Bytes(d.begin(), d.end());
}

// The server side, in memory: one device, one release (a patch from OLD to
// NEW, or the full NEW), a manifest signed for each check-in.
class FakeServer {
 public:
  // `keys_of`: the same signing key and device key as another fake (the
  // same server, a new release stream).
  FakeServer(Bytes old_image, Bytes new_image, bool full_image, const FakeServer* keys_of = nullptr)
      : signer_(keys_of ? server::SigningKey::from_private_pem(keys_of->signer_.private_pem())
                        : server::SigningKey::generate()),
        old_(std::move(old_image)),
        new_(std::move(new_image)) {
    auto k = server::random_bytes(32);
    std::copy(k.begin(), k.end(), device_key_.begin());
    if (keys_of) device_key_ = keys_of->device_key_;
    auto ck = server::random_bytes(32);
    std::copy(ck.begin(), ck.end(), content_key_.begin());
    payload_ = full_image ? new_ : delta::make_patch(old_, new_);
    stream_ = server::encrypt_records(payload_, content_key_,
                                      server::chunk_size_for(kEncryptionWrappedKey, payload_.size()),
                                      server::make_nonce_prefix());
    full_ = full_image;
  }

  sim::Bundle bundle() const {
    sim::Bundle b;
    b.device_id = "dev-1";
    b.product = "agent-test";
    b.server_url = "http://fake";
    b.token = std::string(64, 'a');
    b.device_key = device_key_;
    auto p = signer_.public_point();
    std::copy(p.begin(), p.end(), b.server_public_key.begin());
    return b;
  }

  TransportPort port() { return TransportPort{this, &FakeServer::request_thunk}; }

  // Knobs.
  bool assigned = true;
  bool ignore_range = false;      // answer 200 with the whole stream to a ranged request
  bool release_gone = false;      // 404 on the download
  int busy_ranged = 0;            // answer this many ranged requests 503 (with a body)
  // Connection cuts, as CurlTransport injects them: the k-th cut fails the
  // exchange once cuts[k] more stream bytes were delivered.
  std::vector<uint64_t> cuts;
  size_t cut_index = 0;
  uint64_t since_cut = 0;
  std::function<void(Manifest&)> edit_manifest;
  int refuse_checkin = 0;          // answer the check-in with this status and refusal_body
  std::string refusal_body;
  // What happened.
  std::string last_checkin;       // the body of the last check-in
  std::vector<std::string> states;
  uint64_t stream_bytes_served = 0;
  const Bytes& stream() const { return stream_.bytes; }

 private:
  static int request_thunk(void* ctx, const HttpRequest* req, const HttpSink* sink) {
    return static_cast<FakeServer*>(ctx)->request(*req, *sink);
  }

  int reply(const HttpSink& sink, int status, const std::string& body) {
    if (sink.begin(sink.ctx, status, static_cast<int64_t>(body.size())) != 0) return -1;
    if (!body.empty() && sink.data(sink.ctx, reinterpret_cast<const uint8_t*>(body.data()), body.size()) != 0)
      return -1;
    return 0;
  }

  int request(const HttpRequest& req, const HttpSink& sink) {
    std::string path = req.path;
    std::string body(reinterpret_cast<const char*>(req.body), req.body_len);
    if (path == "/api/v1/devices/dev-1/check-in") {
      last_checkin = body;
      if (refuse_checkin) return reply(sink, refuse_checkin, refusal_body);
      auto j = nlohmann::json::parse(body);
      std::string image = j["image_sha256"];
      std::string nonce = j["nonce"];
      if (!assigned || image != hex(sha(old_).data(), 32))
        return reply(sink, 200, R"({"update":false})");
      Manifest m{};
      m.kind = kManifestUpdate;
      m.security_counter = 3;
      for (int i = 0; i < 16; ++i) m.device_nonce[i] = static_cast<uint8_t>(std::stoi(nonce.substr(2 * i, 2), nullptr, 16));
      m.issued_at = 1764000000;
      server::set_text(m.product, "agent-test");
      m.chip_id = 0;
      server::set_text(m.device_id, "dev-1");
      server::set_text(m.to_version, "2.0.0");
      Bytes to = sha(new_);
      std::copy(to.begin(), to.end(), m.to_sha256);
      m.to_size = static_cast<uint32_t>(new_.size());
      if (full_) {
        m.payload_type = kPayloadFullImage;
      } else {
        server::set_text(m.from_version, "1.0.0");
        Bytes from = sha(old_);
        std::copy(from.begin(), from.end(), m.from_sha256);
        PatchHeader h;
        patch_header_parse(payload_.data(), &h);
        m.payload_type = kPayloadPatch;
        m.payload_codec = h.codec;
        m.payload_ram = patch_decoder_ram(h);
      }
      Bytes pd = sha(payload_);
      std::copy(pd.begin(), pd.end(), m.payload_sha256);
      auto w = server::wrap_content_key(device_key_, content_key_);
      std::copy(w.begin(), w.end(), m.wrapped_key);
      server::describe_stream(m, kEncryptionWrappedKey, stream_, payload_.size());
      if (edit_manifest) edit_manifest(m);
      Bytes signed_m = server::sign_manifest(m, signer_);
      nlohmann::json a = {{"update", true},
                          {"manifest", hex(signed_m.data(), signed_m.size())},
                          {"target_version", "2.0.0"},
                          {"size", stream_.bytes.size()},
                          {"download_url", "/api/v1/devices/dev-1/releases/r1"}};
      return reply(sink, 200, a.dump());
    }
    if (path == "/api/v1/devices/dev-1/releases/r1") {
      if (release_gone) return reply(sink, 404, R"({"error":{"code":"release_not_found"}})");
      if (req.range_from > 0 && busy_ranged > 0) {
        --busy_ranged;
        return reply(sink, 503, std::string(2000, 'x'));
      }
      size_t from = ignore_range ? 0 : req.range_from;
      if (from > stream_.bytes.size()) return reply(sink, 416, "");
      int status = from > 0 ? 206 : 200;
      size_t n = stream_.bytes.size() - from;
      if (sink.begin(sink.ctx, status, static_cast<int64_t>(n)) != 0) return -1;
      // In pieces, as a network delivers them.
      for (size_t at = from; at < stream_.bytes.size();) {
        size_t take = std::min<size_t>(1460, stream_.bytes.size() - at);
        if (cut_index < cuts.size()) {
          uint64_t left = cuts[cut_index] - since_cut;
          if (left == 0) {
            ++cut_index;
            since_cut = 0;
            return -1;  // the connection drops here
          }
          take = std::min<uint64_t>(take, left);
          since_cut += take;
        }
        stream_bytes_served += take;
        if (sink.data(sink.ctx, stream_.bytes.data() + at, take) != 0) return -1;
        at += take;
      }
      return 0;
    }
    if (path == "/api/v1/devices/dev-1/status") {
      auto j = nlohmann::json::parse(body);
      std::string state = j["state"];
      {
        std::lock_guard<std::mutex> l(mu_);
        states.push_back(state);
      }
      if (state == "confirmed" || state == "rolled_back") assigned = false;
      return reply(sink, 200, R"({"status":"recorded"})");
    }
    return reply(sink, 404, R"({"error":{"code":"not_found"}})");
  }

  server::SigningKey signer_;
  Bytes old_, new_, payload_;
  bool full_ = false;
  std::array<uint8_t, 32> device_key_{};
  std::array<uint8_t, 32> content_key_{};
  server::RecordStream stream_;
  std::mutex mu_;
};

class Agent : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::mt19937 rng(42);
    Bytes code = fwgen::synthetic_image(rng, 160 * 1024);
    // Enough changes for a delta of several records (checkpoints between them).
    Bytes next = fwgen::mutate_image(rng, code, 400);
    old_image_ = fwgen::synthetic_esp32_app("1.0.0", "agent-test", code);
    new_image_ = fwgen::synthetic_esp32_app("2.0.0", "agent-test", next);
  }

  void SetUp() override { dir_ = test::make_temp_dir("agent"); }
  void TearDown() override { fs::remove_all(dir_); }

  // A device with its own state directory, talking to `server`.
  std::unique_ptr<sim::SimDevice> device(FakeServer& server, const std::string& name,
                                         const std::function<void(sim::SimConfig&)>& edit = {}) {
    sim::SimConfig cfg;
    cfg.bundle = server.bundle();
    cfg.state_dir = (dir_ / name).string();
    fs::create_directories(cfg.state_dir);
    cfg.image_path = (dir_ / "old.bin").string();
    if (!fs::exists(cfg.image_path)) test::write_file(cfg.image_path, old_image_);
    cfg.version_label = "1.0.0";
    cfg.slot_size = 512 * 1024;
    cfg.retry_delay_ms = 0;
    cfg.durable = false;
    cfg.wrap_transport = [&server](TransportPort) { return server.port(); };
    if (edit) edit(cfg);
    std::string err;
    auto d = sim::SimDevice::open(cfg, &err);
    EXPECT_TRUE(d) << err;
    return d;
  }

  // The image the device would start at its next power-on.
  Bytes booted_image(const std::string& name) {
    posix::PowerSupply power;
    auto flash = posix::PosixFlash::open((dir_ / name / "flash.bin").string(), &power);
    if (!flash) return {};
    posix::BootResult br = flash->boot();
    if (!br.ok) return {};
    return flash->read_image(br.slot);
  }

  static Bytes old_image_, new_image_;
  fs::path dir_;
};

Bytes Agent::old_image_, Agent::new_image_;

TEST_F(Agent, UpdatesWithADeltaAndReportsEachStep) {
  FakeServer server(old_image_, new_image_, false);
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.version, "2.0.0");
  EXPECT_EQ(s.image_sha256, hex(sha(new_image_).data(), 32));
  EXPECT_EQ(s.bytes_downloaded, server.stream().size()) << "nothing downloaded twice";
  EXPECT_LT(server.stream().size(), new_image_.size() / 2) << "a delta, not the image";
  EXPECT_EQ(booted_image("d"), new_image_);
  EXPECT_EQ(server.states, (std::vector<std::string>{"downloading", "applying", "rebooting", "confirmed"}));
  // Nothing more to do afterwards.
  EXPECT_EQ(dev->run_once().outcome, "up_to_date");
}

// The tags the device is configured with go with every check-in; a pair
// without '=' is left out.
TEST_F(Agent, ReportsItsTagsAtCheckIn) {
  FakeServer server(old_image_, new_image_, false);
  server.assigned = false;
  auto dev = device(server, "d", [](sim::SimConfig& c) { c.tags = "hw=B,region=eu west,bad,=x"; });
  EXPECT_EQ(dev->run_once().outcome, "up_to_date");
  nlohmann::json body = nlohmann::json::parse(server.last_checkin);
  EXPECT_EQ(body["tags"], nlohmann::json({{"hw", "B"}, {"region", "eu west"}})) << server.last_checkin;
  // Without tags there is no member at all.
  FakeServer plain(old_image_, new_image_, false);
  plain.assigned = false;
  device(plain, "e")->run_once();
  EXPECT_FALSE(nlohmann::json::parse(plain.last_checkin).contains("tags")) << plain.last_checkin;
}

// The server's refusal is told from a lost link: the status and the
// server's own code are kept (ota-sim: outcome "refused").
TEST_F(Agent, ARefusedCheckInKeepsTheStatusAndTheServersCode) {
  FakeServer server(old_image_, new_image_, false);
  server.refuse_checkin = 409;
  server.refusal_body = R"({"error":{"code":"product_mismatch","message":"x \"y\" {z}"}})";
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "refused") << s.to_json();
  EXPECT_EQ(s.error, "check-in refused by the server: 409 product_mismatch");
  server.refuse_checkin = 503;
  server.refusal_body = "<html>busy</html>";
  s = dev->run_once();
  EXPECT_EQ(s.outcome, "server_error") << s.to_json();
  EXPECT_EQ(s.error, "check-in refused by the server: 503");
  EXPECT_EQ(booted_image("d"), old_image_) << "nothing was switched";
}

TEST_F(Agent, FullImageWhenTheServerSendsOne) {
  FakeServer server(old_image_, new_image_, true);
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_GE(s.bytes_downloaded, new_image_.size());
  EXPECT_EQ(booted_image("d"), new_image_);
}

// A reset at every point of an update: the device always boots a valid
// image (the old one until the switch, the new one after) and ends updated.
// Points: evenly spread over the whole update, and densely over its last
// flash writes (the switch, the first boot, the confirmation).
TEST_F(Agent, SurvivesAPowerCutAtAnyPoint) {
  for (bool full : {false, true}) {
    FakeServer probe(old_image_, new_image_, full);
    sim::SimSummary clean = device(probe, full ? "probe-full" : "probe-delta",
                                   [](sim::SimConfig& c) { c.checkpoint_interval = 16384; })->run_once();
    ASSERT_EQ(clean.outcome, "updated");
    uint64_t total = clean.flash_units;
    ASSERT_GT(total, new_image_.size());
    std::vector<uint64_t> points;
    for (int i = 0; i < 40; ++i) points.push_back(total * i / 40);
    // The last flash writes: the slot's last sectors, the switch, the
    // bootloader's and the confirmation's otadata writes, the state saves.
    for (uint64_t u = total > 20000 ? total - 20000 : 0; u + 1 < total; u += 1000) points.push_back(u);
    std::atomic<size_t> next{0};
    std::mutex mu;
    uint64_t with = 0, without = 0;
    std::vector<std::string> failures;
    auto work = [&] {
      for (size_t i = next++; i < points.size(); i = next++) {
        for (uint32_t interval : {16384u, 0u}) {
          FakeServer server(old_image_, new_image_, full);
          std::string name = std::string(full ? "f" : "p") + std::to_string(i) + "-" + std::to_string(interval);
          auto dev = device(server, name, [&](sim::SimConfig& c) {
            c.power_cut_after = static_cast<int64_t>(points[i]);
            c.checkpoint_interval = interval;  // 0: no delta resume
          });
          sim::SimSummary s = dev->run_once();
          Bytes booted = booted_image(name);
          std::lock_guard<std::mutex> l(mu);
          (interval ? with : without) += s.bytes_downloaded - server.stream().size();
          // Without checkpoints an update writes less: a late point may
          // lie beyond its last flash write, and then no cut happens.
          bool cut = s.flash_units > points[i];
          if (s.outcome != "updated" || booted != new_image_ || s.resets != (cut ? 1u : 0u) || s.boots > 8)
            failures.push_back("cut at " + std::to_string(points[i]) + " of " + std::to_string(total) +
                               " (checkpoints " + std::to_string(interval) + "): " + s.to_json());
        }
      }
    };
    std::vector<std::thread> pool;
    for (int k = 0; k < 4; ++k) pool.emplace_back(work);
    for (auto& th : pool) th.join();
    for (const auto& f : failures) ADD_FAILURE() << f;
    std::printf("%s: %zu power cuts over %llu flash units; re-downloaded %llu bytes with checkpoints, "
                "%llu without (stream %zu bytes)\n",
                full ? "full image" : "delta", points.size(), static_cast<unsigned long long>(total),
                static_cast<unsigned long long>(with), static_cast<unsigned long long>(without),
                probe.stream().size());
    EXPECT_LE(with, without);
  }
}

TEST_F(Agent, ADamagedCheckpointStartsOver) {
  FakeServer server(old_image_, new_image_, false);
  FakeServer probe(old_image_, new_image_, false);
  uint64_t total = device(probe, "probe")->run_once().flash_units;
  auto dev = device(server, "d", [&](sim::SimConfig& c) {
    c.power_cut_after = static_cast<int64_t>(total * 2 / 3);
    c.checkpoint_interval = 16 * 1024;
    c.max_boots = 1;  // stop at the reset, before the resumed run
  });
  sim::SimSummary first = dev->run_once();
  EXPECT_EQ(first.outcome, "boot_loop");
  fs::path ck = dir_ / "d" / "checkpoint.bin";
  ASSERT_TRUE(fs::exists(ck)) << "a checkpoint was written before the cut";
  Bytes bytes = test::read_file(ck);
  bytes[bytes.size() / 2] ^= 0x40;
  test::write_file(ck, bytes);
  auto again = device(server, "d");
  sim::SimSummary s = again->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.checkpoint_resumes, 0u);
  EXPECT_EQ(booted_image("d"), new_image_);
}

TEST_F(Agent, AResetResumesFromTheCheckpoint) {
  FakeServer server(old_image_, new_image_, false);
  FakeServer probe(old_image_, new_image_, false);
  uint64_t total = device(probe, "probe")->run_once().flash_units;
  auto dev = device(server, "d", [&](sim::SimConfig& c) {
    c.power_cut_after = static_cast<int64_t>(total * 2 / 3);
    c.checkpoint_interval = 8 * 1024;
  });
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.checkpoint_resumes, 1u);
  EXPECT_EQ(s.resets, 1u);
  // At most a checkpoint interval of payload plus one record came twice.
  EXPECT_LE(s.bytes_downloaded, server.stream().size() + 8 * 1024 + 2 * 4157) << s.to_json();
  EXPECT_EQ(booted_image("d"), new_image_);
}

TEST_F(Agent, ACheckpointOfAnotherReleaseIsNotUsed) {
  FakeServer first(old_image_, new_image_, false);
  FakeServer probe(old_image_, new_image_, false);
  uint64_t total = device(probe, "probe")->run_once().flash_units;
  auto dev = device(first, "d", [&](sim::SimConfig& c) {
    c.power_cut_after = static_cast<int64_t>(total / 2);
    c.checkpoint_interval = 8 * 1024;
    c.max_boots = 1;
  });
  EXPECT_EQ(dev->run_once().outcome, "boot_loop");
  // The server now sends another stream of the same release (a new nonce
  // prefix and content key): the checkpoint must not be applied to it.
  FakeServer second(old_image_, new_image_, false, &first);
  auto again = device(second, "d");
  sim::SimSummary s = again->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.checkpoint_resumes, 0u);
  EXPECT_EQ(s.bytes_downloaded, second.stream().size()) << "downloaded from the start";
  EXPECT_EQ(booted_image("d"), new_image_);
}

TEST_F(Agent, AServerThatIgnoresRangeStillWorks) {
  FakeServer server(old_image_, new_image_, false);
  server.ignore_range = true;
  server.cuts = {5000, 20000};
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.resumes, 2u);
  EXPECT_EQ(booted_image("d"), new_image_);
}

TEST_F(Agent, ConnectionCutsResumeAtTheExactByte) {
  FakeServer server(old_image_, new_image_, false);
  server.cuts = {1, 4096, 4157, 9000, 10000};
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_GE(s.resumes, 5u);
  EXPECT_EQ(s.bytes_downloaded, server.stream().size());
}

// A busy server (503, with a body) while a record is half received: the
// body must not land in the record buffer, and the download goes on.
TEST_F(Agent, ABusyServerMidRecordIsRetried) {
  FakeServer server(old_image_, new_image_, false);
  server.cuts = {6000};
  server.busy_ranged = 2;
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "updated") << s.to_json();
  EXPECT_EQ(s.bytes_downloaded, server.stream().size());
  EXPECT_EQ(booted_image("d"), new_image_);
}

TEST_F(Agent, WrongBaseImageIsRefusedBeforeAnyDownload) {
  FakeServer server(old_image_, new_image_, false);
  server.edit_manifest = [](Manifest& m) { m.from_sha256[0] ^= 1; };
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "failed");
  EXPECT_NE(s.error.find("wrong base image"), std::string::npos) << s.error;
  EXPECT_EQ(server.stream_bytes_served, 0u);
  EXPECT_EQ(server.states, std::vector<std::string>{"failed"});
  EXPECT_EQ(booted_image("d"), old_image_);
}

TEST_F(Agent, AReleaseTheServerNoLongerHasFails) {
  FakeServer server(old_image_, new_image_, false);
  server.release_gone = true;
  auto dev = device(server, "d");
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "failed") << s.to_json();
  EXPECT_EQ(booted_image("d"), old_image_);
}

TEST_F(Agent, AFailingSelfTestRollsBackAndSaysSo) {
  FakeServer server(old_image_, new_image_, false);
  auto dev = device(server, "d", [](sim::SimConfig& c) { c.fail_self_test = true; });
  sim::SimSummary s = dev->run_once();
  EXPECT_EQ(s.outcome, "rolled_back") << s.to_json();
  EXPECT_EQ(s.version, "1.0.0");
  EXPECT_EQ(booted_image("d"), old_image_);
  ASSERT_FALSE(server.states.empty());
  EXPECT_EQ(server.states.back(), "rolled_back");
  // The server stopped offering it: no loop.
  EXPECT_EQ(dev->run_once().outcome, "up_to_date");
}

TEST_F(Agent, ADamagedStateFallsBackToTheProvisionedTrust) {
  FakeServer server(old_image_, new_image_, false);
  ASSERT_EQ(device(server, "d")->run_once().outcome, "updated");
  fs::path st = dir_ / "d" / "state.bin";
  Bytes bytes = test::read_file(st);
  bytes[10] ^= 0xFF;
  test::write_file(st, bytes);
  sim::SimSummary s = device(server, "d")->run_once();
  EXPECT_EQ(s.outcome, "up_to_date") << s.to_json();
  EXPECT_EQ(booted_image("d"), new_image_);
}

}  // namespace
}  // namespace ota
