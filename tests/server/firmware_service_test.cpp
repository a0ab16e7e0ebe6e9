// The firmware registry without sockets: valid uploads, products,
// idempotence, conflicts, hostile versions and non-images, version-1 files;
// nothing is written outside the storage root and the database stays
// consistent.
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
  auto up = service_->upload("", std::string("1.0.0"), img, "admin");
  EXPECT_TRUE(up.created);
  EXPECT_EQ(up.stored, "storage/firmware/firmware_1.0.0.bin");
  EXPECT_EQ(test::read_file(dir_ / up.stored), img);
  EXPECT_EQ(up.record.product, kDefaultProduct) << "the product comes from the upload, not the image";
  EXPECT_EQ(up.record.app_version, "1.0.0");
  EXPECT_EQ(up.record.size, img.size());
  EXPECT_EQ(up.record.security_counter, 1u);
  EXPECT_EQ(service_->get(kDefaultProduct, "1.0.0").sha256_hex, up.record.sha256_hex);
  auto audit = store_->audit_log(10);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "firmware.upload");
  // The next release gets a higher security counter; the version can come
  // from the image itself.
  auto next = service_->upload("", std::nullopt, test::synthetic_esp32_app("1.0.1", "demo", code_bytes(2)), "admin");
  EXPECT_EQ(next.record.version, "1.0.1");
  EXPECT_EQ(next.record.security_counter, 2u);
  EXPECT_EQ(service_->list().size(), 2u);
}

// WLED 0.14.0 for ESP32 and for ESP32-C3: the same version in two
// products, each with its own file, chip and security counter.
TEST_F(FirmwareServiceTest, TwoProductsKeepTheSameVersionApart) {
  auto esp32 = test::synthetic_esp32_app("0.14.0", "WLED", code_bytes(1), 0);
  auto c3 = test::synthetic_esp32_app("0.14.0", "WLED", code_bytes(2), 5);
  auto a = service_->upload("wled-esp32", std::nullopt, esp32, "admin");
  auto b = service_->upload("wled-esp32c3", std::nullopt, c3, "admin");
  EXPECT_TRUE(a.created);
  EXPECT_TRUE(b.created);
  EXPECT_EQ(a.stored, "storage/products/wled-esp32/firmware/firmware_0.14.0.bin");
  EXPECT_EQ(b.stored, "storage/products/wled-esp32c3/firmware/firmware_0.14.0.bin");
  EXPECT_EQ(test::read_file(dir_ / a.stored), esp32);
  EXPECT_EQ(test::read_file(dir_ / b.stored), c3);
  EXPECT_EQ(service_->get("wled-esp32", "0.14.0").chip_id, 0);
  EXPECT_EQ(service_->get("wled-esp32c3", "0.14.0").chip_id, 5);
  EXPECT_EQ(b.record.security_counter, 1u) << "counters are per product";
  EXPECT_EQ(service_->read_image("wled-esp32c3", "0.14.0"), c3);
  EXPECT_EQ(service_->list("wled-esp32").size(), 1u);
  EXPECT_EQ(service_->list().size(), 2u);
  // The usual mistake, the wrong product, is named as such.
  expect_error([&] { service_->get(kDefaultProduct, "0.14.0"); }, 404, "firmware_not_found");
  EXPECT_EQ(last_message_,
            "no firmware version 0.14.0 in product default (product wled-esp32, wled-esp32c3 has it)");
  expect_error([&] { service_->get("wled-esp32s3", "0.14.0"); }, 404, "product_not_found");
  expect_error([&] { service_->list(std::string("nope")); }, 404, "product_not_found");
  std::vector<ProductSummary> products = service_->products();
  ASSERT_EQ(products.size(), 3u);
  auto c3_product = std::find_if(products.begin(), products.end(),
                                 [](const ProductSummary& p) { return p.name == "wled-esp32c3"; });
  ASSERT_NE(c3_product, products.end());
  EXPECT_EQ(c3_product->chips, std::vector<uint16_t>{5});
  EXPECT_EQ(c3_product->firmware, 1u);
}

// An Arduino build, as the issue found it: its project name is the
// library builder's and its version label is not a version.
TEST_F(FirmwareServiceTest, AnArduinoBuildNeedsItsVersionNamedAndKeepsItsLabel) {
  auto img = test::synthetic_esp32_app("esp-idf: v4.4.5 ac5d805d0e", "arduino-lib-builder", code_bytes(4));
  expect_error([&] { service_->upload("", std::nullopt, img, "admin"); }, 400, "invalid_version");
  EXPECT_NE(last_message_.find("the image's own version 'esp-idf: v4.4.5 ac5d805d0e' is not a valid version"),
            std::string::npos)
      << last_message_;
  auto up = service_->upload("", std::string("1.0.0"), img, "admin");
  EXPECT_EQ(up.record.product, kDefaultProduct);
  EXPECT_EQ(up.record.app_version, "esp-idf: v4.4.5 ac5d805d0e");
}

TEST_F(FirmwareServiceTest, SameBytesAreIdempotentOtherBytesConflict) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1));
  service_->upload("", std::string("1.0.0"), img, "admin");
  EXPECT_FALSE(service_->upload("", std::string("1.0.0"), img, "admin").created);
  auto other = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(3));
  expect_error([&] { service_->upload("", std::string("1.0.0"), other, "admin"); }, 409, "version_exists");
  EXPECT_EQ(test::read_file(artifacts_->firmware_path(kDefaultProduct, "1.0.0")), img)
      << "the stored file must not change";
  EXPECT_TRUE(service_->upload("other", std::string("1.0.0"), other, "admin").created)
      << "in another product the same version is free";
}

TEST_F(FirmwareServiceTest, HostileNamesAndNonImagesAreRefusedAndWriteNothing) {
  auto img = test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1));
  for (const std::string& v : {std::string("../1.0"), std::string("a/b"), std::string("1\0" "2", 3),
                              std::string(300, '9'), std::string(""), std::string("..")})
    expect_error([&] { service_->upload("", v, img, "admin"); }, 400, "invalid_version");
  for (const std::string& p : {std::string("../p"), std::string("a/b"), std::string("a b"), std::string(".p"),
                              std::string("x~y"), std::string(33, 'p')})
    expect_error([&] { service_->upload(p, std::string("1.0"), img, "admin"); }, 400, "invalid_product");
  expect_error([&] { service_->upload("", std::string("2.0"), {}, "admin"); }, 400, "empty_file");
  std::string text = "this is not firmware\n";
  expect_error([&] {
    service_->upload("", std::string("2.0"), std::vector<uint8_t>(text.begin(), text.end()), "admin");
  }, 422, "invalid_image");
  auto truncated = img;
  truncated.resize(img.size() / 2);
  expect_error([&] { service_->upload("", std::string("2.0"), truncated, "admin"); }, 422, "invalid_image");
  // A merged flash image (bootloader + partition table + app) is explained.
  std::vector<uint8_t> merged(0x10000, 0xFF);
  auto boot = test::synthetic_esp32_app("boot", "boot", code_bytes(5, 2000));
  std::copy(boot.begin(), boot.end(), merged.begin() + 0x1000);
  merged.insert(merged.end(), img.begin(), img.end());
  merged[0x8000] = 0xAA;
  merged[0x8001] = 0x50;
  expect_error([&] { service_->upload("", std::string("2.0"), merged, "admin"); }, 422, "invalid_image");
  EXPECT_NE(last_message_.find("merged flash image"), std::string::npos) << last_message_;
  EXPECT_TRUE(service_->list().empty());
  EXPECT_EQ(service_->products().size(), 1u) << "no product was made by a refused upload";
  auto all = files();
  all.erase(std::remove_if(all.begin(), all.end(), [](const std::string& f) {
              return f.rfind("ota.db", 0) == 0;  // database and its WAL files
            }), all.end());
  EXPECT_TRUE(all.empty()) << all.front();
}

TEST_F(FirmwareServiceTest, GetAndRemove) {
  expect_error([&] { service_->get(kDefaultProduct, "9.9"); }, 404, "firmware_not_found");
  expect_error([&] { service_->get(kDefaultProduct, "../x"); }, 400, "invalid_version");
  expect_error([&] { service_->get("../p", "1.0"); }, 400, "invalid_product");
  service_->upload("", std::string("1.0.0"), test::synthetic_esp32_app("1.0.0", "demo", code_bytes(1)), "admin");
  service_->upload("", std::string("1.0.1"), test::synthetic_esp32_app("1.0.1", "demo", code_bytes(2)), "admin");
  PatchRecord p;
  p.product = kDefaultProduct;
  p.old_version = "1.0.0";
  p.new_version = "1.0.1";
  store_->put_patch(p);
  expect_error([&] { service_->remove(kDefaultProduct, "1.0.0", "admin"); }, 409, "firmware_in_use");
  EXPECT_TRUE(fs::exists(artifacts_->firmware_path(kDefaultProduct, "1.0.0")));
  expect_error([&] { service_->remove(kDefaultProduct, "2.0", "admin"); }, 404, "firmware_not_found");
}

// Version 1 kept every product's images in the original layout; v2 moves
// another product's to its folder, once, after checking each digest, and
// leaves what is not that image alone.
TEST_F(FirmwareServiceTest, VersionOneImagesMoveToTheirProductsFolder) {
  auto img = test::synthetic_esp32_app("2.0.0", "app", code_bytes(7));
  auto up = service_->upload("app", std::string("2.0.0"), img, "admin");
  auto other = test::synthetic_esp32_app("2.0.1", "app", code_bytes(8));
  service_->upload("app", std::string("2.0.1"), other, "admin");
  // Put them where v1 had them: 2.0.0 with its own bytes, 2.0.1 with
  // bytes that are not its image.
  fs::path v1_a = artifacts_->firmware_path(kDefaultProduct, "2.0.0");
  fs::path v1_b = artifacts_->firmware_path(kDefaultProduct, "2.0.1");
  fs::rename(dir_ / up.stored, v1_a);
  fs::remove(artifacts_->firmware_path("app", "2.0.1"));
  test::write_file(v1_b, img);
  EXPECT_EQ(service_->relocate_v1_files(), 1u);
  EXPECT_EQ(service_->read_image("app", "2.0.0"), img);
  EXPECT_FALSE(fs::exists(v1_a)) << "moved, not copied";
  EXPECT_TRUE(fs::exists(v1_b)) << "not 2.0.1's image: left where it was";
  EXPECT_FALSE(fs::exists(artifacts_->firmware_path("app", "2.0.1")));
  EXPECT_EQ(service_->relocate_v1_files(), 0u) << "idempotent";
  EXPECT_EQ(store_->audit_log(1)[0].action, "firmware.relocate");
}

}  // namespace
}  // namespace ota::server
