// otactl: the admin command line over ota-server's API.
//
//   otactl [--server URL] [--token T] [--cacert CA.pem] [--json] COMMAND ...
//     product list
//     firmware upload VERSION FILE [--product P]
//     firmware list [--product P]
//     patch list [--product P]
//     device add ID --out DIR [--product P] [--chip C] [--ca CA.pem]
//     device list [--filter EXPR]
//     device show ID
//     device tag ID KEY=VALUE... [--remove KEY]...
//     group list
//     group create NAME [--filter EXPR]
//     group show NAME
//     group add NAME DEVICE_ID...
//     group remove NAME DEVICE_ID
//     group delete NAME
//     update assign DEVICE_ID VERSION
//     rollout create --version V (--group G | --filter EXPR) [--product P] [--waves 5%,25%,100%]
//                    [--success 95%] [--max-failures 2%] [--confirm-within 30m] [--approve]
//                    [--start-at WHEN] [--max-downloads N] [--retries N] [--retry-backoff 5m]
//                    [--order ID,ID...] [--seed N]
//     rollout list
//     rollout show ID [--watch] [--interval S] [--devices]
//     rollout pause|resume|approve|abort ID
//     status
//
// A product not named is the server's default product, for firmware and
// devices alike: a device only ever gets its own product's firmware.
//
// --server / OTA_SERVER (default http://127.0.0.1:8000), --token /
// OTA_ADMIN_TOKEN, --cacert / OTA_CACERT (the CA of an https server with a
// private certificate authority). Exit status: 0 success, 1 the server refused or could
// not be reached (one line on stderr, with the server's error code), 2 usage;
// rollout show --watch: 0 once the rollout completed, 1 when it halted or
// was aborted.
#include <curl/curl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <iostream>
#include <optional>
#include <sstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli.h"
#include "ota/server/provisioning.h"
#include "rollout_commands.h"

namespace {

using namespace otactl;

const Columns kFirmwareColumns = {
    {"product", "PRODUCT"}, {"version", "VERSION"}, {"chip", "CHIP"}, {"size", "SIZE"},
    {"security_counter", "COUNTER"}, {"sha256", "SHA-256"}};
const Columns kPatchColumns = {
    {"product", "PRODUCT"}, {"old_version", "FROM"}, {"new_version", "TO"}, {"size", "SIZE"},
    {"firmware_aware_size", "FIRMWARE-AWARE"}, {"full_size", "FULL IMAGE"}, {"saved_bytes", "SAVED"}};
const Columns kBuildColumns = {
    {"label", "BUILD"}, {"state", "STATE"}, {"devices", "DEVICES"}, {"attempts", "ATTEMPTS"},
    {"build_seconds", "SECONDS"}, {"error", "ERROR"}};
const Columns kDeviceColumns = {
    {"device_id", "DEVICE"}, {"product", "PRODUCT"}, {"chip", "CHIP"}, {"enabled", "ENABLED"},
    {"running", "RUNNING"}, {"last_seen", "LAST SEEN"}};
const Columns kGroupColumns = {
    {"name", "GROUP"}, {"kind", "KIND"}, {"member_count", "DEVICES"}, {"filter", "FILTER"}};
const Columns kProductColumns = {
    {"name", "PRODUCT"}, {"chips", "CHIPS"}, {"firmware", "FIRMWARE"}, {"devices", "DEVICES"}};

// A device as the tables show it: the chip by name, and what it runs: the
// server's version when it knows the image, else "unknown" with the
// device's own label.
json device_row(json d) {
  d["chip"] = d["chip"].is_object() ? d["chip"]["name"] : json("?");
  if (d.value("image_known", false)) d["running"] = d["running_version"];
  else d["running"] = "unknown image (reports \"" + d.value("reported_version", std::string()) + "\")";
  return d;
}

json product_row(json p) {
  std::string chips;
  for (const json& c : p["chips"]) chips += (chips.empty() ? "" : ",") + c["name"].get<std::string>();
  p["chips"] = chips.empty() ? "-" : chips;
  return p;
}

int run(const Options& o) {
  const auto& a = o.args;
  auto need = [&](size_t n, const char* usage) {
    if (a.size() != n) throw UsageError(std::string("usage: otactl ") + usage);
  };
  Client client(o);
  auto emit = [&](const json& j, const std::function<void()>& human) {
    if (o.json) std::puts(j.dump(2).c_str());
    else human();
  };
  if (a.empty()) throw UsageError("missing command (product, firmware, device, group, update, rollout, status)");
  const std::string& group = a[0];
  if (group == "rollout") return rollout_command(o, client, a);
  if (group == "status") {
    need(1, "status");
    json j = client.ok(client.request("GET", "/api/v1/status"));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (a.size() < 2) throw UsageError("missing subcommand of " + group);
  const std::string& cmd = a[1];
  if (group == "product" && cmd == "list") {
    need(2, "product list");
    json j = client.ok(client.request("GET", "/api/v1/products"));
    json rows = json::array();
    for (const json& p : j["products"]) rows.push_back(product_row(p));
    emit(j, [&] { print_table(rows, kProductColumns); });
    return 0;
  }
  if (group == "firmware" && cmd == "upload") {
    const std::string usage = "firmware upload VERSION FILE [--product P]";
    Flags f = parse_flags(a, 2, {"--product"}, usage);
    if (f.positional.size() != 2) throw UsageError("usage: otactl " + usage);
    std::string body = read_file(f.positional[1]);
    std::string path = "/api/v1/firmware?version=" + escaped(f.positional[0]);
    if (f.values.count("--product")) path += "&product=" + escaped(f.values["--product"]);
    json j = client.ok(client.request("POST", path, body, "application/octet-stream", true));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (group == "firmware" && cmd == "list") {
    const std::string usage = "firmware list [--product P]";
    Flags f = parse_flags(a, 2, {"--product"}, usage);
    if (!f.positional.empty()) throw UsageError("usage: otactl " + usage);
    std::string path = "/api/v1/firmware";
    if (f.values.count("--product")) path += "?product=" + escaped(f.values["--product"]);
    json j = client.ok(client.request("GET", path));
    emit(j, [&] { print_table(j["firmware"], kFirmwareColumns); });
    return 0;
  }
  if (group == "patch" && cmd == "list") {
    // The patches made, then the release builds this server has queued,
    // built or failed since it started (docs/server.md, Release builds).
    const std::string usage = "patch list [--product P]";
    Flags f = parse_flags(a, 2, {"--product"}, usage);
    if (!f.positional.empty()) throw UsageError("usage: otactl " + usage);
    std::string path = "/api/v1/patches";
    if (f.values.count("--product")) path += "?product=" + escaped(f.values["--product"]);
    json j = client.ok(client.request("GET", path));
    emit(j, [&] {
      print_table(j["patches"], kPatchColumns);
      if (j.contains("builds") && !j["builds"].empty()) {
        std::puts("");
        print_table(j["builds"], kBuildColumns);
      }
    });
    return 0;
  }
  if (group == "device" && cmd == "add") {
    const std::string usage = "device add ID --out DIR [--product P] [--chip C] [--ca CA.pem]";
    Flags f = parse_flags(a, 2, {"--out", "--product", "--chip", "--ca"}, usage);
    if (f.positional.size() != 1 || !f.values.count("--out")) throw UsageError("usage: otactl " + usage);
    const std::string id = f.positional[0], out = f.values["--out"], ca_file = f.values["--ca"];
    // The CA that signs the server's TLS certificate goes into the bundle
    // (ca.pem): devices verify the server against it and nothing else.
    std::optional<std::string> ca_pem;
    if (!ca_file.empty()) {
      std::ifstream in(ca_file, std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      if (!in || text.str().find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        throw UsageError("--ca " + ca_file + ": not a PEM certificate");
      ca_pem = text.str();
    }
    json body = {{"device_id", id}};
    if (f.values.count("--product")) body["product"] = f.values["--product"];
    if (f.values.count("--chip")) body["chip"] = f.values["--chip"];
    json reg = client.ok(client.request("POST", "/api/v1/devices", body.dump(), "application/json"));
    const std::string product = reg["product"].get<std::string>();  // the server's default when none was named
    std::string key_hex = reg["device_key"].get<std::string>();
    std::vector<uint8_t> key(key_hex.size() / 2);
    for (size_t i = 0; i < key.size(); ++i)
      key[i] = static_cast<uint8_t>(std::stoi(key_hex.substr(2 * i, 2), nullptr, 16));
    ota::server::write_provisioning_bundle(out, {id, product, o.server, key,
                                                 reg["server_pub_pem"].get<std::string>(), ca_pem,
                                                 reg["device_token"].get<std::string>()});
    reg.erase("device_key");
    reg.erase("device_token");
    reg.erase("server_pub_pem");
    reg["bundle"] = out;
    emit(reg, [&] { print_object(reg); });
    return 0;
  }
  if (group == "device" && cmd == "list") {
    const std::string usage = "device list [--filter EXPR]";
    Flags f = parse_flags(a, 2, {"--filter"}, usage);
    if (!f.positional.empty()) throw UsageError("usage: otactl " + usage);
    std::string path = "/api/v1/devices";
    if (f.values.count("--filter")) path += "?filter=" + escaped(f.values["--filter"]);
    json j = client.ok(client.request("GET", path));
    json rows = json::array();
    for (const json& d : j["devices"]) rows.push_back(device_row(d));
    emit(j, [&] { print_table(rows, kDeviceColumns); });
    return 0;
  }
  if (group == "device" && cmd == "show") {
    need(3, "device show ID");
    json j = client.ok(client.request("GET", "/api/v1/devices/" + escaped(a[2])));
    emit(j, [&] { print_object(device_row(j)); });
    return 0;
  }
  if (group == "device" && cmd == "tag") {
    const std::string usage = "device tag ID KEY=VALUE... [--remove KEY]...";
    if (a.size() < 4) throw UsageError("usage: otactl " + usage);
    json tags = json::object();
    for (size_t i = 3; i < a.size(); ++i) {
      if (a[i] == "--remove" && i + 1 < a.size()) {
        tags[a[++i]] = nullptr;
      } else if (auto eq = a[i].find('='); eq != std::string::npos && eq > 0 && a[i].rfind("--", 0) != 0) {
        tags[a[i].substr(0, eq)] = a[i].substr(eq + 1);
      } else {
        throw UsageError("usage: otactl " + usage);
      }
    }
    json j = client.ok(client.request("PUT", "/api/v1/devices/" + escaped(a[2]) + "/tags", tags.dump(),
                                      "application/json"));
    emit(j, [&] { print_object(device_row(j)); });
    return 0;
  }
  if (group == "group" && cmd == "list") {
    need(2, "group list");
    json j = client.ok(client.request("GET", "/api/v1/groups"));
    emit(j, [&] { print_table(j["groups"], kGroupColumns); });
    return 0;
  }
  if (group == "group" && cmd == "create") {
    const std::string usage = "group create NAME [--filter EXPR]";
    Flags f = parse_flags(a, 2, {"--filter"}, usage);
    if (f.positional.size() != 1) throw UsageError("usage: otactl " + usage);
    json body = {{"name", f.positional[0]}};
    if (f.values.count("--filter")) body["filter"] = f.values["--filter"];
    json j = client.ok(client.request("POST", "/api/v1/groups", body.dump(), "application/json"));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (group == "group" && (cmd == "show" || cmd == "delete")) {
    need(3, cmd == "show" ? "group show NAME" : "group delete NAME");
    json j = client.ok(client.request(cmd == "show" ? "GET" : "DELETE", "/api/v1/groups/" + escaped(a[2])));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (group == "group" && cmd == "add") {
    if (a.size() < 4) throw UsageError("usage: otactl group add NAME DEVICE_ID...");
    json ids = json::array();
    for (size_t i = 3; i < a.size(); ++i) ids.push_back(a[i]);
    json j = client.ok(client.request("POST", "/api/v1/groups/" + escaped(a[2]) + "/devices",
                                      json{{"device_ids", ids}}.dump(), "application/json"));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (group == "group" && cmd == "remove") {
    need(4, "group remove NAME DEVICE_ID");
    json j = client.ok(
        client.request("DELETE", "/api/v1/groups/" + escaped(a[2]) + "/devices/" + escaped(a[3])));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  if (group == "update" && cmd == "assign") {
    need(4, "update assign DEVICE_ID VERSION");
    json j = client.ok(client.request("POST", "/api/v1/updates", json{{"device_id", a[2]}, {"version", a[3]}}.dump(),
                                      "application/json"));
    emit(j, [&] { print_object(j); });
    return 0;
  }
  throw UsageError("unknown command: " + group + " " + cmd);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* s = std::getenv("OTA_SERVER"); s && *s) o.server = s;
  if (const char* t = std::getenv("OTA_ADMIN_TOKEN"); t && *t) o.token = t;
  if (const char* ca = std::getenv("OTA_CACERT"); ca && *ca) o.cacert = ca;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string s = argv[i];
      if (s == "--server" || s == "--token" || s == "--cacert") {
        if (i + 1 >= argc) throw UsageError(s + " needs a value");
        (s == "--server" ? o.server : s == "--token" ? o.token : o.cacert) = argv[++i];
      } else if (s == "--json") {
        o.json = true;
      } else if (s == "-h" || s == "--help") {
        throw UsageError("usage: otactl [--server URL] [--token T] [--cacert CA.pem] [--json] "
                         "product list, firmware upload|list, device add|list|show|tag, "
                         "group list|create|show|add|remove|delete, update assign, "
                         "rollout create|list|show|pause|resume|approve|abort, status");
      } else {
        o.args.push_back(s);
      }
    }
    while (!o.server.empty() && o.server.back() == '/') o.server.pop_back();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = run(o);
    curl_global_cleanup();
    return rc;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "otactl: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "otactl: %s\n", e.what());
    return 1;
  }
}
