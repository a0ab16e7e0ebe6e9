// The ESP32 ports' own logic on the host, over a RAM-backed ESP-IDF
// (fake_idf.h): the checkpoint store's A/B halves under power cuts at every
// flash byte, the NVS state blob, the flash port's slot rules, the
// provisioning parser, and agent_init reading a real image through the
// flash port. The ESP-IDF calls themselves are only compile-checked
// (tools/esp32-check); this tests what the glue decides.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "crypto_mbedtls.h"
#include "fake_idf.h"
#include "ota/agent.h"
#include "ota/esp32/ports.h"
#include "ota/esp32/provisioning.h"
#include "test_support.h"

namespace {

using namespace ota;
using namespace ota::esp32;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  return v;
}

// Writes a blob in 64-byte appends, as the agent's BlobWriter does.
int replace(const StatePort& p, uint8_t blob, const std::vector<uint8_t>& data) {
  if (p.begin(p.ctx, blob) != 0) return -1;
  for (size_t at = 0; at < data.size(); at += 64) {
    uint32_t n = static_cast<uint32_t>(std::min<size_t>(64, data.size() - at));
    if (p.append(p.ctx, data.data() + at, n) != 0) return -1;
  }
  return p.commit(p.ctx);
}

std::vector<uint8_t> read_blob(const StatePort& p, uint8_t blob) {
  uint32_t size = 0;
  EXPECT_EQ(p.size(p.ctx, blob, &size), 0);
  std::vector<uint8_t> out(size);
  if (size) {
    EXPECT_EQ(p.read(p.ctx, blob, 0, out.data(), size), 0);
  }
  return out;
}

class Esp32State : public ::testing::Test {
 protected:
  void SetUp() override { fake_idf::reset(); }
  StatePort open(State* s) {
    EXPECT_EQ(state_open(s, "ota_agent", "otastate"), ESP_OK);
    return state_port(s);
  }
};

TEST_F(Esp32State, EmptyStoreHasNoBlobsAndRemovingNothingWritesNoFlash) {
  State s;
  StatePort p = open(&s);
  EXPECT_TRUE(state_has_checkpoints(&s));
  EXPECT_EQ(state_checkpoint_capacity(&s), 0x8000u - 32);
  EXPECT_TRUE(read_blob(p, kBlobState).empty());
  EXPECT_TRUE(read_blob(p, kBlobCheckpoint).empty());
  EXPECT_EQ(p.remove(p.ctx, kBlobCheckpoint), 0);
  EXPECT_EQ(fake_idf::flash_bytes(), 0) << "an idle poll's checkpoint_remove must not wear the flash";
}

TEST_F(Esp32State, StateBlobRoundTripsThroughNvs) {
  State s;
  StatePort p = open(&s);
  auto a = pattern(547, 1);
  ASSERT_EQ(replace(p, kBlobState, a), 0);
  EXPECT_EQ(read_blob(p, kBlobState), a);
  EXPECT_EQ(fake_idf::nvs().at("ota_agent/state"), a);
  State again;
  StatePort q = open(&again);  // a reboot reads NVS again
  EXPECT_EQ(read_blob(q, kBlobState), a);
  EXPECT_EQ(q.remove(q.ctx, kBlobState), 0);
  EXPECT_TRUE(read_blob(q, kBlobState).empty());
  EXPECT_NE(replace(q, kBlobState, pattern(kStateBlobMax + 1, 2)), 0) << "larger than the state buffer";
}

TEST_F(Esp32State, CheckpointsAlternateHalvesAndSurviveAReboot) {
  State s;
  StatePort p = open(&s);
  auto a = pattern(29000, 3);
  auto b = pattern(12000, 4);
  ASSERT_EQ(replace(p, kBlobCheckpoint, a), 0);
  EXPECT_EQ(read_blob(p, kBlobCheckpoint), a);
  ASSERT_EQ(replace(p, kBlobCheckpoint, b), 0);
  EXPECT_EQ(read_blob(p, kBlobCheckpoint), b);
  State again;
  StatePort q = open(&again);
  EXPECT_EQ(read_blob(q, kBlobCheckpoint), b);
  EXPECT_EQ(q.remove(q.ctx, kBlobCheckpoint), 0);
  State third;
  StatePort r = open(&third);
  EXPECT_TRUE(read_blob(r, kBlobCheckpoint).empty()) << "neither half may come back after remove";
}

TEST_F(Esp32State, CheckpointLargerThanAHalfIsRefusedAndTheOldOneStays) {
  State s;
  StatePort p = open(&s);
  auto a = pattern(1000, 5);
  ASSERT_EQ(replace(p, kBlobCheckpoint, a), 0);
  EXPECT_NE(replace(p, kBlobCheckpoint, pattern(0x8000, 6)), 0);
  EXPECT_EQ(read_blob(p, kBlobCheckpoint), a);
}

TEST_F(Esp32State, WithoutTheCheckpointPartitionCheckpointsAreRefused) {
  fake_idf::reset(0);
  State s;
  StatePort p = open(&s);
  EXPECT_FALSE(state_has_checkpoints(&s));
  EXPECT_EQ(state_checkpoint_capacity(&s), 0u);
  EXPECT_NE(p.begin(p.ctx, kBlobCheckpoint), 0);
  EXPECT_TRUE(read_blob(p, kBlobCheckpoint).empty());
  EXPECT_EQ(p.remove(p.ctx, kBlobCheckpoint), 0);
}

// SQLite-style: cut the power after every possible number of flash bytes
// while a checkpoint replaces another (and while one is removed); after
// the reboot the store holds exactly the old blob or exactly the new one.
TEST_F(Esp32State, PowerCutAtEveryFlashByteLeavesOldOrNew) {
  auto a = pattern(9000, 7);
  auto b = pattern(6000, 8);
  // Flash bytes a replacement costs: sector erases + data + header.
  fake_idf::reset();
  {
    State s;
    StatePort p = open(&s);
    ASSERT_EQ(replace(p, kBlobCheckpoint, a), 0);
    long long before = fake_idf::flash_bytes();
    ASSERT_EQ(replace(p, kBlobCheckpoint, b), 0);
    long long cost = fake_idf::flash_bytes() - before;
    ASSERT_GT(cost, 6000);
  }
  int saw_old = 0, saw_new = 0;
  for (long long cut = 0;; ++cut) {
    fake_idf::reset();
    State s;
    StatePort p = open(&s);
    ASSERT_EQ(replace(p, kBlobCheckpoint, a), 0);
    fake_idf::cut_after(cut);
    int rc = replace(p, kBlobCheckpoint, b);
    fake_idf::power_on();
    State after;
    StatePort q = open(&after);
    auto got = read_blob(q, kBlobCheckpoint);
    if (got == a) {
      ++saw_old;
      EXPECT_NE(rc, 0) << "cut " << cut << ": commit reported success but the old blob is current";
    } else {
      ASSERT_EQ(got, b) << "cut " << cut << ": neither the old nor the new checkpoint";
      ++saw_new;
    }
    if (rc == 0) break;  // the whole replacement fitted before the cut
  }
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);

  // remove(): a cut leaves the newest copy or nothing, never the older one.
  for (long long cut = 0; cut <= 2 * 4096; cut += 512) {
    fake_idf::reset();
    State s;
    StatePort p = open(&s);
    ASSERT_EQ(replace(p, kBlobCheckpoint, a), 0);
    ASSERT_EQ(replace(p, kBlobCheckpoint, b), 0);
    fake_idf::cut_after(cut);
    p.remove(p.ctx, kBlobCheckpoint);
    fake_idf::power_on();
    State after;
    StatePort q = open(&after);
    auto got = read_blob(q, kBlobCheckpoint);
    EXPECT_TRUE(got.empty() || got == b) << "cut " << cut << " during remove brought back an older checkpoint";
  }
}

// --- Flash port --------------------------------------------------------------

TEST(Esp32Flash, FindsTheSlotsAndNeverWritesTheRunningOne) {
  fake_idf::reset(0x10000, 1);
  Flash f;
  ASSERT_EQ(flash_open(&f), ESP_OK);
  FlashPort p = flash_port(&f);
  EXPECT_EQ(p.running_slot(p.ctx), 1);
  EXPECT_EQ(p.slot_size(p.ctx, 0), 0x10000u);
  EXPECT_NE(f.running_map, nullptr);
  uint8_t buf[16];
  memset(buf, 0, sizeof buf);
  EXPECT_NE(p.erase(p.ctx, 1, 0, 4096), 0) << "the running slot";
  EXPECT_NE(p.write(p.ctx, 1, 0, buf, sizeof buf), 0) << "the running slot";
  EXPECT_NE(p.erase(p.ctx, 0, 100, 4096), 0) << "unaligned";
  EXPECT_NE(p.read(p.ctx, 0, 0x10000 - 8, buf, 16), 0) << "past the slot";
  ASSERT_EQ(p.erase(p.ctx, 0, 4096, 4096), 0);
  const uint8_t data[4] = {1, 2, 3, 4};
  ASSERT_EQ(p.write(p.ctx, 0, 4096, data, 4), 0);
  ASSERT_EQ(p.read(p.ctx, 0, 4096, buf, 4), 0);
  EXPECT_EQ(0, memcmp(buf, data, 4));
  EXPECT_EQ(fake_idf::part("ota_0")->data[4096 + 2], 3);
  ASSERT_EQ(p.set_boot(p.ctx, 0), 0);
  EXPECT_EQ(fake_idf::ota().boot, &fake_idf::part("ota_0")->info);
}

TEST(Esp32Flash, MapsImageStatesAndRollback) {
  fake_idf::reset();
  Flash f;
  ASSERT_EQ(flash_open(&f), ESP_OK);
  FlashPort p = flash_port(&f);
  EXPECT_EQ(p.running_state(p.ctx), kImageUndefined) << "no otadata entry (flashed over USB)";
  fake_idf::ota().running_state_found = true;
  fake_idf::ota().running_state = ESP_OTA_IMG_PENDING_VERIFY;
  EXPECT_EQ(p.running_state(p.ctx), kImagePendingVerify);
  fake_idf::ota().running_state = ESP_OTA_IMG_VALID;
  EXPECT_EQ(p.running_state(p.ctx), kImageValid);
  EXPECT_EQ(p.mark_valid(p.ctx), 0);
  EXPECT_NE(p.rollback(p.ctx), 0) << "returned: no other app (the agent restarts itself)";
  EXPECT_EQ(fake_idf::ota().mark_valid, 1);
  EXPECT_EQ(fake_idf::ota().rollback, 1);
}

TEST(Esp32Flash, RefusesATableWithoutTwoSlots) {
  fake_idf::reset();
  fake_idf::part("ota_1")->info.type = ESP_PARTITION_TYPE_DATA;  // gone as an app slot
  Flash f;
  EXPECT_EQ(flash_open(&f), ESP_ERR_NOT_FOUND);
  fake_idf::reset();
  fake_idf::part("ota_0")->info.encrypted = true;
  EXPECT_EQ(flash_open(&f), ESP_ERR_NOT_SUPPORTED);
}

// --- Provisioning ---------------------------------------------------------------

TEST(Esp32Provisioning, ReadsABundle) {
  Provisioning p;
  provisioning_init(&p);
  const char json[] = "{\n  \"device_id\": \"esp32_01\",\n  \"server_url\": \"https://ota.example:8443\",\n"
                      "  \"product\": \"demo\"\n}\n";
  ASSERT_EQ(provisioning_set_device_json(&p, json, sizeof json - 1), kStatusOk);
  EXPECT_STREQ(p.device_id, "esp32_01");
  EXPECT_STREQ(p.server_url, "https://ota.example:8443");
  const char token[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789ABCDEF\r\n";
  ASSERT_EQ(provisioning_set_token(&p, token, sizeof token - 1), kStatusOk);
  EXPECT_EQ(strlen(p.token), 64u);
  uint8_t key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<uint8_t>(i);
  ASSERT_EQ(provisioning_set_device_key(&p, key, 32), kStatusOk);
  auto pem = ota::test::read_file(std::filesystem::path(OTA_ESP32_TEST_VECTORS) / "signing_pub.pem");
  ASSERT_EQ(provisioning_set_server_pem(&p, reinterpret_cast<const char*>(pem.data()), pem.size()), kStatusOk);
  EXPECT_EQ(p.server_public_key[0], 0x04);
  EXPECT_EQ(p.have, kHaveAll);
  AgentConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  provisioning_apply(&p, &cfg);
  EXPECT_STREQ(cfg.device_id, "esp32_01");
  EXPECT_STREQ(cfg.product, "demo");
  EXPECT_STREQ(cfg.token, p.token);
  EXPECT_EQ(0, memcmp(cfg.device_key, key, 32));
}

TEST(Esp32Provisioning, RefusesBadParts) {
  Provisioning p;
  provisioning_init(&p);
  const char bad_id[] = "{\"device_id\":\"a/b\",\"server_url\":\"https://x\",\"product\":\"p\"}";
  EXPECT_EQ(provisioning_set_device_json(&p, bad_id, sizeof bad_id - 1), kStatusBadResponse);
  const char no_url[] = "{\"device_id\":\"a\",\"product\":\"p\"}";
  EXPECT_EQ(provisioning_set_device_json(&p, no_url, sizeof no_url - 1), kStatusBadResponse);
  EXPECT_EQ(provisioning_set_identity(&p, "ok", "p", ""), kStatusBadResponse);
  EXPECT_EQ(provisioning_set_token(&p, "xyz", 3), kStatusBadArgument);
  EXPECT_EQ(provisioning_set_token(&p, "\n", 1), kStatusBadArgument);
  std::string long_token(65, 'a');
  EXPECT_EQ(provisioning_set_token(&p, long_token.data(), long_token.size()), kStatusBadArgument);
  uint8_t key[31] = {};
  EXPECT_EQ(provisioning_set_device_key(&p, key, sizeof key), kStatusBadArgument);
  const char pem[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
  EXPECT_NE(provisioning_set_server_pem(&p, pem, sizeof pem - 1), kStatusOk);
  EXPECT_EQ(p.have, 0);
}

// --- The agent on the ESP32 flash and state ports ----------------------------------

int no_transport(void*, const HttpRequest*, const HttpSink*) { return -1; }

TEST(Esp32Agent, InitMeasuresTheRunningImageThroughTheFlashPort) {
  fake_idf::reset(0x10000, 0);
  auto image = ota::test::synthetic_esp32_app("1.0.0", "demo", std::vector<uint8_t>(20000, 0x5A));
  ASSERT_LE(image.size(), 0x10000u);
  std::copy(image.begin(), image.end(), fake_idf::part("ota_0")->data.begin());
  Flash flash;
  ASSERT_EQ(flash_open(&flash), ESP_OK);
  State state;
  ASSERT_EQ(state_open(&state, "ota_agent", "otastate"), ESP_OK);
  FlashPort fp = flash_port(&flash);
  StatePort sp = state_port(&state);
  TransportPort tp{nullptr, no_transport};
  SystemPort sys{};
  CryptoPort crypto = mbedtls_crypto_port();
  AgentPorts ports{};
  ports.flash = &fp;
  ports.transport = &tp;
  ports.state = &sp;
  ports.system = &sys;
  ports.crypto = &crypto;
  Provisioning prov;
  provisioning_init(&prov);
  ASSERT_EQ(provisioning_set_identity(&prov, "esp32_01", "demo", "https://ota.example"), kStatusOk);
  auto pem = ota::test::read_file(std::filesystem::path(OTA_ESP32_TEST_VECTORS) / "signing_pub.pem");
  ASSERT_EQ(provisioning_set_server_pem(&prov, reinterpret_cast<const char*>(pem.data()), pem.size()), kStatusOk);
  alignas(4) static uint8_t workspace[23148];
  static uint8_t record[4157];
  AgentConfig cfg{};
  provisioning_apply(&prov, &cfg);
  cfg.workspace = workspace;
  cfg.workspace_size = sizeof workspace;
  cfg.record_buffer = record;
  cfg.record_buffer_size = sizeof record;
  static Agent agent;
  ASSERT_EQ(agent_init(&agent, &cfg, &ports), kStatusOk);
  EXPECT_STREQ(agent_running_version(&agent), "1.0.0");
  EXPECT_EQ(agent.running_size, image.size());
}

}  // namespace
