// SPDX-License-Identifier: Apache-2.0
//
// Products end to end, as a new user drives them: a real ota-server over
// TLS, otactl and ota-sim as processes. An Arduino build (project name
// "arduino-lib-builder", a version label with spaces) updates in the default
// product; two products with the same version strings (WLED for ESP32 and
// for ESP32-C3, from the corpus when it is there) each get their own image;
// an assignment across products is refused when it is made; a check-in the
// server refuses is reported as refused, with its code, not as offline; an
// image the server does not know is shown so.
#include <gtest/gtest.h>

#include <sstream>
#include <sys/wait.h>

#include <cstdio>
#include <random>

#include "e2e_support.h"
#include "test_postgres.h"
#include "test_support.h"

namespace ota::e2e {
namespace {

constexpr const char* kToken = "products-e2e-admin-token-0123456789";

Command run(const std::string& cmd) { return run_command(cmd + " 2>&1"); }

class e2e_products : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("e2e-products");
    cert_ = dir_ / "server.pem";
    fs::path key = dir_ / "server.key";
    std::string err;
    ASSERT_TRUE(make_tls_cert(cert_, key, &err)) << err;
    ASSERT_TRUE(server_.start(dir_ / "data", dir_ / "server.log", kToken, cert_, key, &err)) << err;
    ASSERT_TRUE(server_.wait_ready(cert_.string(), 20000, &err)) << err;
    admin_ = HttpClient(server_.url(), cert_.string(), kToken);
  }
  void TearDown() override {
    server_.stop();
    fs::remove_all(dir_);
  }

  Command otactl(const std::string& args) {
    return run(shell_quoted(test::bin_dir() / "otactl") + " --server " + server_.url() + " --token " + kToken +
               " --cacert " + shell_quoted(cert_) + " " + args);
  }
  // Registers `id` (otactl device add) with a bundle in dir/bundles/id.
  fs::path add_device(const std::string& id, const std::string& flags = "") {
    fs::path bundle = dir_ / "bundles" / id;
    Command c = otactl("device add " + id + " --out " + shell_quoted(bundle) + " --ca " + shell_quoted(cert_) + " " + flags);
    EXPECT_EQ(c.exit_code, 0) << c.out;
    return bundle;
  }
  fs::path write(const std::string& name, const Bytes& bytes) {
    fs::path p = dir_ / name;
    test::write_file(p, bytes);
    return p;
  }
  // One ota-sim poll of the device `id`, starting (first time) on `image`;
  // its JSON summary.
  nlohmann::json sim(const std::string& id, const fs::path& image, const std::string& extra = "") {
    Command c = run(shell_quoted(test::bin_dir() / "ota-sim") + " --bundle " + shell_quoted(dir_ / "bundles" / id) + " --state " +
                    shell_quoted(dir_ / "devices" / id) + " --image " + shell_quoted(image) + " --once --quiet " + extra);
    last_sim_ = c;
    return last_json(c.out);
  }
  nlohmann::json device(const std::string& id) {
    return nlohmann::json::parse(admin_.get("/api/v1/devices/" + id).body, nullptr, false);
  }
  std::string history(const std::string& id) {
    nlohmann::json h = nlohmann::json::parse(admin_.get("/api/v1/devices/" + id + "/status").body, nullptr, false);
    std::string out;
    for (const auto& e : h["history"]) out += e["state"].get<std::string>() + " ";
    return out;
  }

  fs::path dir_, cert_;
  ServerProcess server_;
  HttpClient admin_;
  Command last_sim_;
};

// The trap, step by step: an Arduino build calls itself
// "arduino-lib-builder" and reports "esp-idf: v4.4.5 ac5d805d0e"; the
// device and the firmware land in the default product, and the update goes
// through.
TEST_F(e2e_products, ANewUsersArduinoBuildUpdatesInTheDefaultProduct) {
  std::mt19937 rng(41);
  Bytes code = test::synthetic_image(rng, 180000);
  const std::string label = "esp-idf: v4.4.5 ac5d805d0e";
  fs::path old_bin = write("old.bin", test::synthetic_esp32_app(label, "arduino-lib-builder", code));
  Bytes next = test::synthetic_esp32_app(label, "arduino-lib-builder", test::mutate_image(rng, code, 20));
  fs::path new_bin = write("new.bin", next);

  add_device("d1");
  Command up1 = otactl("firmware upload 1.0.0 " + shell_quoted(old_bin));
  ASSERT_EQ(up1.exit_code, 0) << up1.out;
  ASSERT_EQ(otactl("firmware upload 1.0.1 " + shell_quoted(new_bin)).exit_code, 0);
  Command assign = otactl("update assign d1 1.0.1");
  ASSERT_EQ(assign.exit_code, 0) << assign.out;
  EXPECT_NE(assign.out.find("default"), std::string::npos) << assign.out;

  nlohmann::json s = sim("d1", old_bin);  // no --version: the app descriptor's label
  EXPECT_EQ(last_sim_.exit_code, 0) << last_sim_.out << "\n" << server_.output();
  EXPECT_EQ(s.value("outcome", ""), "updated") << last_sim_.out;
  EXPECT_EQ(s.value("image_sha256", ""), sha256_hex(next));
  EXPECT_NE(history("d1").find("confirmed"), std::string::npos) << history("d1");
  nlohmann::json d = device("d1");
  EXPECT_EQ(d["product"], "default");
  EXPECT_EQ(d["running_version"], "1.0.1");
  EXPECT_EQ(d["image_known"], true);
  EXPECT_EQ(d["chip"]["name"], "ESP32") << "learnt from the image it ran";
  Command shown = otactl("device list");
  EXPECT_NE(shown.out.find("1.0.1"), std::string::npos) << shown.out;
}

// WLED 0.14.x for ESP32 and for ESP32-C3 (or two synthetic builds for the
// two chips): the same version strings in two products; each device gets
// its own product's image, and nothing of the other.
TEST_F(e2e_products, TwoProductsWithTheSameVersionEachGetTheirOwnImage) {
  struct Product {
    std::string name;
    Bytes old_image, new_image;
  };
  std::vector<Product> products;
  if (auto corpus = test::corpus_dir()) {
    for (const char* series : {"wled-esp32", "wled-esp32c3"})
      for (const test::CorpusPair& p : test::corpus_pairs(*corpus))
        if (p.series == series) {
          products.push_back({series, test::read_file(p.old_path), test::read_file(p.new_path)});
          break;
        }
  }
  if (products.size() != 2) {
    products.clear();
    std::mt19937 rng(43);
    for (uint16_t chip : {0, 5}) {
      Bytes code = test::synthetic_image(rng, 150000);
      products.push_back({chip == 0 ? "wled-esp32" : "wled-esp32c3",
                          test::synthetic_esp32_app("0.14.0", "WLED", code, chip),
                          test::synthetic_esp32_app("0.14.1", "WLED", test::mutate_image(rng, code, 15), chip)});
    }
  }
  for (const Product& p : products) {
    fs::path o = write(p.name + "-old.bin", p.old_image), n = write(p.name + "-new.bin", p.new_image);
    ASSERT_EQ(otactl("firmware upload 1.0.0 " + shell_quoted(o) + " --product " + p.name).exit_code, 0);
    Command up = otactl("firmware upload 1.0.1 " + shell_quoted(n) + " --product " + p.name);
    ASSERT_EQ(up.exit_code, 0) << up.out;
    add_device(p.name + "-dev", "--product " + p.name);
  }
  nlohmann::json listed = nlohmann::json::parse(otactl("--json product list").out, nullptr, false);
  ASSERT_TRUE(listed.is_object());
  std::string chips;
  for (const auto& p : listed["products"])
    for (const auto& c : p["chips"]) chips += p["name"].get<std::string>() + ":" + c["name"].get<std::string>() + " ";
  EXPECT_EQ(chips, "wled-esp32:ESP32 wled-esp32c3:ESP32-C3 ");

  for (const Product& p : products) {
    const std::string id = p.name + "-dev";
    Command assign = otactl("update assign " + id + " 1.0.1");
    ASSERT_EQ(assign.exit_code, 0) << assign.out;
    nlohmann::json s = sim(id, dir_ / (p.name + "-old.bin"));
    EXPECT_EQ(s.value("outcome", ""), "updated") << p.name << ": " << last_sim_.out << "\n" << server_.output();
    EXPECT_EQ(s.value("image_sha256", ""), sha256_hex(p.new_image)) << p.name << " got another product's image";
    EXPECT_EQ(device(id)["running_version"], "1.0.1");
  }
  // Each product's release is its own (the same version names, two streams).
  nlohmann::json a = device("wled-esp32-dev"), b = device("wled-esp32c3-dev");
  EXPECT_NE(a["running_sha256"], b["running_sha256"]);
  EXPECT_EQ(b["chip"]["name"], "ESP32-C3");
}

// A mistake is refused when it is made: a device in product A cannot be
// given a version only product B has.
TEST_F(e2e_products, AnAssignmentAcrossProductsIsRefusedWhenMade) {
  std::mt19937 rng(47);
  fs::path fw = write("lamp.bin", test::synthetic_esp32_app("2.0.0", "lamp", test::synthetic_image(rng, 60000)));
  ASSERT_EQ(otactl("firmware upload 2.0.0 " + shell_quoted(fw) + " --product lamp").exit_code, 0);
  add_device("kitchen-1");  // the default product
  Command c = otactl("update assign kitchen-1 2.0.0");
  EXPECT_EQ(c.exit_code, 1);
  EXPECT_NE(c.out.find("404 firmware_not_found: no firmware version 2.0.0 in product default (only in product lamp"),
            std::string::npos)
      << c.out;
  // A C3 declared as such is refused an ESP32 image of its own product.
  add_device("lamp-c3", "--product lamp --chip ESP32-C3");
  Command chip = otactl("update assign lamp-c3 2.0.0");
  EXPECT_EQ(chip.exit_code, 1);
  EXPECT_NE(chip.out.find("409 chip_mismatch"), std::string::npos) << chip.out;
  EXPECT_EQ(nlohmann::json::parse(otactl("--json status").out)["devices_with_assignment"], 0);
}

// Over TLS the console's session cookie is Secure (and HttpOnly,
// SameSite=Strict), and it works with its CSRF token like the bearer token.
TEST_F(e2e_products, TheConsoleSessionCookieIsSecureOverTls) {
  HttpClient browser = admin_.with_bearer("");
  HttpResult login = browser.post("/api/v1/session", nlohmann::json{{"token", kToken}}.dump(), "application/json");
  ASSERT_EQ(login.status, 201) << login.body;
  std::string cookie_line;
  std::istringstream lines(login.headers);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("Set-Cookie:", 0) == 0 || line.rfind("set-cookie:", 0) == 0) cookie_line = line;
  EXPECT_NE(cookie_line.find("ota_session="), std::string::npos) << login.headers;
  EXPECT_NE(cookie_line.find("; Secure"), std::string::npos) << cookie_line;
  EXPECT_NE(cookie_line.find("; HttpOnly"), std::string::npos) << cookie_line;
  EXPECT_NE(cookie_line.find("; SameSite=Strict"), std::string::npos) << cookie_line;
}

// The server's no is an outcome of its own: refused, with the HTTP status
// and the server's code, not offline.
TEST_F(e2e_products, ARefusedCheckInIsReportedAsRefusedWithTheCode) {
  std::mt19937 rng(53);
  fs::path fw = write("fw.bin", test::synthetic_esp32_app("1.0.0", "x", test::synthetic_image(rng, 40000)));
  add_device("d9");
  ASSERT_EQ(admin_.post("/api/v1/devices/d9/disable", "", "application/json").status, 200);
  nlohmann::json s = sim("d9", fw);
  EXPECT_EQ(last_sim_.exit_code, 1) << last_sim_.out;
  EXPECT_EQ(s.value("outcome", ""), "refused") << last_sim_.out;
  EXPECT_NE(s.value("error", "").find("check-in refused by the server: 403 device_disabled"), std::string::npos)
      << s.dump();
}

// A device whose image the server does not know is told so and shown so;
// its own label is kept as it reported it.
TEST_F(e2e_products, AnImageTheServerDoesNotKnowIsShownSo) {
  std::mt19937 rng(59);
  fs::path fw = write("mine.bin", test::synthetic_esp32_app("my build 7", "x", test::synthetic_image(rng, 40000)));
  add_device("d7");
  nlohmann::json s = sim("d7", fw);
  EXPECT_EQ(s.value("outcome", ""), "up_to_date") << last_sim_.out;
  nlohmann::json d = device("d7");
  EXPECT_EQ(d["image_known"], false);
  EXPECT_TRUE(d["running_version"].is_null());
  EXPECT_EQ(d["reported_version"], "my build 7");
  Command list = otactl("device list");
  EXPECT_NE(list.out.find("unknown image (reports \"my build 7\")"), std::string::npos) << list.out;
}

}  // namespace
}  // namespace ota::e2e
