// The firmware registry without sockets: valid uploads, idempotence,
// conflicts, hostile versions and non-images; nothing is written outside
// the storage root and the database stays consistent.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "ota/server/firmware_service.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> code_bytes(uint32_t seed, size_t n = 50000) {
  std::mt19937 rng(seed);
  return test::synthetic_image(rng, n);
}

class FirmwareServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("fw");
    store_ = Store::open(test::store_url(dir_));
    artifacts_ = std::make_unique<ArtifactStore>(dir_ / "storage");
    service_ = std::make_unique<FirmwareService>(*store_, *artifacts_, [] { return int64_t{1764000000}; });
  }
  void TearDown() override { fs::remove_all(dir_); }

  int expect_error(const std::function<void()>& f, int status, const std::string& code) {
    try {
      f();
      ADD_FAILURE() << "expected " << code;
    } catch (const ServiceError& e) {
      EXPECT_EQ(e.status, status) << e.what();
      EXPECT_EQ(e.code, code) << e.what();
      last_message_ = e.what();
    }
    return 0;
  }

  // Every file under the data dir, relative to it.
  std::vector<std::string> files() const {
    std::vector<std::string> out;
    for (auto& e : fs::recursive_directory_iterator(dir_))
      if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir_).string());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ArtifactStore> artifacts_;
  std::unique_ptr<FirmwareService> service_;
  std::string last_message_;
};

TEST_F(FirmwareServiceTest, StoresAValidImageInTheOriginalLayout) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1));
  auto up = service_->upload(std::string("1.0.0"), img, "admin");
  EXPECT_TRUE(up.created);
  EXPECT_EQ(up.stored, "storage/firmware/firmware_1.0.0.bin");
  EXPECT_EQ(test::read_file(dir_ / up.stored), img);
  EXPECT_EQ(up.record.product, "demo");
  EXPECT_EQ(up.record.app_version, "1.0.0");
  EXPECT_EQ(up.record.size, img.size());
  EXPECT_EQ(up.record.security_counter, 1u);
  EXPECT_EQ(service_->get("1.0.0").sha256_hex, up.record.sha256_hex);
  auto audit = store_->audit_log(10);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "firmware.upload");
  // The next release gets a higher security counter; the version can come
  // from the image itself.
  auto next = service_->upload(std::nullopt, test::synthetic_esp32_app("1.0.1", "demo", code_bytes(2)), "admin");
  EXPECT_EQ(next.record.version, "1.0.1");
  EXPECT_EQ(next.record.security_counter, 2u);
  EXPECT_EQ(service_->list().size(), 2u);
}

TEST_F(FirmwareServiceTest, SameBytesAreIdempotentOtherBytesConflict) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1));
  service_->upload(std::string("1.0.0"), img, "admin");
  EXPECT_FALSE(service_->upload(std::string("1.0.0"), img, "admin").created);
  auto other = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(3));
  expect_error([&] { service_->upload(std::string("1.0.0"), other, "admin"); }, 409, "version_exists");
  EXPECT_EQ(test::read_file(artifacts_->firmware_path("1.0.0")), img) << "the stored file must not change";
}

TEST_F(FirmwareServiceTest, HostileVersionsAndNonImagesAreRefusedAndWriteNothing) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1));
  for (const std::string& v : {std::string("../1.0"), std::string("a/b"), std::string("1\0" "2", 3),
                              std::string(300, '9'), std::string(""), std::string("..")})
    expect_error([&] { service_->upload(v, img, "admin"); }, 400, "invalid_version");
  expect_error([&] { service_->upload(std::string("2.0"), {}, "admin"); }, 400, "empty_file");
  std::string text = "this is not firmware\n";
  expect_error([&] {
    service_->upload(std::string("2.0"), std::vector<uint8_t>(text.begin(), text.end()), "admin");
  }, 422, "invalid_image");
  auto truncated = img;
  truncated.resize(img.size() / 2);
  expect_error([&] { service_->upload(std::string("2.0"), truncated, "admin"); }, 422, "invalid_image");
  // A merged flash image (bootloader + partition table + app) is explained.
  std::vector<uint8_t> merged(0x10000, 0xFF);
  auto boot = test::synthetic_esp32_app("boot", "boot", code_bytes(5, 2000));
  std::copy(boot.begin(), boot.end(), merged.begin() + 0x1000);
  merged.insert(merged.end(), img.begin(), img.end());
  merged[0x8000] = 0xAA;
  merged[0x8001] = 0x50;
  expect_error([&] { service_->upload(std::string("2.0"), merged, "admin"); }, 422, "invalid_image");
  EXPECT_NE(last_message_.find("merged flash image"), std::string::npos) << last_message_;
  EXPECT_TRUE(service_->list().empty());
  auto all = files();
  all.erase(std::remove_if(all.begin(), all.end(), [](const std::string& f) {
              return f.rfind("ota.db", 0) == 0;  // database and its WAL files
            }), all.end());
  EXPECT_TRUE(all.empty()) << all.front();
}

TEST_F(FirmwareServiceTest, GetAndRemove) {
  expect_error([&] { service_->get("9.9"); }, 404, "firmware_not_found");
  expect_error([&] { service_->get("../x"); }, 400, "invalid_version");
  service_->upload(std::string("1.0.0"), test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1)), "admin");
  service_->upload(std::string("1.0.1"), test::synthetic_esp32_app("1.0.1", "demo", code_bytes(2)), "admin");
  PatchRecord p;
  p.old_version = "1.0.0";
  p.new_version = "1.0.1";
  store_->put_patch(p);
  expect_error([&] { service_->remove("1.0.0", "admin"); }, 409, "firmware_in_use");
  EXPECT_TRUE(fs::exists(artifacts_->firmware_path("1.0.0")));
  expect_error([&] { service_->remove("2.0", "admin"); }, 404, "firmware_not_found");
}

}  // namespace
}  // namespace ota::server
