// Artifact paths in the original layout (and per product): hostile versions and ids never
// name a file outside the storage root; writes are atomic; crash leftovers
// are swept.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "ota/server/artifacts.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;

TEST(Versions, AcceptRealReleaseNames) {
  for (const char* v : {"1.0.0", "0.14.0-b3", "1.0.1+build.2", "v2", "0.98", "A_b-C.9",
                        "12345678901234567890123456789012"})
    EXPECT_TRUE(valid_version(v)) << v;
}

TEST(Versions, RefuseHostileStrings) {
  const std::string nul("1\0" "2", 3);
  for (const std::string& v : {std::string(""), std::string("../x"), std::string("a/b"), nul,
                              std::string(300, '1'), std::string(33, '1'), std::string(".hidden"),
                              std::string("-rf"), std::string("a..b"), std::string("1.0 "),
                              std::string("1\\2"), std::string("\xc3\xa4"), std::string("%2e%2e"),
                              std::string("a:b"), std::string("1.0\n")})
    EXPECT_FALSE(valid_version(v)) << v;
  EXPECT_FALSE(valid_device_id("dev+1"));
  EXPECT_TRUE(valid_device_id(std::string(64, 'd')));
  EXPECT_FALSE(valid_device_id(std::string(65, 'd')));
}

class Artifacts : public ::testing::Test {
 protected:
  void SetUp() override { root_ = test::make_temp_dir("artifacts") / "storage"; }
  void TearDown() override { fs::remove_all(root_.parent_path()); }
  fs::path root_;
};

TEST(ReleaseNames, PlainFullAndFirmwareAwareNeverCollide) {
  EXPECT_EQ(ArtifactStore::release_name("default", "1.0.0", "1.0.1"), "1.0.0_to_1.0.1");
  EXPECT_EQ(ArtifactStore::release_name("default", "", "1.0.1"), "full_1.0.1");
  EXPECT_EQ(ArtifactStore::release_name("default", "1.0.0", "1.0.1", true), "1.0.0_to_1.0.1~fa");
  EXPECT_THROW(ArtifactStore::release_name("default", "", "1.0.1", true), std::invalid_argument);
  EXPECT_THROW(ArtifactStore::release_name("default", "../x", "1.0.1", true), std::invalid_argument);
  for (const char* ok : {"1.0.0_to_1.0.1", "full_1.0.1", "1.0.0_to_1.0.1~fa", "a_b_to_c_d~fa"})
    EXPECT_TRUE(ArtifactStore::valid_release_name(ok)) << ok;
  // '~' is in no version, so "~fa" only ever ends a delta's name.
  for (const char* bad : {"full_1.0.1~fa", "~fa", "1.0.0~fa", "1.0.0_to_~fa", "1.0.0_to_1.0.1~fa~fa",
                          "1.0.0_to_1.0.1~fb", "1~fa~fa", "../1_to_2~fa"})
    EXPECT_FALSE(ArtifactStore::valid_release_name(bad)) << bad;
}

// Another product's releases start with its name and '~': the same
// versions in two products never share a release.
TEST(ReleaseNames, AProductOtherThanTheDefaultPrefixesItsName) {
  EXPECT_EQ(ArtifactStore::release_name("wled-c3", "0.14.0", "0.14.1"), "wled-c3~0.14.0_to_0.14.1");
  EXPECT_EQ(ArtifactStore::release_name("wled-c3", "", "0.14.1"), "wled-c3~full_0.14.1");
  EXPECT_EQ(ArtifactStore::release_name("wled-c3", "0.14.0", "0.14.1", true), "wled-c3~0.14.0_to_0.14.1~fa");
  EXPECT_THROW(ArtifactStore::release_name("", "0.14.0", "0.14.1"), std::invalid_argument);
  EXPECT_THROW(ArtifactStore::release_name("a/b", "0.14.0", "0.14.1"), std::invalid_argument);
  EXPECT_THROW(ArtifactStore::release_name("a~b", "0.14.0", "0.14.1"), std::invalid_argument);
  for (const char* ok : {"wled-c3~0.14.0_to_0.14.1", "wled-c3~full_1", "p~1_to_2~fa"})
    EXPECT_TRUE(ArtifactStore::valid_release_name(ok)) << ok;
  for (const char* bad : {"default~1_to_2", "~1_to_2", "p~", "p~full_1~fa", "a~b~1_to_2", "../p~1_to_2",
                          "p~~fa", ".p~1_to_2"})
    EXPECT_FALSE(ArtifactStore::valid_release_name(bad)) << bad;
}

TEST_F(Artifacts, OriginalLayout) {
  ArtifactStore s(root_);
  EXPECT_EQ(s.firmware_path("default", "1.0.1"), root_ / "firmware" / "firmware_1.0.1.bin");
  EXPECT_EQ(s.patch_path("default", "1.0.0", "1.0.1"), root_ / "patches" / "patch_1.0.0_to_1.0.1.bsdiff");
  EXPECT_EQ(s.signature_path("default", "1.0.0", "1.0.1"), root_ / "signatures" / "patch_1.0.0_to_1.0.1.sig");
  EXPECT_EQ(s.encrypted_patch_path("default", "1.0.0", "1.0.1", "dev-1"),
            root_ / "patches" / "dev-1" / "patch_1.0.0_to_1.0.1.bsdiff.enc");
  EXPECT_THROW(s.firmware_path("default", "../../etc/passwd"), std::invalid_argument);
  EXPECT_THROW(s.patch_path("default", "1.0", "x/y"), std::invalid_argument);
  EXPECT_THROW(s.encrypted_patch_path("default", "1.0", "1.1", ".."), std::invalid_argument);
}

TEST_F(Artifacts, AnotherProductHasTheSameLayoutUnderProducts) {
  ArtifactStore s(root_);
  fs::path p = root_ / "products" / "wled-c3";
  EXPECT_EQ(s.firmware_path("wled-c3", "1.0.1"), p / "firmware" / "firmware_1.0.1.bin");
  EXPECT_EQ(s.patch_path("wled-c3", "1.0.0", "1.0.1"), p / "patches" / "patch_1.0.0_to_1.0.1.bsdiff");
  EXPECT_EQ(s.signature_path("wled-c3", "1.0.0", "1.0.1"), p / "signatures" / "patch_1.0.0_to_1.0.1.sig");
  EXPECT_EQ(s.encrypted_patch_path("wled-c3", "1.0.0", "1.0.1", "dev-1"),
            p / "patches" / "dev-1" / "patch_1.0.0_to_1.0.1.bsdiff.enc");
  for (const std::string& bad : {std::string(), std::string(".."), std::string("../x"), std::string("a/b"),
                                 std::string(".hidden"), std::string("-x"), std::string("a+b"),
                                 std::string("a~b"), std::string(33, 'p')})
    EXPECT_THROW(s.firmware_path(bad, "1.0"), std::invalid_argument) << bad;
  std::vector<uint8_t> b = {7, 8, 9};
  s.write_atomic(s.firmware_path("wled-c3", "1.0.1"), b);  // makes the product's folders
  EXPECT_EQ(s.read(s.firmware_path("wled-c3", "1.0.1")), b);
  EXPECT_FALSE(s.read(s.firmware_path("default", "1.0.1")).has_value()) << "another product's file";
}

TEST_F(Artifacts, WritesAtomicallyAndReadsBack) {
  ArtifactStore s(root_);
  std::vector<uint8_t> a(100000, 0xAB), b(10, 0xCD);
  fs::path p = s.firmware_path("default", "1.0.0");
  s.write_atomic(p, a);
  EXPECT_EQ(s.read(p), a);
  s.write_atomic(p, b);  // replaces whole
  EXPECT_EQ(s.read(p), b);
  s.write_atomic(s.encrypted_patch_path("default", "1", "2", "dev-9"), b);  // makes the device folder
  EXPECT_EQ(s.read(s.encrypted_patch_path("default", "1", "2", "dev-9")), b);
  EXPECT_FALSE(s.read(s.firmware_path("default", "9.9")).has_value());
  EXPECT_TRUE(s.remove(p));
  EXPECT_FALSE(s.remove(p));
  for (auto& e : fs::recursive_directory_iterator(root_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
}

TEST_F(Artifacts, CrashLeftoversAreSweptAtStart) {
  {
    ArtifactStore s(root_);
    s.write_atomic(s.firmware_path("default", "1.0.0"), std::vector<uint8_t>{1, 2, 3});
  }
  std::ofstream(root_ / "firmware" / "firmware_1.0.1.bin.tmp-abc") << "half";
  fs::create_directories(root_ / "patches" / "dev-1");
  std::ofstream(root_ / "patches" / "dev-1" / "patch_1_to_2.bsdiff.enc.tmp-x") << "half";
  ArtifactStore again(root_);
  EXPECT_EQ(again.swept(), 2u);
  EXPECT_FALSE(fs::exists(root_ / "firmware" / "firmware_1.0.1.bin.tmp-abc"));
  EXPECT_TRUE(fs::exists(again.firmware_path("default", "1.0.0")));
}

}  // namespace
}  // namespace ota::server
