// Helpers of the end-to-end suite (tests/e2e): a real ota-server process
// on loopback (TLS with a certificate made by the openssl command), the
// admin REST API through libcurl, provisioning bundles, the firmware the
// suite updates with (corpus or synthetic), a man in the middle between a
// simulated device's agent and its transport, and a look at what a
// device's flash would boot.
#ifndef OTA_E2E_SUPPORT_H
#define OTA_E2E_SUPPORT_H

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/ports.h"
#include "ota/posix/flash.h"

namespace ota::e2e {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

std::string sha256_hex(const Bytes& data);
std::string to_hex(const uint8_t* data, size_t n);
Bytes from_hex(const std::string& hex);  // empty on malformed input

// A TCP port on 127.0.0.1 nobody listens on right now.
uint16_t free_loopback_port();

// A self-signed P-256 certificate for 127.0.0.1 (CN and subjectAltName),
// made with the openssl command. False (and *error) on failure.
bool make_tls_cert(const fs::path& cert, const fs::path& key, std::string* error);

// A shell command's exit code and standard output.
struct Command {
  int exit_code = -1;
  std::string out;
};
Command run_command(const std::string& cmd);
// `p` in single quotes, for a command line (paths without a quote).
std::string shell_quoted(const fs::path& p);
// The last line of a program's output parsed as JSON (ota-sim's summary);
// discarded when it is none.
nlohmann::json last_json(const std::string& out);

// --- HTTP (libcurl) ---------------------------------------------------------

struct HttpResult {
  long status = 0;       // 0: no answer (see error)
  std::string body;
  std::string error;     // libcurl's message when the exchange failed
  std::string headers;   // the response's header lines, as received
};

struct FormPart {
  std::string name, value;
  bool file = false;     // sent as a file part (filename "firmware.bin")
};

// Requests to one server: base URL ("https://127.0.0.1:PORT"), the CA the
// server's certificate must chain to, and a bearer token (admin or device).
class HttpClient {
 public:
  HttpClient() = default;
  HttpClient(std::string base, std::string ca_file, std::string bearer)
      : base_(std::move(base)), ca_(std::move(ca_file)), bearer_(std::move(bearer)) {}
  HttpResult get(const std::string& path, long timeout_s = 30) const;
  HttpResult post(const std::string& path, const std::string& body, const std::string& content_type,
                  long timeout_s = 60) const;
  HttpResult post_form(const std::string& path, const std::vector<FormPart>& parts, long timeout_s = 120) const;
  const std::string& base() const { return base_; }
  HttpClient with_bearer(std::string bearer) const { return HttpClient(base_, ca_, std::move(bearer)); }

 private:
  HttpResult perform(const std::string& method, const std::string& path, const std::string* body,
                     const std::string& content_type, const std::vector<FormPart>* form, long timeout_s) const;
  std::string base_, ca_, bearer_;
};

// --- ota-server ----------------------------------------------------------------

// One ota-server process on 127.0.0.1, HTTPS when a certificate is given.
// Killed (SIGKILL) by the destructor if still running.
class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Spawns bin_dir()/ota-server --data DATA --listen 127.0.0.1:PORT
  // [--tls-cert CERT --tls-key KEY] EXTRA... with OTA_ADMIN_TOKEN=token;
  // output to LOG.
  bool start(const fs::path& data, const fs::path& log, const std::string& admin_token,
             const fs::path& tls_cert, const fs::path& tls_key, std::string* error,
             const std::vector<std::string>& extra = {});
  // Waits until GET /healthz answers 200 (verifying the certificate with ca).
  bool wait_ready(const std::string& ca_file, int timeout_ms, std::string* error);
  // SIGTERM, then waits up to 10 s; the exit code (-1: timeout, then SIGKILL).
  int stop();
  std::string url() const;  // "https://127.0.0.1:PORT" (or http://)
  uint16_t port() const { return port_; }
  std::string output() const;

 private:
  bool exited(int* code);
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  bool tls_ = false;
  fs::path log_;
};

// --- Admin API and bundles ----------------------------------------------------

// A registered device and its provisioning bundle on disk.
struct ProvisionedDevice {
  std::string id;
  std::string product;
  std::string token;      // the device token (device.token)
  fs::path bundle_dir;
};

class Admin {
 public:
  Admin() = default;
  Admin(std::string server_url, std::string ca_file, std::string token)
      : http_(server_url, ca_file, token), server_url_(std::move(server_url)), ca_(std::move(ca_file)) {}

  // POST /api/v1/firmware?product=P&version=V (raw body); the firmware JSON.
  nlohmann::json upload_firmware(const std::string& product, const std::string& version, const Bytes& image,
                                 std::string* error) const;
  // POST /api/v1/devices, then writes the bundle (docs/protocol.md §1):
  // device.json, device.key (0600), device.token (0600), server_pub.pem and
  // ca.pem (a copy of ca_for_bundle, the CA the device will trust).
  bool provision(const std::string& id, const std::string& product, const fs::path& bundle_dir,
                 const fs::path& ca_for_bundle, ProvisionedDevice* out, std::string* error) const;
  // POST /api/v1/updates {"device_id","version"}.
  bool assign(const std::string& device_id, const std::string& version, std::string* error) const;
  // GET /api/v1/devices/{id}/status: the states of the history, oldest first.
  std::vector<std::string> history_states(const std::string& device_id) const;
  nlohmann::json history(const std::string& device_id) const;
  // GET /api/v1/devices/{id}.
  nlohmann::json device(const std::string& device_id) const;

  const HttpClient& http() const { return http_; }
  const std::string& server_url() const { return server_url_; }

 private:
  HttpClient http_;
  std::string server_url_, ca_;
};

// --- Firmware --------------------------------------------------------------------

struct Firmware {
  std::string label;     // the server's version name
  std::string origin;    // corpus file name or "synthetic"
  Bytes bytes;
  fs::path path;         // a copy in the suite's directory (ota-sim --image)
  std::string sha256;
};

// The suite's firmware: `base` (1.0.0) → `next` (1.0.1) is one consecutive
// corpus pair (wled-esp32 0.14.0-b3 → 0.14.0-b4) when the corpus is
// present, two synthetic ESP32 apps otherwise (or with
// OTA_E2E_FIRMWARE=synthetic); `other` is a third image of the same
// product the server never gets.
struct FirmwareSet {
  std::string source;    // one line saying which firmware the suite uses
  std::string product;   // the app descriptor's project_name
  Firmware base, next, other;
};
bool load_firmware(const fs::path& dir, FirmwareSet* out, std::string* error);

// --- The device's flash ----------------------------------------------------------

// What the simulated bootloader would start from a device's flash
// (state_dir/flash.bin). The flash file is copied and the copy booted, so
// the device's own otadata is never touched.
struct BootView {
  bool ok = false;
  int slot = -1;
  ImageState state = kImageUndefined;
  std::string reason;
  Bytes image;                       // the started slot's image (esp_image_check size)
  posix::OtadataDump otadata;        // the device's otadata as it is now
  std::string error;
};
BootView inspect_flash(const fs::path& state_dir);
// Only the otadata of state_dir/flash.bin (cheap: no image is read).
posix::OtadataDump read_otadata(const fs::path& state_dir);

// Otadata entries compared field by field (seq, state, crc, validity).
bool same_otadata(const posix::OtadataDump& a, const posix::OtadataDump& b);

// --- Man in the middle -------------------------------------------------------------

// A TransportPort between the agent and the real transport (SimConfig::
// wrap_transport). It forwards every exchange and, as configured, tampers
// with the update stream (GET .../releases/... or /get_patch/...) at
// absolute stream offsets, or rewrites the check-in answer. It also records
// every exchange (for the tests that need to know what the agent did).
// The configuration may be changed between runs of the device, not during.
class Mitm {
 public:
  struct Event {
    std::string method, path;
    std::string status_state;  // for POST .../status: the reported state
    int http_status = 0;
    int rc = 0;                // the real transport's result (non-zero: failed)
    uint64_t range_from = 0;   // the request's Range start
    uint64_t body_bytes = 0;   // response body bytes the agent got
    std::string describe() const;
  };

  // Stream tampering (absolute offsets in the record stream).
  std::vector<uint64_t> flip_at;          // XOR 0x10 into the byte at each offset
  uint64_t drop_from = UINT64_MAX;        // remove stream bytes [drop_from, drop_from + drop_len)
  uint64_t drop_len = 0;
  uint64_t truncate_at = UINT64_MAX;      // every response ends (cleanly) at this offset
  std::vector<uint64_t> cut_at;           // the connection fails once the stream reaches each offset (once each)
  // The check-in answer: rewrite(request body, real answer) → the answer the agent gets.
  std::function<std::string(const std::string&, const std::string&)> rewrite_checkin;

  // The hook for SimConfig::wrap_transport; this object must outlive the device.
  std::function<TransportPort(TransportPort)> hook();

  std::vector<Event> events() const;
  std::string describe_events() const;  // one line per exchange
  size_t cuts_fired() const;
  void clear_events();

 private:
  static int request(void* ctx, const HttpRequest* req, const HttpSink* sink);
  int forward_stream(const HttpRequest* req, const HttpSink* sink);
  int forward_checkin(const HttpRequest* req, const HttpSink* sink);
  void record(const HttpRequest* req, int http_status, int rc, uint64_t body_bytes);

  TransportPort inner_{};
  mutable std::mutex mu_;
  std::vector<Event> events_;
  std::vector<bool> cut_fired_;
};

}  // namespace ota::e2e

#endif  // OTA_E2E_SUPPORT_H
