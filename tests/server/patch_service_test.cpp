// Devices, patches and the update queue without sockets: a pair is built
// once even when many ask at the same time, what is published verifies,
// per-device streams stay byte-identical, and the queue answers only the
// device on the old version.
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "ota/delta/patch_apply.h"
#include "ota/server/device_service.h"
#include "ota/server/patch_service.h"
#include "ota/server/update_service.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;

class Services : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("services");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    firmware_ = std::make_unique<FirmwareService>(*store_, *artifacts_);
    devices_ = std::make_unique<DeviceService>(*store_, random_bytes(32));
    patches_ = std::make_unique<PatchService>(*store_, *artifacts_, *firmware_, signer_);
    updates_ = std::make_unique<UpdateService>(*store_);
    std::mt19937 rng(5);
    auto code = test::synthetic_image(rng, 150000);
    v1_ = test::synthetic_esp32_app("1.0.0", "demo", code);
    v2_ = test::synthetic_esp32_app("1.0.1", "demo", test::mutate_image(rng, code, 25));
    firmware_->upload("demo", std::string("1.0.0"), v1_, "admin");
    firmware_->upload("demo", std::string("1.0.1"), v2_, "admin");
  }
  void TearDown() override { fs::remove_all(dir_); }

  size_t audit_count(const std::string& action) {
    size_t n = 0;
    for (const auto& e : store_->audit_log(1000)) n += e.action == action;
    return n;
  }

  fs::path dir_;
  SigningKey signer_ = SigningKey::generate();
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<FirmwareService> firmware_;
  std::unique_ptr<DeviceService> devices_;
  std::unique_ptr<PatchService> patches_;
  std::unique_ptr<UpdateService> updates_;
  std::vector<uint8_t> v1_, v2_;
};

TEST_F(Services, APairIsBuiltOnceUnderConcurrentRequests) {
  std::vector<std::thread> threads;
  std::vector<std::string> results(6);
  for (size_t i = 0; i < results.size(); ++i)
    threads.emplace_back([&, i] { results[i] = patches_->make("demo", "1.0.0", "1.0.1", "admin").record.sha256_hex; });
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, results[0]);
  EXPECT_EQ(audit_count("patch.make"), 1u);
  // The published patch turns 1.0.0 into exactly 1.0.1 and its signature verifies.
  auto patch = artifacts_->read(artifacts_->patch_path("demo", "1.0.0", "1.0.1"));
  ASSERT_TRUE(patch);
  std::vector<uint8_t> out;
  EXPECT_EQ(delta::apply_patch(v1_, *patch, &out).status, kStatusDone);
  EXPECT_EQ(out, v2_);
  EXPECT_TRUE(signer_.verify_digest(sha256(*patch), patches_->signature("demo", "1.0.0", "1.0.1")));
  // Asking again serves the stored patch.
  patches_->make("demo", "1.0.0", "1.0.1", "admin");
  EXPECT_EQ(audit_count("patch.make"), 1u);
}

TEST_F(Services, FirmwareAwarePatchAppliesAndItsLeastRamIsTheFormula) {
  auto patch = patches_->make_firmware_aware("demo", "1.0.0", "1.0.1");
  std::vector<uint8_t> out;
  EXPECT_EQ(delta::apply_patch(v1_, patch, &out).status, kStatusDone);
  EXPECT_EQ(out, v2_);
  // docs/format.md, "Device RAM": decoder struct + LZMA (lc1 lp0, 16 KiB
  // dictionary) + segment table and context + two 4 KiB blocks + one map unit.
  EXPECT_EQ(PatchService::firmware_aware_min_ram(),
            sizeof(PatchDecoder) + (1846 + (0x300 << 1)) * 2 + 16384 + 768 + 8192 + 192);
  try {
    patches_->make_firmware_aware("demo", "1.0.0", "9.9");
    ADD_FAILURE() << "expected firmware_not_found";
  } catch (const ServiceError& e) {
    EXPECT_EQ(e.code, "firmware_not_found");
  }
}

TEST_F(Services, PatchErrors) {
  auto expect_code = [](const std::function<void()>& f, int status, const std::string& code) {
    try {
      f();
      ADD_FAILURE() << "expected " << code;
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status, status);
      EXPECT_EQ(e.code, code) << e.what();
    }
  };
  expect_code([&] { patches_->make("demo", "1.0.0", "1.0.0", "admin"); }, 400, "same_version");
  expect_code([&] { patches_->make("demo", "1.0.0", "9.9", "admin"); }, 404, "firmware_not_found");
  expect_code([&] { patches_->make("demo", "../x", "1.0.1", "admin"); }, 400, "invalid_version");
  expect_code([&] { patches_->signature("demo", "1.0.0", "1.0.1"); }, 404, "patch_not_found");
  expect_code([&] { patches_->encrypted_for_device("demo", "1.0.0", "1.0.1", "dev", random_bytes(32)); }, 404,
              "patch_not_found");
}

TEST_F(Services, DeviceStreamsAreByteIdenticalAndPerDevice) {
  auto a = devices_->register_device("dev-a", "demo", std::nullopt, "admin");
  auto b = devices_->register_device("dev-b", "demo", std::nullopt, "admin");
  EXPECT_EQ(devices_->device_key("dev-a"), a.device_key);
  patches_->make("demo", "1.0.0", "1.0.1", "admin");
  auto sa1 = patches_->encrypted_for_device("demo", "1.0.0", "1.0.1", "dev-a", a.device_key);
  auto sa2 = patches_->encrypted_for_device("demo", "1.0.0", "1.0.1", "dev-a", a.device_key);
  auto sb = patches_->encrypted_for_device("demo", "1.0.0", "1.0.1", "dev-b", b.device_key);
  EXPECT_EQ(sa1, sa2);
  EXPECT_NE(sa1, sb);
  // Disabled devices get no key, hence no patch.
  devices_->set_enabled("dev-b", false, "admin");
  EXPECT_THROW(devices_->device_key("dev-b"), ServiceError);
  EXPECT_THROW(devices_->register_device("dev-a", "demo", std::nullopt, "admin"), ServiceError);
  EXPECT_THROW(devices_->register_device("../dev", "demo", std::nullopt, "admin"), ServiceError);
  // The sealed key in the database is not the key.
  auto rec = store_->device("dev-a");
  ASSERT_TRUE(rec);
  EXPECT_EQ(rec->sealed_key_hex.find(std::string(a.device_key.begin(), a.device_key.end())), std::string::npos);
  EXPECT_EQ(rec->sealed_key_hex.size(), 2u * (12 + 16 + 32));
}

TEST_F(Services, TheQueueAnswersOnlyTheDeviceOnTheOldVersion) {
  devices_->register_device("esp32_01", "demo", std::nullopt, "admin");
  EXPECT_FALSE(updates_->check("esp32_01", "1.0.0").available);
  updates_->instruct("esp32_01", "1.0.0", "1.0.1", "admin");
  auto c = updates_->check("esp32_01", "1.0.0");
  EXPECT_TRUE(c.available);
  EXPECT_EQ(c.new_version, "1.0.1");
  EXPECT_FALSE(updates_->check("esp32_01", "1.0.1").available);
  EXPECT_FALSE(updates_->check("someone_else", "1.0.0").available);
  EXPECT_EQ(store_->device("esp32_01")->running_version, "1.0.1");
  EXPECT_THROW(updates_->instruct("ghost", "1.0.0", "1.0.1", "admin"), ServiceError);
  EXPECT_THROW(updates_->instruct("esp32_01", "1.0.0", "7.7", "admin"), ServiceError);
  // The version a device reports is informational: never refused, kept as text.
  EXPECT_FALSE(updates_->check("esp32_01", "esp-idf: v4.4.5 ac5d805d0e").available);
  EXPECT_EQ(store_->device("esp32_01")->running_version, "esp-idf: v4.4.5 ac5d805d0e");
  EXPECT_FALSE(updates_->check("esp32_01", "../x\n\x01").available);
  EXPECT_EQ(store_->device("esp32_01")->running_version, "../x??");
}

// An assignment a device could never install is refused when it is made,
// with the reason: another product's firmware, another chip's, an older
// security counter than the device confirmed. A group assignment is all or
// nothing.
TEST_F(Services, AssignmentsADeviceCouldNeverInstallAreRefusedWhenMade) {
  auto expect_code = [](const std::function<void()>& f, const std::string& code, const std::string& says) {
    try {
      f();
      ADD_FAILURE() << "expected " << code;
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status, code == "firmware_not_found" ? 404 : 409) << e.what();
      EXPECT_EQ(e.code, code) << e.what();
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
  };
  // A device of the default product, and firmware of "demo" only.
  devices_->register_device("d1", "", std::nullopt, "admin");
  EXPECT_EQ(store_->device("d1")->product, kDefaultProduct);
  expect_code([&] { updates_->assign("d1", "1.0.1", "admin"); }, "firmware_not_found",
              "no firmware version 1.0.1 in product default (only in product demo");
  expect_code([&] { updates_->instruct("d1", "1.0.0", "1.0.1", "admin"); }, "firmware_not_found", "only in product demo");
  EXPECT_FALSE(store_->assignment("d1"));

  // A C3 registered as such never gets an ESP32 image.
  devices_->register_device("c3", "demo", std::string("esp32c3"), "admin");
  EXPECT_EQ(store_->device("c3")->chip_id, 5);
  expect_code([&] { updates_->assign("c3", "1.0.1", "admin"); }, "chip_mismatch",
              "firmware 1.0.1 is built for ESP32, device c3 is an ESP32-C3");
  EXPECT_THROW(devices_->register_device("c9", "demo", std::string("esp8266"), "admin"), ServiceError);

  // A device that confirmed counter 2 would refuse counter 1.
  devices_->register_device("d2", "demo", std::nullopt, "admin");
  store_->set_device_security_counter("d2", 2);
  expect_code([&] { updates_->assign("d2", "1.0.0", "admin"); }, "downgrade",
              "firmware 1.0.0 has security counter 1, below the 2 device d2 has confirmed");
  updates_->assign("d2", "1.0.1", "admin");
  EXPECT_EQ(store_->assignment("d2")->product, "demo");

  // The group of demo holds c3 (refused) and d2: none is assigned.
  store_->clear_assignment("d2");
  expect_code([&] { updates_->assign_product("demo", "1.0.1", "admin"); }, "devices_cannot_accept",
              "1 device(s) of product demo could not install 1.0.1, so none was assigned: firmware 1.0.1 is "
              "built for ESP32, device c3 is an ESP32-C3");
  EXPECT_FALSE(store_->assignment("d2"));
  devices_->set_enabled("c3", false, "admin");  // a disabled device is not in the group
  EXPECT_EQ(updates_->assign_product("demo", "1.0.1", "admin"), 1u);
  EXPECT_TRUE(store_->assignment("d2"));
}

// What the check-in does with an assignment it cannot send (one a version-1
// database let through): ends it, once, and says why in the history.
TEST_F(Services, TheServerRefusesAnAssignmentItCannotSendOnceAndSaysWhy) {
  devices_->register_device("d1", "demo", std::nullopt, "admin");
  updates_->assign("d1", "1.0.1", "admin");
  UpdateAssignment a = *store_->assignment("d1");
  updates_->refuse(a, ServiceError(409, "chip_mismatch", "firmware 1.0.1 is built for ESP32, device d1 is an ESP32-C3"));
  EXPECT_FALSE(store_->assignment("d1"));
  auto history = store_->status_history("d1");
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].state, "refused");
  EXPECT_EQ(history[0].detail, "version=1.0.1 chip_mismatch: firmware 1.0.1 is built for ESP32, device d1 is an ESP32-C3");
  EXPECT_EQ(audit_count("update.refused"), 1u);
}

}  // namespace
}  // namespace ota::server
