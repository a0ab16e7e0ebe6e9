// Helpers of the end-to-end suite: see e2e_support.h.
#include "e2e_support.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "ota/esp_image.h"
#include "test_postgres.h"
#include "test_support.h"

extern char** environ;

namespace ota::e2e {

// --- Small things ------------------------------------------------------------

std::string to_hex(const uint8_t* data, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[data[i] >> 4]);
    s.push_back(kHex[data[i] & 15]);
  }
  return s;
}

Bytes from_hex(const std::string& hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2) return {};
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return {};
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

std::string sha256_hex(const Bytes& data) {
  uint8_t d[SHA256_DIGEST_LENGTH];
  SHA256(data.data(), data.size(), d);
  return to_hex(d, sizeof d);
}

uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  uint16_t port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

namespace {

std::string quote(const fs::path& p) {
  std::string s = "'";
  for (char c : p.string()) {
    if (c == '\'') s += "'\\''";
    else s += c;
  }
  return s + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool write_text(const fs::path& p, const std::string& text, bool secret) {
  {
    std::ofstream f(p, std::ios::binary | std::ios::trunc);
    if (!f) return false;
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!f) return false;
  }
  if (secret) ::chmod(p.c_str(), 0600);
  return true;
}

size_t collect_body(char* p, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(p, size * n);
  return size * n;
}

}  // namespace

bool make_tls_cert(const fs::path& cert, const fs::path& key, std::string* error) {
  std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
      "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
      quote(key) + " -out " + quote(cert) + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0 || !fs::exists(cert) || !fs::exists(key)) {
    *error = "openssl req failed (is the openssl command installed?): " + cmd;
    return false;
  }
  return true;
}

// --- HTTP --------------------------------------------------------------------------

HttpResult HttpClient::perform(const std::string& method, const std::string& path, const std::string* body,
                               const std::string& content_type, const std::vector<FormPart>* form,
                               long timeout_s) const {
  HttpResult r;
  CURL* c = curl_easy_init();
  if (!c) {
    r.error = "curl_easy_init failed";
    return r;
  }
  std::string url = base_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_body);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  if (!ca_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_.c_str());
  // No "Expect: 100-continue" for large bodies: libcurl would wait a second
  // for a 100 the server does not send.
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  if (!bearer_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer_).c_str());
  curl_mime* mime = nullptr;
  if (form) {
    mime = curl_mime_init(c);
    for (const FormPart& p : *form) {
      curl_mimepart* mp = curl_mime_addpart(mime);
      curl_mime_name(mp, p.name.c_str());
      curl_mime_data(mp, p.value.data(), p.value.size());
      if (p.file) curl_mime_filename(mp, "firmware.bin");
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  } else if (body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    if (!content_type.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  if (method != "GET" && method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  else r.error = curl_easy_strerror(rc);
  curl_slist_free_all(headers);
  if (mime) curl_mime_free(mime);
  curl_easy_cleanup(c);
  return r;
}

HttpResult HttpClient::get(const std::string& path, long timeout_s) const {
  return perform("GET", path, nullptr, "", nullptr, timeout_s);
}

HttpResult HttpClient::post(const std::string& path, const std::string& body, const std::string& content_type,
                            long timeout_s) const {
  return perform("POST", path, &body, content_type, nullptr, timeout_s);
}

HttpResult HttpClient::post_form(const std::string& path, const std::vector<FormPart>& parts, long timeout_s) const {
  return perform("POST", path, nullptr, "", &parts, timeout_s);
}

std::string shell_quoted(const fs::path& p) { return "'" + p.string() + "'"; }

nlohmann::json last_json(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  size_t nl = s.rfind('\n');
  return nlohmann::json::parse(nl == std::string::npos ? s : s.substr(nl + 1), nullptr, false);
}

Command run_command(const std::string& cmd) {
  Command c;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return c;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) c.out.append(buf, n);
  int st = ::pclose(p);
  c.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return c;
}

// --- ota-server ----------------------------------------------------------------------

ServerProcess::~ServerProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool ServerProcess::start(const fs::path& data, const fs::path& log, const std::string& admin_token,
                          const fs::path& tls_cert, const fs::path& tls_key, std::string* error,
                          const std::vector<std::string>& extra) {
  port_ = free_loopback_port();
  if (port_ == 0) {
    *error = "no free loopback port";
    return false;
  }
  log_ = log;
  tls_ = !tls_cert.empty();
  std::vector<std::string> args = {(test::bin_dir() / "ota-server").string(), "--data", data.string(),
                                   "--listen", "127.0.0.1:" + std::to_string(port_)};
  if (tls_) {
    args.insert(args.end(), {"--tls-cert", tls_cert.string(), "--tls-key", tls_key.string()});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  // The /postgresql copy of the suite: a database of its own per data folder.
  try {
    std::vector<std::string> db = test::server_db_args(data);
    args.insert(args.end(), db.begin(), db.end());
  } catch (const std::exception& e) {
    *error = std::string("no database for ota-server: ") + e.what();
    return false;
  }
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    // No OTA_DATA, OTA_LISTEN... of the caller; the dependency recorder's log stays.
    if (std::strncmp(*e, "OTA_", 4) != 0 || std::strncmp(*e, "OTA_DEPS_RECORD=", 16) == 0) env.push_back(*e);
  env.push_back("OTA_ADMIN_TOKEN=" + admin_token);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    pid_ = -1;
    *error = "cannot start " + args[0] + ": " + std::strerror(rc);
    return false;
  }
  return true;
}

bool ServerProcess::exited(int* code) {
  if (pid_ <= 0) return true;
  int st = 0;
  if (::waitpid(pid_, &st, WNOHANG) == pid_) {
    *code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
    return true;
  }
  return false;
}

bool ServerProcess::wait_ready(const std::string& ca_file, int timeout_ms, std::string* error) {
  HttpClient probe(url(), ca_file, "");
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  std::string last;
  while (std::chrono::steady_clock::now() < until) {
    int code = 0;
    if (exited(&code)) {
      *error = "ota-server exited with " + std::to_string(code) + ": " + output();
      return false;
    }
    HttpResult r = probe.get("/healthz", 2);
    if (r.status == 200) {
      // The /postgresql copy must really be on PostgreSQL.
      const char* db = test::on_postgres() ? "database PostgreSQL" : "database SQLite";
      for (int i = 0; i < 100 && output().find(db) == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (output().find(db) == std::string::npos) {
        *error = std::string("ota-server does not say '") + db + "': " + output();
        return false;
      }
      return true;
    }
    last = r.error.empty() ? "HTTP " + std::to_string(r.status) : r.error;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  *error = "ota-server not ready after " + std::to_string(timeout_ms) + " ms (" + last + "): " + output();
  return false;
}

int ServerProcess::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int code = -1;
  for (int i = 0; i < 200; ++i) {
    if (exited(&code)) return code;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

std::string ServerProcess::url() const {
  return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
}

std::string ServerProcess::output() const { return slurp(log_); }

// --- Admin API -----------------------------------------------------------------------

nlohmann::json Admin::upload_firmware(const std::string& product, const std::string& version, const Bytes& image,
                                      std::string* error) const {
  HttpResult r = http_.post("/api/v1/firmware?product=" + product + "&version=" + version,
                            std::string(image.begin(), image.end()), "application/octet-stream", 120);
  if (r.status != 200 && r.status != 201) {
    *error = "upload " + version + ": HTTP " + std::to_string(r.status) + " " + r.error + " " + r.body;
    return nullptr;
  }
  return nlohmann::json::parse(r.body, nullptr, false);
}

bool Admin::provision(const std::string& id, const std::string& product, const fs::path& bundle_dir,
                      const fs::path& ca_for_bundle, ProvisionedDevice* out, std::string* error) const {
  nlohmann::json req = {{"device_id", id}, {"product", product}};
  HttpResult r = http_.post("/api/v1/devices", req.dump(), "application/json");
  if (r.status != 201) {
    *error = "register " + id + ": HTTP " + std::to_string(r.status) + " " + r.error + " " + r.body;
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("device_key") || !j.contains("device_token") || !j.contains("server_pub_pem")) {
    *error = "register " + id + ": unexpected answer " + r.body;
    return false;
  }
  Bytes key = from_hex(j["device_key"].get<std::string>());
  if (key.size() != 32) {
    *error = "register " + id + ": device_key is not 32 bytes";
    return false;
  }
  std::error_code ec;
  fs::create_directories(bundle_dir, ec);
  nlohmann::json device = {{"device_id", id}, {"server_url", server_url_}, {"product", product}};
  std::string token = j["device_token"].get<std::string>();
  bool ok = write_text(bundle_dir / "device.json", device.dump(2) + "\n", false) &&
            write_text(bundle_dir / "device.key", std::string(key.begin(), key.end()), true) &&
            write_text(bundle_dir / "device.token", token + "\n", true) &&
            write_text(bundle_dir / "server_pub.pem", j["server_pub_pem"].get<std::string>(), false);
  if (ok && !ca_for_bundle.empty()) ok = write_text(bundle_dir / "ca.pem", slurp(ca_for_bundle), false);
  if (!ok) {
    *error = "cannot write the bundle in " + bundle_dir.string();
    return false;
  }
  out->id = id;
  out->product = product;
  out->token = token;
  out->bundle_dir = bundle_dir;
  return true;
}

bool Admin::assign(const std::string& device_id, const std::string& version, std::string* error) const {
  nlohmann::json req = {{"device_id", device_id}, {"version", version}};
  HttpResult r = http_.post("/api/v1/updates", req.dump(), "application/json");
  if (r.status != 201) {
    *error = "assign " + device_id + " " + version + ": HTTP " + std::to_string(r.status) + " " + r.error + " " +
             r.body;
    return false;
  }
  return true;
}

nlohmann::json Admin::history(const std::string& device_id) const {
  HttpResult r = http_.get("/api/v1/devices/" + device_id + "/status");
  if (r.status != 200) return nullptr;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

std::vector<std::string> Admin::history_states(const std::string& device_id) const {
  std::vector<std::string> states;
  nlohmann::json j = history(device_id);
  if (j.is_object() && j.contains("history"))
    for (const auto& e : j["history"]) states.push_back(e.value("state", ""));
  return states;
}

nlohmann::json Admin::device(const std::string& device_id) const {
  HttpResult r = http_.get("/api/v1/devices/" + device_id);
  if (r.status != 200) return nullptr;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

// --- Firmware ---------------------------------------------------------------------------

namespace {

bool image_info(const Bytes& image, EspImageInfo* info) {
  struct Src {
    const Bytes* b;
  } src{&image};
  auto read = [](void* ctx, uint32_t off, uint8_t* buf, uint32_t len) -> int {
    const Bytes& b = *static_cast<Src*>(ctx)->b;
    if (uint64_t{off} + len > b.size()) return -1;
    std::memcpy(buf, b.data() + off, len);
    return 0;
  };
  return esp_image_check(read, &src, static_cast<uint32_t>(image.size()), nullptr, info) == kStatusOk;
}

bool store(const fs::path& dir, Firmware* f, std::string* error) {
  f->path = dir / ("firmware_" + f->label + ".bin");
  test::write_file(f->path, f->bytes);
  f->sha256 = sha256_hex(f->bytes);
  EspImageInfo info{};
  if (!image_info(f->bytes, &info)) {
    *error = f->origin + " is not a valid ESP32 application image";
    return false;
  }
  return true;
}

}  // namespace

bool load_firmware(const fs::path& dir, FirmwareSet* out, std::string* error) {
  const char* force = std::getenv("OTA_E2E_FIRMWARE");
  bool synthetic = force && std::string(force) == "synthetic";
  std::optional<fs::path> corpus = synthetic ? std::nullopt : test::corpus_dir();
  out->base.label = "1.0.0";
  out->next.label = "1.0.1";
  out->other.label = "0.9.0";
  if (corpus) {
    // One consecutive pair, wled-esp32 0.14.0-b3 → 0.14.0-b4 by preference;
    // the third image is the release after it (never uploaded).
    std::vector<test::CorpusPair> pairs = test::corpus_pairs(*corpus);
    size_t pick = pairs.size();
    for (size_t i = 0; i < pairs.size(); ++i)
      if (pairs[i].series == "wled-esp32" && pairs[i].old_version == "0.14.0-b3") pick = i;
    if (pick == pairs.size())
      for (size_t i = 0; i + 1 < pairs.size(); ++i)
        if (pairs[i].series == pairs[i + 1].series) {
          pick = i;
          break;
        }
    if (pick + 1 < pairs.size() && pairs[pick + 1].series == pairs[pick].series) {
      const test::CorpusPair& p = pairs[pick];
      const test::CorpusPair& q = pairs[pick + 1];
      out->base.bytes = test::read_file(p.old_path);
      out->next.bytes = test::read_file(p.new_path);
      out->other.bytes = test::read_file(q.new_path);
      out->base.origin = p.series + " " + p.old_version + " (" + p.old_path.filename().string() + ")";
      out->next.origin = p.series + " " + p.new_version + " (" + p.new_path.filename().string() + ")";
      out->other.origin = q.series + " " + q.new_version + " (" + q.new_path.filename().string() + ")";
      out->source = "corpus " + corpus->string() + ": " + out->base.origin + " -> " + out->next.origin +
                    "; unknown to the server: " + out->other.origin;
    } else {
      corpus.reset();
    }
  }
  if (!corpus) {
    // Two releases of a few hundred KiB, the second a rebuild with small
    // changes, and a third image the server never sees.
    out->product = "e2e-demo";
    std::mt19937 rng(20240611);
    Bytes code = test::synthetic_image(rng, 360 * 1024);
    Bytes code_next = test::mutate_image(rng, code, 400);
    Bytes code_other = test::mutate_image(rng, code, 400);
    out->base.bytes = test::synthetic_esp32_app("1.0.0", out->product, code);
    out->next.bytes = test::synthetic_esp32_app("1.0.1", out->product, code_next);
    out->other.bytes = test::synthetic_esp32_app("0.9.0", out->product, code_other);
    out->base.origin = out->next.origin = out->other.origin = "synthetic";
    out->source = std::string("synthetic ESP32 apps (") +
                  (synthetic ? "OTA_E2E_FIRMWARE=synthetic" : "no corpus: $OTA_CORPUS / ../shared/corpus absent") +
                  "), " + std::to_string(out->base.bytes.size()) + " -> " + std::to_string(out->next.bytes.size()) +
                  " bytes";
  }
  for (Firmware* f : {&out->base, &out->next, &out->other})
    if (!store(dir, f, error)) return false;
  EspImageInfo info{};
  image_info(out->next.bytes, &info);
  out->product = info.project_name;
  if (out->product.empty()) {
    *error = "the firmware has no app descriptor project_name";
    return false;
  }
  return true;
}

// --- The device's flash ----------------------------------------------------------------

BootView inspect_flash(const fs::path& state_dir) {
  BootView v;
  fs::path flash = state_dir / "flash.bin";
  std::string err;
  {
    auto f = posix::PosixFlash::open(flash.string(), nullptr, {}, &err);
    if (!f) {
      v.error = "cannot open " + flash.string() + ": " + err;
      return v;
    }
    v.otadata = f->otadata();
    // The common case needs no boot: an entry in force that says VALID
    // (or no entry at all, slot 0) and an image that checks there is what
    // the bootloader starts, without writing otadata.
    bool plain = (v.otadata.selected >= 0 && v.otadata.selected_state == kImageValid) ||
                 (v.otadata.selected < 0 && v.otadata.selected_slot == 0);
    EspImageInfo info{};
    if (plain && f->check_image(v.otadata.selected_slot, &info) == kStatusOk) {
      v.ok = true;
      v.slot = v.otadata.selected_slot;
      v.state = v.otadata.selected < 0 ? kImageUndefined : kImageValid;
      v.reason = "otadata selects it";
      v.image = f->read_image(v.slot);
      return v;
    }
  }
  // Anything else: boot a copy with the simulated bootloader (it may write
  // otadata: NEW -> PENDING_VERIFY, PENDING_VERIFY -> ABORTED).
  fs::path copy = state_dir / "flash-inspect.bin";
  std::error_code ec;
  fs::copy_file(flash, copy, fs::copy_options::overwrite_existing, ec);
  if (ec) {
    v.error = "cannot copy " + flash.string() + ": " + ec.message();
    return v;
  }
  {
    auto f = posix::PosixFlash::open(copy.string(), nullptr, {}, &err);
    if (!f) {
      v.error = "cannot open the copy: " + err;
    } else {
      posix::BootResult br = f->boot();
      v.ok = br.ok;
      v.slot = br.slot;
      v.state = br.state;
      v.reason = br.reason;
      if (br.ok) v.image = f->read_image(br.slot);
      else v.error = "the bootloader starts nothing: " + br.reason;
    }
  }
  fs::remove(copy, ec);
  return v;
}

posix::OtadataDump read_otadata(const fs::path& state_dir) {
  auto f = posix::PosixFlash::open((state_dir / "flash.bin").string(), nullptr, {}, nullptr);
  return f ? f->otadata() : posix::OtadataDump{};
}

bool same_otadata(const posix::OtadataDump& a, const posix::OtadataDump& b) {
  for (int i = 0; i < 2; ++i) {
    const posix::OtadataEntry& x = a.entries[i];
    const posix::OtadataEntry& y = b.entries[i];
    if (x.valid != y.valid || x.seq != y.seq || x.state != y.state || x.crc != y.crc) return false;
  }
  return a.selected == b.selected && a.selected_slot == b.selected_slot;
}

// --- Man in the middle ------------------------------------------------------------------------

namespace {

bool is_stream(const char* path) {
  std::string p = path ? path : "";
  return p.find("/releases/") != std::string::npos || p.rfind("/get_patch/", 0) == 0;
}

bool is_checkin(const char* path) {
  std::string p = path ? path : "";
  return p.size() >= 9 && p.compare(p.size() - 9, 9, "/check-in") == 0;
}

// The "state" of a status report body, e.g. {"state":"downloading",...}.
std::string status_state(const HttpRequest* req) {
  std::string p = req->path ? req->path : "";
  if (!req->body || p.size() < 7 || p.compare(p.size() - 7, 7, "/status") != 0) return "";
  nlohmann::json j = nlohmann::json::parse(std::string(req->body, req->body + req->body_len), nullptr, false);
  return j.is_object() ? j.value("state", "") : "";
}

}  // namespace

std::function<TransportPort(TransportPort)> Mitm::hook() {
  return [this](TransportPort inner) {
    inner_ = inner;
    return TransportPort{this, &Mitm::request};
  };
}

std::vector<Mitm::Event> Mitm::events() const {
  std::lock_guard<std::mutex> l(mu_);
  return events_;
}

size_t Mitm::cuts_fired() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (bool b : cut_fired_) n += b;
  return n;
}

void Mitm::clear_events() {
  std::lock_guard<std::mutex> l(mu_);
  events_.clear();
}

void Mitm::record(const HttpRequest* req, int http_status, int rc, uint64_t body_bytes) {
  std::lock_guard<std::mutex> l(mu_);
  events_.push_back({req->method ? req->method : "", req->path ? req->path : "", status_state(req), http_status, rc,
                     req->range_from, body_bytes});
}

std::string Mitm::Event::describe() const {
  std::string s = method + " " + path;
  if (!status_state.empty()) s += " {" + status_state + "}";
  if (range_from) s += " Range: bytes=" + std::to_string(range_from) + "-";
  s += " -> " + std::to_string(http_status) + ", " + std::to_string(body_bytes) + " body bytes";
  if (rc) s += ", failed (" + std::to_string(rc) + ")";
  return s;
}

std::string Mitm::describe_events() const {
  std::string s;
  for (const Event& e : events()) s += "  " + e.describe() + "\n";
  return s;
}

int Mitm::request(void* ctx, const HttpRequest* req, const HttpSink* sink) {
  Mitm* m = static_cast<Mitm*>(ctx);
  if (is_stream(req->path)) return m->forward_stream(req, sink);
  if (is_checkin(req->path) && m->rewrite_checkin) return m->forward_checkin(req, sink);
  struct Pass {
    const HttpSink* sink;
    int status = 0;
    uint64_t bytes = 0;
  } pass{sink};
  HttpSink s{&pass,
             [](void* c, int status, int64_t len) {
               auto* p = static_cast<Pass*>(c);
               p->status = status;
               return p->sink->begin(p->sink->ctx, status, len);
             },
             [](void* c, const uint8_t* d, size_t n) {
               auto* p = static_cast<Pass*>(c);
               p->bytes += n;
               return p->sink->data(p->sink->ctx, d, n);
             }};
  int rc = m->inner_.request(m->inner_.ctx, req, &s);
  m->record(req, pass.status, rc, pass.bytes);
  return rc;
}

int Mitm::forward_checkin(const HttpRequest* req, const HttpSink* sink) {
  struct Buf {
    int status = 0;
    std::string body;
  } buf;
  HttpSink s{&buf,
             [](void* c, int status, int64_t) {
               static_cast<Buf*>(c)->status = status;
               return 0;
             },
             [](void* c, const uint8_t* d, size_t n) {
               static_cast<Buf*>(c)->body.append(reinterpret_cast<const char*>(d), n);
               return 0;
             }};
  int rc = inner_.request(inner_.ctx, req, &s);
  if (rc != 0) {
    record(req, buf.status, rc, 0);
    return rc;
  }
  std::string request_body = req->body ? std::string(req->body, req->body + req->body_len) : "";
  std::string answer = buf.status == 200 ? rewrite_checkin(request_body, buf.body) : buf.body;
  record(req, buf.status, 0, answer.size());
  if (sink->begin(sink->ctx, buf.status, static_cast<int64_t>(answer.size())) != 0) return -1;
  if (!answer.empty() && sink->data(sink->ctx, reinterpret_cast<const uint8_t*>(answer.data()), answer.size()) != 0)
    return -1;
  return 0;
}

int Mitm::forward_stream(const HttpRequest* req, const HttpSink* sink) {
  struct Ex {
    Mitm* m;
    const HttpSink* sink;
    int status = 0;
    uint64_t base = 0;      // absolute stream offset of the next body byte
    bool ended = false;     // truncated: the rest of the body is swallowed
    bool cut = false;
    uint64_t range = 0;     // the request's Range start
    uint64_t delivered = 0; // body bytes passed on
  } ex{this, sink};
  ex.range = req->range_from;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (cut_fired_.size() != cut_at.size()) cut_fired_.assign(cut_at.size(), false);
  }
  HttpSink s{&ex,
             [](void* c, int status, int64_t len) {
               auto* x = static_cast<Ex*>(c);
               x->status = status;
               x->base = status == 206 ? x->range : 0;
               if (len >= 0 && (status == 200 || status == 206)) {
                 uint64_t end = x->base + static_cast<uint64_t>(len);
                 uint64_t t = x->m->truncate_at;
                 if (t < end) len = t > x->base ? static_cast<int64_t>(t - x->base) : 0;
                 if (x->m->drop_len && x->m->drop_from < end) {
                   uint64_t from = std::max(x->m->drop_from, x->base);
                   uint64_t to = std::min(x->m->drop_from + x->m->drop_len, end);
                   if (to > from) len -= static_cast<int64_t>(to - from);
                 }
               }
               return x->sink->begin(x->sink->ctx, status, len);
             },
             [](void* c, const uint8_t* d, size_t n) -> int {
               auto* x = static_cast<Ex*>(c);
               Mitm* m = x->m;
               if (x->status != 200 && x->status != 206) {
                 x->delivered += n;
                 return x->sink->data(x->sink->ctx, d, n);
               }
               if (x->ended) return 0;
               uint64_t at = x->base;
               x->base += n;
               // A cut: deliver up to the offset, then fail the exchange.
               size_t deliver = n;
               bool cut_here = false;
               {
                 std::lock_guard<std::mutex> l(m->mu_);
                 for (size_t i = 0; i < m->cut_at.size(); ++i) {
                   uint64_t p = m->cut_at[i];
                   if (!m->cut_fired_[i] && p >= at && p < at + n && p - at <= deliver) {
                     deliver = static_cast<size_t>(p - at);
                     cut_here = true;
                   }
                 }
                 if (cut_here)
                   for (size_t i = 0; i < m->cut_at.size(); ++i)
                     if (!m->cut_fired_[i] && m->cut_at[i] == at + deliver) m->cut_fired_[i] = true;
               }
               // A clean early end.
               bool end_here = false;
               if (m->truncate_at < at + deliver) {
                 deliver = m->truncate_at > at ? static_cast<size_t>(m->truncate_at - at) : 0;
                 end_here = true;
                 cut_here = false;
               }
               Bytes out;
               out.reserve(deliver);
               for (size_t i = 0; i < deliver; ++i) {
                 uint64_t off = at + i;
                 if (m->drop_len && off >= m->drop_from && off < m->drop_from + m->drop_len) continue;
                 uint8_t b = d[i];
                 for (uint64_t f : m->flip_at)
                   if (f == off) b ^= 0x10;
                 out.push_back(b);
               }
               x->delivered += out.size();
               if (!out.empty() && x->sink->data(x->sink->ctx, out.data(), out.size()) != 0) return -1;
               if (end_here) x->ended = true;
               if (cut_here) {
                 x->cut = true;
                 return -1;
               }
               return 0;
             }};
  int rc = inner_.request(inner_.ctx, req, &s);
  // A truncated answer ends cleanly, whatever the real connection did after.
  if (ex.ended && !ex.cut) rc = 0;
  record(req, ex.status, rc, ex.delivered);
  return rc;
}

}  // namespace ota::e2e
