// The provisioning bundle: file names, modes, contents, and a generated C
// header that a C compiler accepts.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ota/server/crypto.h"
#include "ota/server/provisioning.h"
#include "test_support.h"

namespace ota::server {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST(ProvisioningBundle, WritesTheDocumentedFiles) {
  fs::path dir = test::make_temp_dir("bundle") / "dev-0001";
  Bytes key = random_bytes(32);
  SigningKey signer = SigningKey::generate();
  ProvisioningBundle b{"dev-0001", "wled", "https://ota.example:8443", key, signer.public_pem(),
                       std::string("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
                       std::string(64, 'a')};
  write_provisioning_bundle(dir, b);
  EXPECT_EQ(mode_of(dir / "device.key"), 0600);
  EXPECT_EQ(mode_of(dir / "ota_device_config.h"), 0600);
  EXPECT_EQ(mode_of(dir / "device.token"), 0600);
  EXPECT_EQ(slurp(dir / "device.token"), std::string(64, 'a'));
  EXPECT_EQ(mode_of(dir), 0700);
  std::string k = slurp(dir / "device.key");
  EXPECT_EQ(Bytes(k.begin(), k.end()), key);
  std::string json = slurp(dir / "device.json");
  EXPECT_NE(json.find("\"device_id\": \"dev-0001\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"server_url\": \"https://ota.example:8443\""), std::string::npos);
  EXPECT_NE(json.find("\"product\": \"wled\""), std::string::npos);
  EXPECT_EQ(slurp(dir / "server_pub.pem"), signer.public_pem());
  EXPECT_TRUE(fs::exists(dir / "ca.pem"));
  // The header is valid C and carries the same key.
  std::string cmd = "cc -fsyntax-only -Werror -x c '" + (dir / "ota_device_config.h").string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::string h = slurp(dir / "ota_device_config.h");
  char first[8];
  std::snprintf(first, sizeof first, "0x%02x", key[0]);
  EXPECT_NE(h.find(first), std::string::npos);
  EXPECT_NE(h.find("#define OTA_DEVICE_ID \"dev-0001\""), std::string::npos);
  // A second bundle for the same folder would replace the key: refused.
  EXPECT_THROW(write_provisioning_bundle(dir, b), std::runtime_error);
  fs::remove_all(dir.parent_path());
}

TEST(ProvisioningBundle, RefusesBadIdentities) {
  fs::path dir = test::make_temp_dir("bundle-bad");
  Bytes key = random_bytes(32);
  for (const char* id : {"", "../x", "a/b", "dev 1", "x\n"}) {
    ProvisioningBundle b{id, "wled", "https://h", key, "pem", std::nullopt, ""};
    EXPECT_THROW(write_provisioning_bundle(dir / "d", b), std::invalid_argument) << id;
  }
  ProvisioningBundle short_key{"dev", "wled", "https://h", std::span<const uint8_t>(key).first(16),
                               "pem", std::nullopt, ""};
  EXPECT_THROW(write_provisioning_bundle(dir / "d", short_key), std::invalid_argument);
  ProvisioningBundle bad_url{"dev", "wled", "https://h\"\n", key, "pem", std::nullopt, ""};
  EXPECT_THROW(write_provisioning_bundle(dir / "d", bad_url), std::invalid_argument);
  EXPECT_FALSE(fs::exists(dir / "d" / "device.key"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ota::server

#include "ota/server/server_keys.h"

namespace ota::server {
namespace {

TEST(ServerKeys, MadeOnFirstStartAndReloadedAfter) {
  fs::path dir = test::make_temp_dir("keys") / "keys";
  ServerKeys a = load_or_create_server_keys(dir);
  EXPECT_TRUE(a.created);
  EXPECT_EQ(mode_of(dir), 0700);
  EXPECT_EQ(mode_of(dir / "signing_key.pem"), 0600);
  EXPECT_EQ(mode_of(dir / "master.key"), 0600);
  EXPECT_EQ(mode_of(dir / "signing_pub.pem"), 0644);
  EXPECT_EQ(slurp(dir / "signing_key.pem").rfind("-----BEGIN EC PRIVATE KEY-----", 0), 0u);
  ServerKeys b = load_or_create_server_keys(dir);
  EXPECT_FALSE(b.created);
  EXPECT_EQ(a.signing.public_point(), b.signing.public_point());
  EXPECT_EQ(a.master, b.master);
  EXPECT_EQ(slurp(dir / "signing_pub.pem"), a.signing.public_pem());
  // A key file others can read is refused, and so is one that is not a key.
  ::chmod((dir / "signing_key.pem").c_str(), 0644);
  EXPECT_THROW(load_or_create_server_keys(dir), std::runtime_error);
  ::chmod((dir / "signing_key.pem").c_str(), 0600);
  { std::ofstream(dir / "signing_key.pem", std::ios::trunc) << "not a key\n"; }
  try {
    load_or_create_server_keys(dir);
    ADD_FAILURE() << "a garbage key file was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("signing_key.pem"), std::string::npos) << e.what();
  }
  fs::remove_all(dir.parent_path());
}

}  // namespace
}  // namespace ota::server
