// ota-server as a process, on loopback: first start makes keys and the
// admin token and prints the token once; admin routes need the token;
// unknown routes get JSON errors; SIGTERM stops it cleanly; bad options
// and an occupied port fail with a clear message. Every test stops what it
// starts.
#include <curl/curl.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <strings.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <random>

#include "ota/delta/sha256.h"
#include "ota/envelope.h"
#include "ota/patch_decoder.h"
#include "metrics_parse.h"
#include "ota/server/crypto.h"
#include "test_postgres.h"
#include "test_support.h"

extern char** environ;

namespace ota {
namespace {

namespace fs = std::filesystem;

using test::free_loopback_port;

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// libcurl write callback: appends the response body to a std::string.
size_t collect(char* p, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(p, size * n);
  return size * n;
}

// The admin token every test that sets OTA_ADMIN_TOKEN uses.
const std::string kAdminToken = "test-token-0123456789abcdef";
const std::string kAdminEnv = "OTA_ADMIN_TOKEN=" + kAdminToken;
const std::string kAdminAuth = "Bearer " + kAdminToken;

struct HttpResult {
  long status = 0;
  std::string body;
  std::string content_type;  // of http_get's responses
};

// Any method with any request headers; the response's headers too.
struct Exchange {
  long status = 0;
  std::string body, headers;
  // The value of the first response header `name` (case-insensitive), or "".
  std::string header(const std::string& name) const {
    std::istringstream lines(headers);
    for (std::string line; std::getline(lines, line);) {
      if (line.size() <= name.size() || line[name.size()] != ':') continue;
      if (strncasecmp(line.c_str(), name.c_str(), name.size()) != 0) continue;
      std::string v = line.substr(name.size() + 1);
      while (!v.empty() && (v.front() == ' ')) v.erase(0, 1);
      while (!v.empty() && (v.back() == '\r' || v.back() == '\n')) v.pop_back();
      return v;
    }
    return "";
  }
};
Exchange http_exchange(const std::string& method, const std::string& url, const std::vector<std::string>& request_headers,
                       const std::string& body = "") {
  Exchange r;
  CURL* c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r.headers);
  if (method == "POST" || !body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  if (method != "GET" && method != "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_slist* headers = nullptr;
  for (const std::string& h : request_headers) headers = curl_slist_append(headers, h.c_str());
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  return r;
}

HttpResult http_get(const std::string& url, const std::string& auth = "", const std::string& range = "") {
  std::vector<std::string> headers;
  if (!auth.empty()) headers.push_back("Authorization: " + auth);
  if (!range.empty()) headers.push_back("Range: " + range);
  Exchange e = http_exchange("GET", url, headers);
  return {e.status, e.body, e.header("Content-Type")};
}

// POST with a multipart form (libcurl mime); a field with `file` set is
// sent as a file part.
struct Part {
  std::string name, value;
  bool file = false;
};

HttpResult http_post_form(const std::string& url, const std::string& auth, const std::vector<Part>& parts) {
  HttpResult r;
  CURL* c = curl_easy_init();
  curl_mime* mime = curl_mime_init(c);
  for (const Part& p : parts) {
    curl_mimepart* mp = curl_mime_addpart(mime);
    curl_mime_name(mp, p.name.c_str());
    curl_mime_data(mp, p.value.data(), p.value.size());
    if (p.file) curl_mime_filename(mp, "firmware.bin");
  }
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_slist* headers = curl_slist_append(nullptr, ("Authorization: " + auth).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_mime_free(mime);
  curl_easy_cleanup(c);
  return r;
}

// POST a raw body with a content type.
HttpResult http_post_raw(const std::string& url, const std::string& auth, const std::string& type,
                         const std::string& body) {
  Exchange e = http_exchange("POST", url, {"Authorization: " + auth, "Content-Type: " + type}, body);
  return {e.status, e.body, e.header("Content-Type")};
}

std::string as_string(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }

// One ota-server process; killed in the destructor if still running.
class ServerProcess {
 public:
  ServerProcess(const fs::path& data, uint16_t port, std::vector<std::string> extra_env = {},
                std::vector<std::string> extra_args = {})
      : out_(data.parent_path() / ("server-" + std::to_string(port) + ".out")), port_(port) {
    std::vector<std::string> args = {(test::bin_dir() / "ota-server").string(), "--data", data.string(),
                                     "--listen", "127.0.0.1:" + std::to_string(port)};
    // The /postgresql copy of the suite: a database of its own per data folder.
    std::vector<std::string> db = test::server_db_args(data);
    args.insert(args.end(), db.begin(), db.end());
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e; ++e)
      if (std::string(*e).rfind("OTA_ADMIN_TOKEN=", 0) != 0) env.push_back(*e);
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
  }
  ~ServerProcess() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  // Ready when /healthz answers and this process has printed its start-up
  // lines: the server answers (on its I/O threads) a moment before its main
  // thread prints, and the port may even be another test's server that
  // took it after free_loopback_port() released it.
  bool wait_ready() {
    for (int i = 0; i < 200; ++i) {
      if (http_get(url("/healthz")).status == 200 &&
          output().find("ota-server listening on") != std::string::npos) {
        // The /postgresql copy must really be on PostgreSQL.
        EXPECT_EQ(output().find(test::on_postgres() ? "database PostgreSQL" : "database SQLite") ==
                      std::string::npos,
                  false)
            << output();
        return true;
      }
      if (exited()) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  bool exited() {
    if (pid_ <= 0) return true;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      pid_ = -1;
      return true;
    }
    return false;
  }
  // Sends `sig` and waits up to 10 s; returns the exit code (-1: timeout).
  int stop(int sig = SIGTERM) {
    if (pid_ > 0) ::kill(pid_, sig);
    for (int i = 0; i < 200; ++i) {
      if (exited()) return exit_code_;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }
  int wait_exit() { return stop(0); }
  std::string output() const { return slurp(out_); }

 private:
  fs::path out_;
  uint16_t port_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

class ServerApp : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = test::make_temp_dir("server");
    data_ = dir_ / "var";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_, data_;
};

TEST_F(ServerApp, FirstStartMakesKeysAndPrintsTheTokenOnce) {
  std::string token;
  {
    ServerProcess s(data_, free_loopback_port());
    ASSERT_TRUE(s.wait_ready()) << s.output();
    std::string out = s.output();
    auto at = out.find("export OTA_ADMIN_TOKEN=");
    ASSERT_NE(at, std::string::npos) << out;
    token = out.substr(at + 23, 64);
    EXPECT_EQ(http_get(s.url("/api/v1/firmware"), "Bearer " + token).status, 200);
    EXPECT_EQ(s.stop(), 0) << s.output();
    EXPECT_NE(s.output().find("SIGTERM received, stopping"), std::string::npos);
  }
  struct stat st {};
  for (const char* f : {"keys/signing_key.pem", "keys/master.key", "admin_token.sha256"}) {
    ASSERT_EQ(::stat((data_ / f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
  }
  EXPECT_EQ(slurp(data_ / "admin_token.sha256").find(token), std::string::npos)
      << "the token itself must never be stored";
  // Second start: same token works, nothing printed.
  ServerProcess again(data_, free_loopback_port());
  ASSERT_TRUE(again.wait_ready()) << again.output();
  EXPECT_EQ(again.output().find("admin token"), std::string::npos);
  EXPECT_EQ(http_get(again.url("/api/v1/firmware"), "Bearer " + token).status, 200);
  EXPECT_EQ(again.stop(SIGINT), 0);
}

TEST_F(ServerApp, AdminRoutesNeedTheToken) {
  const std::string& token = kAdminToken;
  ServerProcess s(data_, free_loopback_port(), {"OTA_ADMIN_TOKEN=" + token});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  EXPECT_EQ(s.output().find("admin token"), std::string::npos);
  for (const std::string& auth : {std::string(""), std::string("Bearer "), std::string("Bearer wrong"),
                                  std::string("Basic " + token), std::string("Bearer " + token + "x")}) {
    HttpResult r = http_get(s.url("/api/v1/firmware"), auth);
    EXPECT_EQ(r.status, 401) << auth;
    EXPECT_NE(r.body.find("\"unauthorized\""), std::string::npos) << r.body;
  }
  HttpResult ok = http_get(s.url("/api/v1/firmware"), "Bearer " + token);
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("\"firmware\":[]"), std::string::npos) << ok.body;
  // The OpenAPI document is served as docs/openapi.json has it, and a page renders it.
  HttpResult api = http_get(s.url("/api/v1/openapi.json"));
  EXPECT_EQ(api.status, 200);
  EXPECT_EQ(nlohmann::json::parse(api.body), nlohmann::json::parse(slurp(test::source_dir() / "docs" / "openapi.json")));
  HttpResult page = http_get(s.url("/api/v1/docs"));
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/api/v1/openapi.json"), std::string::npos);
  HttpResult missing = http_get(s.url("/no/such/route"));
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("\"not_found\""), std::string::npos);
  EXPECT_EQ(s.stop(), 0);
}

// /metrics: the admin token on the main listener, none on a listener of
// its own (which serves nothing else); every request counted by its
// route's pattern and status; the exposition as Prometheus parses it.
// The router (path_router.h) matches as RESTinio's express router did:
// unreserved %-escapes decoded, literals in any case, one more "/" allowed;
// a malformed escape is a 400 with a reason, not a 404 or a crash.
TEST_F(ServerApp, PathsAreMatchedAsTheExpressRouterDid) {
  const std::string auth = "Bearer " + kAdminToken;
  ServerProcess s(data_, free_loopback_port(), {"OTA_ADMIN_TOKEN=" + kAdminToken});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  for (const char* same : {"/healthz", "/HEALTHZ", "/%68ealthz", "/%68%65althz"})
    EXPECT_EQ(http_get(s.url(same)).status, 200) << same;
  for (const char* same : {"/api/v1/firmware", "/api/v1/firmware/", "/api/v1/%66irmware", "/API/v1/Firmware"}) {
    HttpResult r = http_get(s.url(same), auth);
    EXPECT_EQ(r.status, 200) << same << ": " << r.body;
    EXPECT_NE(r.body.find("\"firmware\":[]"), std::string::npos) << same << ": " << r.body;
  }
  for (const char* broken : {"/healthz%zz", "/healthz%2", "/api/v1/devices/%/status"}) {
    HttpResult r = http_get(s.url(broken), auth);
    EXPECT_EQ(r.status, 400) << broken << ": " << r.body;
    EXPECT_NE(r.body.find("\"bad_path\""), std::string::npos) << broken << ": " << r.body;
  }
  for (const char* unknown : {"/healthz//", "/healthzz", "/api/v1/devices//status", "/api/v1/devices/a/b/status"}) {
    HttpResult r = http_get(s.url(unknown), auth);
    EXPECT_EQ(r.status, 404) << unknown << ": " << r.body;
    EXPECT_NE(r.body.find("\"not_found\""), std::string::npos) << unknown << ": " << r.body;
  }
  // A route of another method is no match either.
  HttpResult post = http_post_raw(s.url("/healthz"), "", "application/json", "{}");
  EXPECT_EQ(post.status, 404) << post.body;
  // Reserved escapes stay as they are: "%2F" is no "/", so the route
  // matches with the id "a%2Fb", which is refused as an id.
  HttpResult slash = http_get(s.url("/api/v1/devices/a%2Fb"), auth);
  EXPECT_EQ(slash.status, 400) << slash.body;
  EXPECT_NE(slash.body.find("invalid_device_id"), std::string::npos) << slash.body;
  EXPECT_EQ(s.stop(), 0) << s.output();
}

TEST_F(ServerApp, MetricsWithTheTokenOrOnTheirOwnListener) {
  const std::string auth = "Bearer " + kAdminToken;
  const uint16_t metrics_port = free_loopback_port();
  const std::string metrics_url = "http://127.0.0.1:" + std::to_string(metrics_port) + "/metrics";
  ServerProcess s(data_, free_loopback_port(), {"OTA_ADMIN_TOKEN=" + kAdminToken},
                  {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  EXPECT_EQ(http_get(s.url("/metrics")).status, 401);
  EXPECT_EQ(http_post_raw(s.url("/api/v1/devices"), auth, "application/json", R"({"device_id":"m1"})").status, 201);
  EXPECT_EQ(http_get(s.url("/api/v1/devices/m1"), auth).status, 200);
  EXPECT_EQ(http_get(s.url("/api/v1/devices/nobody"), auth).status, 404);
  EXPECT_EQ(http_get(s.url("/api/v1/devices?filter=colour%3Dred"), auth).status, 400);
  EXPECT_EQ(http_get(s.url("/no/such/route")).status, 404);

  HttpResult m = http_get(s.url("/metrics"), auth);
  ASSERT_EQ(m.status, 200) << m.body;
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");
  std::string error;
  nlohmann::json j = test::parse_metrics(m.body, &error);
  ASSERT_FALSE(j.is_null()) << error << m.body;
  auto requests = [&](const char* method, const char* route, const char* status) {
    return test::metric_value(j, "ota_http_requests_total", {{"method", method}, {"route", route}, {"status", status}});
  };
  EXPECT_EQ(requests("GET", "/metrics", "401"), 1);
  EXPECT_EQ(requests("POST", "/api/v1/devices", "201"), 1);
  EXPECT_EQ(requests("GET", "/api/v1/devices/:device_id", "200"), 1);  // the pattern, not the path
  EXPECT_EQ(requests("GET", "/api/v1/devices/:device_id", "404"), 1);
  EXPECT_EQ(requests("GET", "/api/v1/devices", "400"), 1);
  EXPECT_EQ(requests("GET", "unmatched", "404"), 1);
  EXPECT_EQ(test::metric_value(j, "ota_http_request_duration_seconds_count",
                               {{"method", "GET"}, {"route", "/api/v1/devices/:device_id"}}),
            2);
  EXPECT_EQ(test::metric_value(j, "ota_devices", {{"product", "default"}, {"state", "never_seen"}}), 1);

  // The listener of its own: no token, /metrics only.
  HttpResult open = http_get(metrics_url);
  ASSERT_EQ(open.status, 200) << open.body;
  j = test::parse_metrics(open.body, &error);
  ASSERT_FALSE(j.is_null()) << error;
  EXPECT_EQ(requests("GET", "/metrics", "200"), 1);  // the scrape on the main listener, counted after it
  EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(metrics_port) + "/api/v1/devices", auth).status, 404);
  EXPECT_EQ(s.stop(), 0);
  // The same address twice is a usage error.
  ServerProcess twice(dir_ / "twice", metrics_port, {"OTA_ADMIN_TOKEN=" + kAdminToken},
                      {"--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port)});
  EXPECT_EQ(twice.wait_exit(), 2) << twice.output();
  EXPECT_NE(twice.output().find("--metrics-listen must differ from --listen"), std::string::npos) << twice.output();
}

// The console's login: the admin token buys an HttpOnly, SameSite=Strict
// cookie (not Secure on plain HTTP) and a CSRF token; the cookie reads,
// and changes only with the token; logging out ends it on the server; the
// session lives in the database (a restarted server knows it); the bearer
// token works as before.
TEST_F(ServerApp, ConsoleSessionsWithACookieAndACsrfToken) {
  const uint16_t port = free_loopback_port();
  auto s = std::make_unique<ServerProcess>(data_, port, std::vector<std::string>{"OTA_ADMIN_TOKEN=" + kAdminToken});
  ASSERT_TRUE(s->wait_ready()) << s->output();
  const std::string json = "Content-Type: application/json";
  EXPECT_EQ(http_exchange("POST", s->url("/api/v1/session"), {json}, R"({"token":"wrong-token-0123456789"})").status,
            401);
  EXPECT_EQ(http_exchange("POST", s->url("/api/v1/session"), {json}, R"({"token":42})").status, 400);
  EXPECT_EQ(http_exchange("POST", s->url("/api/v1/session"), {json}, "not json").status, 400);
  Exchange login = http_exchange("POST", s->url("/api/v1/session"), {json},
                                 nlohmann::json{{"token", kAdminToken}}.dump());
  ASSERT_EQ(login.status, 201) << login.body;
  const std::string set_cookie = login.header("Set-Cookie");
  EXPECT_EQ(set_cookie.rfind("ota_session=", 0), 0u) << set_cookie;
  EXPECT_NE(set_cookie.find("; HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; SameSite=Strict"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("; Path=/"), std::string::npos) << set_cookie;
  EXPECT_EQ(set_cookie.find("Secure"), std::string::npos) << "plain HTTP: " << set_cookie;
  const std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';'));
  const std::string csrf = nlohmann::json::parse(login.body)["csrf_token"];
  EXPECT_EQ(login.body.find(set_cookie.substr(12, 64)), std::string::npos) << "the id is in the cookie only";

  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/devices"), {cookie}).status, 200);
  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/devices"), {"Cookie: ota_session=" + std::string(64, 'a')}).status,
            401);
  Exchange no_csrf = http_exchange("POST", s->url("/api/v1/devices"), {cookie, json}, R"({"device_id":"c1"})");
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_NE(no_csrf.body.find("csrf_required"), std::string::npos) << no_csrf.body;
  EXPECT_EQ(http_exchange("POST", s->url("/api/v1/devices"), {cookie, json, "X-CSRF-Token: " + std::string(64, '0')},
                          R"({"device_id":"c1"})")
                .status,
            403);
  EXPECT_EQ(http_exchange("POST", s->url("/api/v1/devices"), {cookie, json, "X-CSRF-Token: " + csrf},
                          R"({"device_id":"c1"})")
                .status,
            201);
  Exchange again = http_exchange("GET", s->url("/api/v1/session"), {cookie});
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(nlohmann::json::parse(again.body)["csrf_token"], csrf);
  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/session"), {}).status, 401);

  // The session is in the database: a restarted server knows it.
  EXPECT_EQ(s->stop(), 0);
  s = std::make_unique<ServerProcess>(data_, port, std::vector<std::string>{"OTA_ADMIN_TOKEN=" + kAdminToken});
  ASSERT_TRUE(s->wait_ready()) << s->output();
  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/devices/c1"), {cookie}).status, 200);

  EXPECT_EQ(http_exchange("DELETE", s->url("/api/v1/session"), {cookie}).status, 403);
  Exchange out = http_exchange("DELETE", s->url("/api/v1/session"), {cookie, "X-CSRF-Token: " + csrf});
  EXPECT_EQ(out.status, 200) << out.body;
  EXPECT_NE(out.header("Set-Cookie").find("Max-Age=0"), std::string::npos) << out.headers;
  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/devices"), {cookie}).status, 401);
  EXPECT_EQ(http_exchange("GET", s->url("/api/v1/devices"), {"Authorization: Bearer " + kAdminToken}).status, 200);
  EXPECT_EQ(s->stop(), 0);

  // Behind a TLS proxy: --secure-cookies.
  ServerProcess proxied(data_, port, {"OTA_ADMIN_TOKEN=" + kAdminToken}, {"--secure-cookies"});
  ASSERT_TRUE(proxied.wait_ready()) << proxied.output();
  Exchange secure = http_exchange("POST", proxied.url("/api/v1/session"), {json},
                                  nlohmann::json{{"token", kAdminToken}}.dump());
  EXPECT_NE(secure.header("Set-Cookie").find("; Secure"), std::string::npos) << secure.headers;
  EXPECT_EQ(proxied.stop(), 0);
}

TEST_F(ServerApp, ConfigFileEnvironmentAndFlagsInThatOrder) {
  uint16_t file_port = free_loopback_port(), flag_port = free_loopback_port();
  std::ofstream(dir_ / "ota.conf") << "# ota-server settings\n"
                                   << "data = " << (dir_ / "from-file").string() << "\n"
                                   << "listen = 127.0.0.1:" << file_port << "   # comment\n"
                                   << "threads = 3\n";
  if (test::on_postgres())
    std::ofstream(dir_ / "ota.conf", std::ios::app) << "db = " << test::store_url(dir_ / "from-file") << "\n";
  {
    // The config file decides where the data goes; the flag --listen wins
    // over the file's listen (ServerProcess passes --data and --listen, so
    // spawn it by hand here).
    std::string cmd = "'" + (test::bin_dir() / "ota-server").string() + "' --config '" +
                      (dir_ / "ota.conf").string() + "' --listen 127.0.0.1:" + std::to_string(flag_port) +
                      " > '" + (dir_ / "conf.out").string() + "' 2>&1 & echo $! > '" + (dir_ / "pid").string() + "'";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    bool ready = false;
    for (int i = 0; i < 200 && !ready; ++i) {
      ready = http_get("http://127.0.0.1:" + std::to_string(flag_port) + "/healthz").status == 200;
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    pid_t pid = std::stoi(slurp(dir_ / "pid"));
    EXPECT_TRUE(ready) << slurp(dir_ / "conf.out");
    EXPECT_TRUE(fs::exists(dir_ / "from-file" / "keys" / "signing_key.pem"));
    EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(file_port) + "/healthz").status, 0);
    ::kill(pid, SIGTERM);
    for (int i = 0; i < 100 && ::kill(pid, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_NE(::kill(pid, 0), 0) << "server did not stop";
  }
  std::ofstream(dir_ / "bad.conf") << "colour = blue\n";
  ServerProcess bad(data_, free_loopback_port(), {}, {"--config", (dir_ / "bad.conf").string()});
  EXPECT_EQ(bad.wait_exit(), 2);
  EXPECT_NE(bad.output().find("unknown key 'colour'"), std::string::npos) << bad.output();
  ServerProcess threads(data_, free_loopback_port(), {"OTA_THREADS=0"});
  EXPECT_EQ(threads.wait_exit(), 2);
}

// Request threads each accept on the port (SO_REUSEPORT), yet a second
// server started on a port the first listens on fails as it always did,
// instead of silently sharing its connections; the first goes on serving
// on every thread.
TEST_F(ServerApp, ATakenPortFailsTheStartDespiteSharedAcceptors) {
  const uint16_t port = free_loopback_port();
  ServerProcess first(data_, port, {}, {"--threads", "4"});
  ASSERT_TRUE(first.wait_ready()) << first.output();
  ServerProcess second(dir_ / "second", port, {}, {"--threads", "4"});
  EXPECT_EQ(second.wait_exit(), 1) << second.output();
  EXPECT_NE(second.output().find("in use"), std::string::npos) << second.output();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(http_get(first.url("/healthz")).status, 200) << "request " << i;
  EXPECT_EQ(first.stop(), 0);
}

// The pool size is either backend's, the statement timeout PostgreSQL's:
// the server says which it uses, and refuses the timeout with SQLite when
// it starts.
TEST_F(ServerApp, PoolSizeAndPostgresStatementTimeout) {
  if (test::on_postgres()) {
    // As docs/server.md "PostgreSQL in production" has it: the file's
    // settings, a flag over one of them.
    std::ofstream(dir_ / "pg.conf") << "db_pool = 8\ndb_statement_timeout_ms = 4500\n";
    ServerProcess s(data_, free_loopback_port(), {}, {"--config", (dir_ / "pg.conf").string(), "--db-pool", "3"});
    ASSERT_TRUE(s.wait_ready()) << s.output();
    EXPECT_NE(s.output().find("database PostgreSQL, pool 3, statement timeout 4500 ms"), std::string::npos)
        << s.output();
    EXPECT_EQ(http_get(s.url("/healthz")).status, 200);
    EXPECT_EQ(s.stop(), 0);
  } else {
    ServerProcess pool(data_, free_loopback_port(), {}, {"--db-pool", "3"});
    ASSERT_TRUE(pool.wait_ready()) << pool.output();
    EXPECT_NE(pool.output().find("database SQLite, pool 3)"), std::string::npos) << pool.output();
    EXPECT_EQ(http_get(pool.url("/healthz")).status, 200);
    EXPECT_EQ(pool.stop(), 0);
    ServerProcess timeout(data_, free_loopback_port(), {"OTA_DB_STATEMENT_TIMEOUT_MS=4500"});
    EXPECT_EQ(timeout.wait_exit(), 1);
    EXPECT_NE(timeout.output().find("a statement timeout is for PostgreSQL"), std::string::npos) << timeout.output();
  }
  ServerProcess zero(data_, free_loopback_port(), {}, {"--db-pool", "0"});
  EXPECT_EQ(zero.wait_exit(), 2);
  EXPECT_NE(zero.output().find("--db-pool must be 1..256, got '0'"), std::string::npos) << zero.output();
  ServerProcess garbage(data_, free_loopback_port(), {"OTA_DB_STATEMENT_TIMEOUT_MS=5s"});
  EXPECT_EQ(garbage.wait_exit(), 2);
  EXPECT_NE(garbage.output().find("OTA_DB_STATEMENT_TIMEOUT_MS must be 0..86400000, got '5s'"), std::string::npos)
      << garbage.output();
}

// The server killed (SIGKILL) while an upload is in flight: after a
// restart nothing half-written is visible, and the same upload succeeds.
TEST_F(ServerApp, KilledMidUploadLeavesNothingHalfWritten) {
  const std::string& token = kAdminToken;
  std::mt19937 rng(23);
  std::string image = as_string(test::synthetic_esp32_app("3.0.0", "demo", test::synthetic_image(rng, 400000)));
  uint16_t port = free_loopback_port();
  {
    ServerProcess s(data_, port, {"OTA_ADMIN_TOKEN=" + token});
    ASSERT_TRUE(s.wait_ready()) << s.output();
    // Send half the body, then stall until the server is gone.
    struct Feed {
      const std::string* data;
      size_t sent = 0;
      std::atomic<bool> half{false};
    } feed{&image};
    std::thread uploader([&] {
      CURL* c = curl_easy_init();
      std::string url = s.url("/api/v1/firmware?version=3.0.0");
      curl_easy_setopt(c, CURLOPT_URL, url.c_str());
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(image.size()));
      curl_easy_setopt(c, CURLOPT_READFUNCTION, +[](char* buf, size_t size, size_t n, void* ud) -> size_t {
        auto* f = static_cast<Feed*>(ud);
        if (f->sent >= f->data->size() / 2) {
          f->half = true;
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          return CURL_READFUNC_PAUSE;
        }
        size_t k = std::min(size * n, f->data->size() / 2 - f->sent);
        std::memcpy(buf, f->data->data() + f->sent, k);
        f->sent += k;
        return k;
      });
      curl_easy_setopt(c, CURLOPT_READDATA, &feed);
      curl_easy_setopt(c, CURLOPT_TIMEOUT, 2L);
      curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + token).c_str());
      h = curl_slist_append(h, "Content-Type: application/octet-stream");
      curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
      curl_easy_perform(c);  // fails: the server dies
      curl_slist_free_all(h);
      curl_easy_cleanup(c);
    });
    for (int i = 0; i < 200 && !feed.half; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(feed.half.load());
    EXPECT_EQ(s.stop(SIGKILL), 128 + SIGKILL);
    uploader.join();
  }
  ServerProcess again(data_, port, {"OTA_ADMIN_TOKEN=" + token});
  ASSERT_TRUE(again.wait_ready()) << again.output();
  EXPECT_EQ(nlohmann::json::parse(http_get(again.url("/api/v1/firmware"), "Bearer " + token).body)["firmware"].size(), 0u);
  for (auto& e : fs::recursive_directory_iterator(data_ / "storage"))
    EXPECT_FALSE(e.is_regular_file()) << "left behind: " << e.path();
  EXPECT_EQ(http_post_raw(again.url("/api/v1/firmware?version=3.0.0"), "Bearer " + token,
                          "application/octet-stream", image).status, 201);
  EXPECT_EQ(again.stop(), 0);
}

// TLS with a certificate the test makes: a client that trusts it gets
// through; one that does not is refused; nothing skips verification.
TEST_F(ServerApp, ServesTlsWithTheGivenCertificate) {
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
                    "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '" +
                    (dir_ / "tls.key").string() + "' -out '" + (dir_ / "tls.pem").string() + "' 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  uint16_t port = free_loopback_port();
  ServerProcess s(data_, port, {}, {"--tls-cert", (dir_ / "tls.pem").string(), "--tls-key", (dir_ / "tls.key").string()});
  auto get = [&](bool trust) {
    CURL* c = curl_easy_init();
    std::string url = "https://127.0.0.1:" + std::to_string(port) + "/healthz", body;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 5L);
    if (trust) curl_easy_setopt(c, CURLOPT_CAINFO, (dir_ / "tls.pem").c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return std::make_pair(rc, status);
  };
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    ready = get(true).second == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << s.output();
  EXPECT_NE(s.output().find("https://127.0.0.1:"), std::string::npos);
  EXPECT_NE(get(false).first, CURLE_OK) << "an untrusted certificate must fail verification";
  EXPECT_EQ(http_get("http://127.0.0.1:" + std::to_string(port) + "/healthz").status, 0)
      << "plain HTTP is not served on a TLS port";
  EXPECT_EQ(s.stop(), 0);
}

// SIGTERM while a patch is being made on the worker: the server still stops
// cleanly (the reply to a closing connection must not take it down).
TEST_F(ServerApp, StopsCleanlyWhilePatchWorkIsPending) {
  const std::string& token = kAdminAuth;
  ServerProcess s(data_, free_loopback_port(), {kAdminEnv});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  std::mt19937 rng(41);
  auto code = test::synthetic_image(rng, 1200000);
  auto a = test::synthetic_esp32_app("1.0.0", "demo", code);
  auto b = test::synthetic_esp32_app("1.0.1", "demo", test::mutate_image(rng, code, 200));
  ASSERT_EQ(http_post_raw(s.url("/api/v1/firmware"), token, "application/octet-stream", as_string(a)).status, 201);
  ASSERT_EQ(http_post_raw(s.url("/api/v1/firmware"), token, "application/octet-stream", as_string(b)).status, 201);
  std::thread client([&] {
    http_post_form(s.url("/make_patch/"), token, {{"old_version", "1.0.0"}, {"new_version", "1.0.1"}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(s.stop(), 0) << s.output();
  client.join();
}

TEST_F(ServerApp, StartupErrorsAreClear) {
  {
    ServerProcess tls(data_, free_loopback_port(), {}, {"--tls-cert", "x.pem"});
    EXPECT_EQ(tls.wait_exit(), 2);
    EXPECT_NE(tls.output().find("--tls-key go together"), std::string::npos) << tls.output();
  }
  {
    ServerProcess missing(data_, free_loopback_port(), {}, {"--tls-cert", "nope.pem", "--tls-key", "nope.key"});
    EXPECT_EQ(missing.wait_exit(), 1);
    EXPECT_NE(missing.output().find("cannot start"), std::string::npos) << missing.output();
  }
  {
    ServerProcess bad(data_, free_loopback_port(), {"OTA_ADMIN_TOKEN=short"});
    EXPECT_EQ(bad.wait_exit(), 1);
    EXPECT_NE(bad.output().find("at least 16"), std::string::npos) << bad.output();
  }
  uint16_t port = free_loopback_port();
  ServerProcess first(data_, port);
  ASSERT_TRUE(first.wait_ready()) << first.output();
  ServerProcess second(dir_ / "other", port);
  EXPECT_EQ(second.wait_exit(), 1);
  EXPECT_NE(second.output().find("cannot start"), std::string::npos) << second.output();
  EXPECT_EQ(first.stop(), 0);
}

TEST_F(ServerApp, FirmwareUploadThroughBothApis) {
  const std::string& token = kAdminAuth;
  ServerProcess s(data_, free_loopback_port(), {kAdminEnv});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  std::mt19937 rng(3);
  auto v100 = test::synthetic_esp32_app("1.0.0", "demo", test::synthetic_image(rng, 60000));
  auto v101 = test::synthetic_esp32_app("1.0.1", "demo", test::synthetic_image(rng, 60000));

  // The original endpoint, as its curl example sends it (-F version=... -F file=@...).
  HttpResult up = http_post_form(s.url("/upload_firmware/"), token,
                                 {{"version", "1.0.0"}, {"file", as_string(v100), true}});
  EXPECT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(nlohmann::json::parse(up.body),
            nlohmann::json({{"status", "ok"}, {"stored", "storage/firmware/firmware_1.0.0.bin"}}));
  EXPECT_EQ(test::read_file(data_ / "storage/firmware/firmware_1.0.0.bin"), v100);
  // The versioned API, raw body; again is idempotent.
  HttpResult raw = http_post_raw(s.url("/api/v1/firmware?version=1.0.1"), token,
                                 "application/octet-stream", as_string(v101));
  EXPECT_EQ(raw.status, 201) << raw.body;
  EXPECT_EQ(nlohmann::json::parse(raw.body)["security_counter"], 2);
  EXPECT_EQ(http_post_raw(s.url("/api/v1/firmware?version=1.0.1"), token, "application/octet-stream",
                          as_string(v101)).status, 200);
  auto list = nlohmann::json::parse(http_get(s.url("/api/v1/firmware"), token).body);
  EXPECT_EQ(list["firmware"].size(), 2u);

  // Bad input: JSON errors, nothing stored, the server keeps serving.
  struct Bad {
    HttpResult r;
    long status;
    const char* code;
  } bad[] = {
      {http_post_form(s.url("/upload_firmware/"), token, {{"version", "../../x"}, {"file", as_string(v100), true}}),
       400, "invalid_version"},
      {http_post_form(s.url("/upload_firmware/"), token, {{"version", std::string(300, '1')}, {"file", "x", true}}),
       400, "invalid_version"},
      {http_post_form(s.url("/upload_firmware/"), token, {{"version", "2.0"}, {"file", "", true}}), 400,
       "empty_file"},
      {http_post_form(s.url("/upload_firmware/"), token, {{"version", "2.0"}, {"file", "GIF89a...", true}}), 422,
       "invalid_image"},
      {http_post_form(s.url("/upload_firmware/"), token, {{"version", "2.0"}}), 400, "missing_field"},
      {http_post_raw(s.url("/upload_firmware/"), token, "multipart/form-data; boundary=zzz", "--zzz\r\nbroken"),
       400, "bad_form"},
      {http_post_raw(s.url("/upload_firmware/"), token, "text/plain", "version=1"), 400, "bad_form"},
      {http_post_form(s.url("/upload_firmware/"), "Bearer nope", {{"version", "2.0"}, {"file", "x", true}}), 401,
       "unauthorized"},
      {http_post_raw(s.url("/api/v1/firmware?version=1.0.1"), token, "application/octet-stream", as_string(v100)),
       409, "version_exists"},
  };
  for (const Bad& b : bad) {
    EXPECT_EQ(b.r.status, b.status) << b.code << ": " << b.r.body;
    EXPECT_NE(b.r.body.find(std::string("\"") + b.code + "\""), std::string::npos) << b.r.body;
  }
  // Over the 64 MiB upload limit: 413 with a JSON error.
  HttpResult huge = http_post_raw(s.url("/api/v1/firmware?version=9.9"), token, "application/octet-stream",
                                  std::string((64u << 20) + 1, '\xE9'));
  EXPECT_EQ(huge.status, 413);
  EXPECT_NE(huge.body.find("payload_too_large"), std::string::npos) << huge.body;
  EXPECT_EQ(http_get(s.url("/healthz")).status, 200);
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/api/v1/firmware"), token).body)["firmware"].size(), 2u);
  // Every admin action is in the audit log; refusals are not actions.
  auto audit = nlohmann::json::parse(http_get(s.url("/api/v1/audit?limit=10"), token).body)["audit"];
  ASSERT_EQ(audit.size(), 2u);
  EXPECT_EQ(audit[0]["action"], "firmware.upload");
  EXPECT_EQ(http_get(s.url("/api/v1/audit?limit=0"), token).status, 400);
  EXPECT_EQ(http_get(s.url("/api/v1/audit"), "Bearer nope").status, 401);
  for (auto& e : fs::recursive_directory_iterator(data_ / "storage")) {
    if (e.is_regular_file()) {
      EXPECT_EQ(e.path().parent_path().filename(), "firmware") << e.path();
    }
  }
  EXPECT_EQ(s.stop(), 0);
}

// Decrypts an original-path patch file the way a client without a manifest
// does (docs/protocol.md §3): one record up to 65,564 bytes, else 4,096-byte
// chunks whose plaintext ends with the next record's digest.
std::optional<std::vector<uint8_t>> open_original_stream(const std::vector<uint8_t>& s,
                                                         std::span<const uint8_t, 32> key) {
  std::vector<uint8_t> out;
  size_t records = s.size() <= 65535 + 29 ? 1 : (s.size() - 30) / (4096 + 61) + 1;
  size_t at = 0;
  for (size_t i = 0; i < records; ++i) {
    bool last = i + 1 == records;
    size_t ct = last ? s.size() - at - 29 : 4096 + 32;
    if (at + 29 + ct > s.size()) return std::nullopt;
    auto plain = server::aes256_ccm_decrypt(key, std::span<const uint8_t, 13>(s.data() + at, 13),
                                            std::span<const uint8_t>(s.data() + at + 29, ct),
                                            std::span<const uint8_t, 16>(s.data() + at + 13, 16));
    if (!plain) return std::nullopt;
    out.insert(out.end(), plain->begin(), plain->end() - (last ? 0 : 32));
    at += 29 + ct;
  }
  return out;
}

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> b(h.size() / 2);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
  return b;
}

// The original description's curl workflow, end to end, with the token:
// upload 1.0.0 and 1.0.1, make_patch, instruct_update, check_update,
// get_patch, get_signature; the served patch, decrypted with the device
// key, applies with `ota-delta apply` to give 1.0.1 exactly, and the
// detached signature verifies.
TEST_F(ServerApp, OriginalWorkflowEndToEnd) {
  const std::string& token = kAdminAuth;
  ServerProcess s(data_, free_loopback_port(), {kAdminEnv});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  std::mt19937 rng(11);
  auto code = test::synthetic_image(rng, 200000);
  auto v100 = test::synthetic_esp32_app("1.0.0", "demo", code);
  auto v101 = test::synthetic_esp32_app("1.0.1", "demo", test::mutate_image(rng, code, 30));

  // The original endpoints work in the default product: a device
  // registered without one is in it.
  HttpResult reg = http_post_raw(s.url("/api/v1/devices"), token, "application/json",
                                 R"({"device_id":"esp32_01"})");
  ASSERT_EQ(reg.status, 201) << reg.body;
  auto device = nlohmann::json::parse(reg.body);
  std::vector<uint8_t> device_key = unhex(device["device_key"].get<std::string>());
  ASSERT_EQ(device_key.size(), 32u);

  ASSERT_EQ(http_post_form(s.url("/upload_firmware/"), token, {{"version", "1.0.0"}, {"file", as_string(v100), true}}).status, 200);
  ASSERT_EQ(http_post_form(s.url("/upload_firmware/"), token, {{"version", "1.0.1"}, {"file", as_string(v101), true}}).status, 200);
  HttpResult made = http_post_form(s.url("/make_patch/"), token, {{"old_version", "1.0.0"}, {"new_version", "1.0.1"}});
  ASSERT_EQ(made.status, 200) << made.body;
  EXPECT_EQ(nlohmann::json::parse(made.body),
            nlohmann::json({{"status", "ok"},
                            {"patch", "storage/patches/patch_1.0.0_to_1.0.1.bsdiff"},
                            {"signature", "storage/signatures/patch_1.0.0_to_1.0.1.sig"}}));
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/check_update/?device_id=esp32_01&version=1.0.0")).body),
            nlohmann::json({{"update_available", false}}));
  HttpResult queued = http_post_form(s.url("/instruct_update/"), token,
                                     {{"device_id", "esp32_01"}, {"old_version", "1.0.0"}, {"new_version", "1.0.1"}});
  ASSERT_EQ(queued.status, 200) << queued.body;
  EXPECT_EQ(nlohmann::json::parse(queued.body), nlohmann::json({{"status", "update_queued"}}));
  auto check = nlohmann::json::parse(http_get(s.url("/check_update/?device_id=esp32_01&version=1.0.0")).body);
  EXPECT_EQ(check, nlohmann::json({{"update_available", true},
                                   {"old_version", "1.0.0"},
                                   {"new_version", "1.0.1"},
                                   {"patch_url", "/get_patch/1.0.0/1.0.1/esp32_01"},
                                   {"signature_url", "/get_signature/1.0.0/1.0.1"}}));
  // A device already on another version is told nothing.
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/check_update/?device_id=esp32_01&version=1.0.1")).body),
            nlohmann::json({{"update_available", false}}));

  HttpResult enc = http_get(s.url(check["patch_url"].get<std::string>()));
  ASSERT_EQ(enc.status, 200);
  HttpResult again = http_get(s.url(check["patch_url"].get<std::string>()));
  EXPECT_EQ(again.body, enc.body) << "every download of the patch must be byte-identical";
  std::vector<uint8_t> enc_bytes(enc.body.begin(), enc.body.end());
  auto patch = open_original_stream(enc_bytes, std::span<const uint8_t, 32>(device_key.data(), 32));
  ASSERT_TRUE(patch.has_value()) << "the served patch does not open with the device key";
  HttpResult sig = http_get(s.url(check["signature_url"].get<std::string>()));
  ASSERT_EQ(sig.status, 200);
  auto pub = server::SigningKey::from_public_pem(device["server_pub_pem"].get<std::string>());
  std::vector<uint8_t> sig_bytes(sig.body.begin(), sig.body.end());
  EXPECT_TRUE(pub.verify_digest(server::sha256(*patch), sig_bytes));

  test::write_file(dir_ / "old.bin", v100);
  test::write_file(dir_ / "patch.otad", *patch);
  std::string cmd = "'" + (test::bin_dir() / "ota-delta").string() + "' apply '" + (dir_ / "old.bin").string() +
                    "' '" + (dir_ / "patch.otad").string() + "' '" + (dir_ / "new.bin").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(test::read_file(dir_ / "new.bin"), v101);

  // A disabled device gets nothing; enabled again, the same bytes as before.
  EXPECT_EQ(http_post_raw(s.url("/api/v1/devices/esp32_01/disable"), token, "application/json", "").status, 200);
  HttpResult disabled = http_get(s.url(check["patch_url"].get<std::string>()));
  EXPECT_EQ(disabled.status, 403);
  EXPECT_NE(disabled.body.find("device_disabled"), std::string::npos);
  EXPECT_EQ(http_post_raw(s.url("/api/v1/devices/esp32_01/enable"), token, "application/json", "").status, 200);
  EXPECT_EQ(http_get(s.url(check["patch_url"].get<std::string>())).body, enc.body);

  // Refusals: unknown device, unmade patch, another device's path, hostile versions.
  EXPECT_EQ(http_get(s.url("/get_patch/1.0.0/1.0.1/nobody")).status, 404);
  EXPECT_EQ(http_get(s.url("/get_signature/1.0.1/1.0.0")).status, 404);
  EXPECT_EQ(http_get(s.url("/get_patch/..%2F..%2Fkeys/1.0.1/esp32_01")).status, 400);
  // The version a device reports is informational, never a path: a hostile
  // one gets "nothing to do" and is stored as text.
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/check_update/?device_id=esp32_01&version=..%2Fx")).body),
            nlohmann::json({{"update_available", false}}));
  EXPECT_EQ(http_post_form(s.url("/instruct_update/"), token,
                           {{"device_id", "ghost"}, {"old_version", "1.0.0"}, {"new_version", "1.0.1"}}).status,
            404);
  EXPECT_EQ(http_post_form(s.url("/make_patch/"), token, {{"old_version", "1.0.0"}, {"new_version", "9.9"}}).status,
            404);
  EXPECT_EQ(http_post_form(s.url("/make_patch/"), "Bearer x", {{"old_version", "1.0.0"}, {"new_version", "1.0.1"}}).status,
            401);
  EXPECT_EQ(s.stop(), 0);
}

struct CommandResult {
  int exit_code;
  std::string out, err;
};

CommandResult otactl(const fs::path& dir, const std::string& args) {
  std::string cmd = "'" + (test::bin_dir() / "otactl").string() + "' " + args + " >'" + (dir / "o.out").string() +
                    "' 2>'" + (dir / "o.err").string() + "'";
  int rc = std::system(cmd.c_str());
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir / "o.out"), slurp(dir / "o.err")};
}

// otactl as scripts and CI use it: --server/--token, tables, --json, the
// provisioning bundle, clear failures.
TEST_F(ServerApp, OtactlCoversFirmwareDevicesUpdatesAndStatus) {
  const std::string& token = kAdminToken;
  uint16_t port = free_loopback_port();
  ServerProcess s(data_, port, {"OTA_ADMIN_TOKEN=" + token});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  const std::string g = "--server http://127.0.0.1:" + std::to_string(port) + " --token " + token + " ";
  std::mt19937 rng(17);
  test::write_file(dir_ / "fw.bin", test::synthetic_esp32_app("2.1.0", "lamp", test::synthetic_image(rng, 40000)));

  CommandResult up = otactl(dir_, g + "firmware upload 2.1.0 '" + (dir_ / "fw.bin").string() + "' --product lamp");
  ASSERT_EQ(up.exit_code, 0) << up.err;
  CommandResult list = otactl(dir_, g + "firmware list --product lamp");
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.out.find("VERSION"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("2.1.0"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("ESP32"), std::string::npos) << "the chip by name: " << list.out;
  CommandResult json_list = otactl(dir_, g + "--json firmware list");
  EXPECT_EQ(nlohmann::json::parse(json_list.out)["firmware"][0]["product"], "lamp");
  CommandResult products = otactl(dir_, g + "product list");
  EXPECT_NE(products.out.find("lamp     ESP32  1         0"), std::string::npos) << products.out;
  EXPECT_EQ(otactl(dir_, g + "firmware list --product nope").exit_code, 1);

  fs::path bundle = dir_ / "bundle-lamp-01";
  CommandResult add = otactl(dir_, g + "device add lamp-01 --product lamp --out '" + bundle.string() + "'");
  ASSERT_EQ(add.exit_code, 0) << add.err;
  for (const char* f : {"device.json", "device.key", "device.token", "server_pub.pem", "ota_device_config.h"})
    EXPECT_TRUE(fs::exists(bundle / f)) << f;
  struct stat st {};
  ::stat((bundle / "device.key").c_str(), &st);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(slurp(bundle / "device.json").find("http://127.0.0.1:" + std::to_string(port)), std::string::npos);
  EXPECT_EQ(slurp(bundle / "server_pub.pem"), slurp(data_ / "keys" / "signing_pub.pem"));
  EXPECT_EQ(add.out.find("device_key"), std::string::npos) << "secrets stay in the bundle, not on stdout";

  CommandResult devices = otactl(dir_, g + "device list");
  EXPECT_NE(devices.out.find("lamp-01"), std::string::npos);
  EXPECT_NE(devices.out.find("unknown image"), std::string::npos) << "never seen: " << devices.out;
  EXPECT_NE(otactl(dir_, g + "device show lamp-01").out.find("lamp"), std::string::npos);
  CommandResult assign = otactl(dir_, g + "update assign lamp-01 2.1.0");
  EXPECT_EQ(assign.exit_code, 0) << assign.err;
  auto status = nlohmann::json::parse(otactl(dir_, g + "--json status").out);
  EXPECT_EQ(status["firmware"], 1);
  EXPECT_EQ(status["devices"], 1);
  EXPECT_EQ(status["devices_with_assignment"], 1);

  CommandResult missing = otactl(dir_, g + "device show nobody");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("404 device_not_found"), std::string::npos) << missing.err;
  CommandResult denied = otactl(dir_, "--server http://127.0.0.1:" + std::to_string(port) + " --token wrong status");
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_NE(denied.err.find("401 unauthorized"), std::string::npos) << denied.err;
  EXPECT_EQ(otactl(dir_, g + "firmware frobnicate").exit_code, 2);
  EXPECT_EQ(otactl(dir_, g + "update assign lamp-01").exit_code, 2);
  EXPECT_EQ(otactl(dir_, g + "firmware upload 1 f --colour blue").exit_code, 2);
  // A device of the default product cannot be given the lamp's firmware.
  CommandResult other = otactl(dir_, g + "device add plain-01 --out '" + (dir_ / "b2").string() + "'");
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(slurp(dir_ / "b2" / "device.json").find("\"product\": \"default\""), std::string::npos)
      << slurp(dir_ / "b2" / "device.json");
  CommandResult refused = otactl(dir_, g + "update assign plain-01 2.1.0");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("404 firmware_not_found: no firmware version 2.1.0 in product default (only in "
                             "product lamp"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(s.stop(), 0);
  CommandResult down = otactl(dir_, g + "status");
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down.err;
}

// Groups, tags and filters as an admin uses them, through otactl and the
// API: a static group, a dynamic one, tags set by the admin and reported by
// a device at check-in, a device's view naming its groups.
TEST_F(ServerApp, GroupsTagsAndFiltersThroughOtactl) {
  const std::string& token = kAdminToken;
  uint16_t port = free_loopback_port();
  ServerProcess s(data_, port, {"OTA_ADMIN_TOKEN=" + token});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  const std::string g = "--server http://127.0.0.1:" + std::to_string(port) + " --token " + token + " ";
  for (const char* id : {"lamp-1", "lamp-2", "lamp-3"}) {
    CommandResult add = otactl(dir_, g + "device add " + id + " --product lamp --out '" + (dir_ / id).string() + "'");
    ASSERT_EQ(add.exit_code, 0) << add.err;
  }
  EXPECT_EQ(otactl(dir_, g + "device tag lamp-1 hw=B region=eu").exit_code, 0);
  // lamp-2 reports its own tag at check-in; the admin's would win over it.
  std::string token2 = slurp(dir_ / "lamp-2" / "device.token");
  while (!token2.empty() && token2.back() == '\n') token2.pop_back();
  nlohmann::json checkin = {{"version", "1.0"}, {"image_sha256", std::string(64, 'a')},
                            {"nonce", std::string(32, '0')}, {"tags", {{"hw", "B"}}}};
  HttpResult r = http_post_raw(s.url("/api/v1/devices/lamp-2/check-in"), "Bearer " + token2, "application/json",
                               checkin.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  checkin["tags"] = {{"Bad Key", "x"}};
  r = http_post_raw(s.url("/api/v1/devices/lamp-2/check-in"), "Bearer " + token2, "application/json", checkin.dump());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("invalid_tag"), std::string::npos) << r.body;

  CommandResult hw = otactl(dir_, g + "--json device list --filter 'tag.hw=B'");
  ASSERT_EQ(hw.exit_code, 0) << hw.err;
  auto listed = nlohmann::json::parse(hw.out)["devices"];
  ASSERT_EQ(listed.size(), 2u) << hw.out;
  EXPECT_EQ(listed[0]["device_id"], "lamp-1");
  EXPECT_EQ(listed[1]["device_id"], "lamp-2");
  // A query typed by hand (an unescaped "=" in the value) is
  // taken; a broken escape is a 400, never an internal error.
  HttpResult typed = http_get(s.url("/api/v1/devices?filter=tag.hw=B%20and%20product=lamp"), "Bearer " + token);
  ASSERT_EQ(typed.status, 200) << typed.body;
  EXPECT_EQ(nlohmann::json::parse(typed.body)["devices"].size(), 2u) << typed.body;
  HttpResult broken = http_get(s.url("/api/v1/devices?filter=%zz"), "Bearer " + token);
  EXPECT_EQ(broken.status, 400) << broken.body;
  EXPECT_NE(broken.body.find("bad_query"), std::string::npos) << broken.body;
  // A page, as the console's device table asks for it: sorted, searched,
  // with the total of every match.
  HttpResult paged = http_get(s.url("/api/v1/devices?sort=-device_id&offset=1&limit=1&q=LAMP"), "Bearer " + token);
  ASSERT_EQ(paged.status, 200) << paged.body;
  nlohmann::json pj = nlohmann::json::parse(paged.body);
  EXPECT_EQ(pj["total"], 3) << paged.body;
  EXPECT_EQ(pj["offset"], 1);
  EXPECT_EQ(pj["limit"], 1);
  ASSERT_EQ(pj["devices"].size(), 1u) << paged.body;
  EXPECT_EQ(pj["devices"][0]["device_id"], "lamp-2");
  for (const char* bad_query : {"limit=0", "limit=12abc", "offset=-1", "sort=colour", "limit=1001"}) {
    HttpResult refused = http_get(s.url(std::string("/api/v1/devices?") + bad_query), "Bearer " + token);
    EXPECT_EQ(refused.status, 400) << bad_query << ": " << refused.body;
    EXPECT_NE(refused.body.find("bad_query"), std::string::npos) << refused.body;
  }
  CommandResult bad = otactl(dir_, g + "device list --filter 'colour=red'");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("400 invalid_filter: filter: at character 1: unknown field 'colour'"), std::string::npos)
      << bad.err;

  EXPECT_EQ(otactl(dir_, g + "group create beta").exit_code, 0);
  EXPECT_EQ(otactl(dir_, g + "group add beta lamp-3 lamp-1").exit_code, 0);
  CommandResult dyn = otactl(dir_, g + "group create rev-b --filter 'product=lamp and tag.hw=B'");
  ASSERT_EQ(dyn.exit_code, 0) << dyn.err;
  auto beta = nlohmann::json::parse(otactl(dir_, g + "--json group show beta").out);
  EXPECT_EQ(beta["members"], nlohmann::json({"lamp-1", "lamp-3"}));
  EXPECT_EQ(beta["kind"], "static");
  auto revb = nlohmann::json::parse(otactl(dir_, g + "--json group show rev-b").out);
  EXPECT_EQ(revb["members"], nlohmann::json({"lamp-1", "lamp-2"}));
  CommandResult list = otactl(dir_, g + "group list");
  EXPECT_NE(list.out.find("rev-b  dynamic  2"), std::string::npos) << list.out;
  auto lamp1 = nlohmann::json::parse(otactl(dir_, g + "--json device show lamp-1").out);
  EXPECT_EQ(lamp1["groups"], nlohmann::json({"beta", "rev-b"}));
  EXPECT_EQ(lamp1["tags"], nlohmann::json({{"hw", "B"}, {"region", "eu"}}));
  // Mistakes, refused with the reason.
  CommandResult dup = otactl(dir_, g + "group create beta");
  EXPECT_NE(dup.err.find("409 group_exists"), std::string::npos) << dup.err;
  CommandResult dynamic_add = otactl(dir_, g + "group add rev-b lamp-3");
  EXPECT_NE(dynamic_add.err.find("409 group_is_dynamic"), std::string::npos) << dynamic_add.err;
  EXPECT_EQ(otactl(dir_, g + "group remove beta lamp-3").exit_code, 0);
  EXPECT_EQ(otactl(dir_, g + "device tag lamp-1 --remove hw").exit_code, 0);
  revb = nlohmann::json::parse(otactl(dir_, g + "--json group show rev-b").out);
  EXPECT_EQ(revb["members"], nlohmann::json({"lamp-2"}));
  EXPECT_EQ(otactl(dir_, g + "group delete rev-b").exit_code, 0);
  EXPECT_EQ(otactl(dir_, g + "group show rev-b").exit_code, 1);
  EXPECT_EQ(otactl(dir_, g + "device tag lamp-1").exit_code, 2);
  EXPECT_EQ(s.stop(), 0);
}

// The versioned path end to end: a device authenticated by its token checks
// in with its image digest and a fresh nonce, gets a signed manifest, and
// our device core verifies it, fetches the release in ranged pieces, opens
// the records and applies the patch (or writes the full image).
TEST_F(ServerApp, VersionedCheckInDeltaAndFullImage) {
  const std::string& admin = kAdminAuth;
  ServerProcess s(data_, free_loopback_port(), {kAdminEnv});
  ASSERT_TRUE(s.wait_ready()) << s.output();
  std::mt19937 rng(31);
  auto code = test::synthetic_image(rng, 300000);
  auto v100 = test::synthetic_esp32_app("1.0.0", "demo", code);
  auto v101 = test::synthetic_esp32_app("1.0.1", "demo", test::mutate_image(rng, code, 40));
  ASSERT_EQ(http_post_raw(s.url("/api/v1/firmware?product=demo"), admin, "application/octet-stream",
                          as_string(v100)).status, 201);
  ASSERT_EQ(http_post_raw(s.url("/api/v1/firmware?product=demo"), admin, "application/octet-stream",
                          as_string(v101)).status, 201);
  auto reg = nlohmann::json::parse(http_post_raw(s.url("/api/v1/devices"), admin, "application/json",
                                                 R"({"device_id":"lamp-7","product":"demo"})").body);
  const std::string device_auth = "Bearer " + reg["device_token"].get<std::string>();
  std::vector<uint8_t> device_key = unhex(reg["device_key"].get<std::string>());
  auto signer = server::SigningKey::from_public_pem(reg["server_pub_pem"].get<std::string>());

  auto check_in = [&](const std::vector<uint8_t>& running, const std::string& nonce_hex,
                      const std::string& auth) {
    nlohmann::json body = {{"version", "1.0.0"},
                           {"image_sha256", delta::to_hex(server::sha256(running))},
                           {"nonce", nonce_hex}};
    return http_post_raw(s.url("/api/v1/devices/lamp-7/check-in"), auth, "application/json", body.dump());
  };
  const std::string nonce_hex = "000102030405060708090a0b0c0d0e0f";
  HttpResult none = check_in(v100, nonce_hex, device_auth);
  ASSERT_EQ(none.status, 200) << none.body;
  EXPECT_EQ(nlohmann::json::parse(none.body),
            nlohmann::json({{"update", false}, {"image_known", true}, {"running_version", "1.0.0"}}));
  EXPECT_EQ(check_in(v100, nonce_hex, "Bearer wrong").status, 401);
  EXPECT_EQ(check_in(v100, nonce_hex, admin).status, 401) << "the admin token is not a device token";
  EXPECT_EQ(check_in(v100, "xyz", device_auth).status, 400);
  // The patch made ahead of time (the check-in would make it on demand).
  HttpResult ahead = http_post_raw(s.url("/api/v1/patches"), admin, "application/json",
                                   R"({"product":"demo","old_version":"1.0.0","new_version":"1.0.1"})");
  ASSERT_EQ(ahead.status, 200) << ahead.body;
  EXPECT_LE(nlohmann::json::parse(ahead.body)["device_ram"].get<int>(), 32 * 1024);
  nlohmann::json listed = nlohmann::json::parse(http_get(s.url("/api/v1/patches"), admin).body)["patches"];
  ASSERT_EQ(listed.size(), 1u);
  // What the delta saves against the full image; the firmware-aware form
  // is null until built.
  EXPECT_TRUE(listed[0]["firmware_aware_size"].is_null()) << listed.dump();
  EXPECT_EQ(listed[0]["full_size"], v101.size());
  EXPECT_EQ(listed[0]["saved_bytes"], v101.size() - listed[0]["size"].get<uint64_t>());
  HttpResult both = http_post_raw(s.url("/api/v1/patches"), admin, "application/json",
                                  R"({"product":"demo","old_version":"1.0.0","new_version":"1.0.1","firmware_aware":true})");
  ASSERT_EQ(both.status, 200) << both.body;
  nlohmann::json bj = nlohmann::json::parse(both.body);
  ASSERT_TRUE(bj["firmware_aware_size"].is_number_unsigned()) << both.body;
  const uint64_t smallest = std::min(bj["firmware_aware_size"].get<uint64_t>(), bj["size"].get<uint64_t>());
  EXPECT_EQ(bj["saved_bytes"], v101.size() - smallest) << both.body;
  nlohmann::json without_paths = bj;
  without_paths.erase("patch");
  without_paths.erase("signature");
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/api/v1/patches?product=demo"), admin).body)["patches"][0],
            without_paths);
  HttpResult typo = http_post_raw(s.url("/api/v1/patches"), admin, "application/json",
                                  R"({"product":"demo","old_version":"1.0.0","new_version":"1.0.1","firmware_aware":"yes"})");
  EXPECT_EQ(typo.status, 400) << typo.body;
  // The console's overview: lamp-7 checked in running 1.0.0, reported no status.
  HttpResult fleet = http_get(s.url("/api/v1/fleet"), admin);
  ASSERT_EQ(fleet.status, 200) << fleet.body;
  nlohmann::json fj = nlohmann::json::parse(fleet.body);
  EXPECT_EQ(fj["devices"], 1);
  EXPECT_EQ(fj["by_product"], nlohmann::json::parse(R"([{"product":"demo","devices":1}])")) << fleet.body;
  EXPECT_EQ(fj["by_version"], nlohmann::json::parse(R"([{"product":"demo","version":"1.0.0","devices":1}])"));
  EXPECT_EQ(fj["by_state"], nlohmann::json::parse(R"([{"product":"demo","state":"none","devices":1}])"));
  EXPECT_EQ(fj["not_seen"]["total"], 0);
  EXPECT_EQ(http_get(s.url("/api/v1/fleet?not_seen_after=soon"), admin).status, 400);
  EXPECT_EQ(http_get(s.url("/api/v1/fleet"), "Bearer wrong").status, 401);
  ASSERT_EQ(http_post_raw(s.url("/api/v1/updates"), admin, "application/json",
                          R"({"device_id":"lamp-7","version":"1.0.1"})").status, 201);

  // The device: its identity as the provisioning bundle and its state give it.
  CryptoPort port = server::openssl_crypto_port();
  DeviceIdentity id{};
  id.product = "demo";
  id.chip_id = 0;
  id.device_id = "lamp-7";
  id.keys[0].in_use = 1;
  auto pt = signer.public_point();
  auto kid = signer.key_id();
  std::copy(pt.begin(), pt.end(), id.keys[0].public_key);
  std::copy(kid.begin(), kid.end(), id.keys[0].key_id);
  for (int i = 0; i < 16; ++i) id.nonce[i] = static_cast<uint8_t>(i);
  id.ram_budget = 32 * 1024;
  id.record_budget = 4096 + 61;

  for (bool known_base : {true, false}) {
    SCOPED_TRACE(known_base ? "delta from the image the device runs" : "full image (unknown base)");
    std::vector<uint8_t> running = v100;
    if (!known_base) running[100] ^= 1;  // an image the server never saw
    auto running_sha = server::sha256(running);
    std::copy(running_sha.begin(), running_sha.end(), id.running_sha256);
    HttpResult r = check_in(running, nonce_hex, device_auth);
    ASSERT_EQ(r.status, 200) << r.body;
    auto answer = nlohmann::json::parse(r.body);
    ASSERT_TRUE(answer["update"].get<bool>());
    EXPECT_EQ(answer["delta"].get<bool>(), known_base);
    std::vector<uint8_t> manifest_bytes = unhex(answer["manifest"].get<std::string>());
    Manifest m;
    ASSERT_EQ(manifest_verify(&port, &id, manifest_bytes.data(), manifest_bytes.size(), &m), kStatusOk);
    EXPECT_EQ(m.payload_type, known_base ? kPayloadPatch : kPayloadFullImage);
    uint8_t key[32];
    ASSERT_EQ(manifest_record_key(&port, &m, device_key.data(), key), kStatusOk);

    // Download in three ranged pieces; they equal the whole; past the end is 416.
    std::string url = s.url(answer["download_url"].get<std::string>());
    size_t size = answer["size"].get<size_t>();
    HttpResult whole = http_get(url, device_auth);
    ASSERT_EQ(whole.status, 200);
    ASSERT_EQ(whole.body.size(), size);
    ASSERT_GT(size, 300u);
    const std::string a = std::to_string(size / 3), b = std::to_string(2 * size / 3);
    HttpResult middle = http_get(url, device_auth, "bytes=" + std::to_string(size / 3 + 1) + "-" + b);
    std::string pieces = http_get(url, device_auth, "bytes=0-" + a).body + middle.body +
                         http_get(url, device_auth, "bytes=" + std::to_string(2 * size / 3 + 1) + "-").body;
    EXPECT_TRUE(pieces == whole.body) << "ranged pieces differ from the whole download";
    EXPECT_EQ(middle.status, 206);
    EXPECT_TRUE(http_get(url, device_auth, "bytes=-100").body == whole.body.substr(size - 100));
    EXPECT_EQ(http_get(url, device_auth, "bytes=" + std::to_string(size) + "-").status, 416);
    EXPECT_EQ(http_get(url, "Bearer wrong").status, 401);

    // Open the records and apply (or write) the payload.
    std::vector<uint8_t> flash;
    struct Sink {
      bool patch;
      PatchDecoder decoder;
      PatchIo io;
      const std::vector<uint8_t>* old_image;
      std::vector<uint8_t>* flash;
    } sink{m.payload_type == kPayloadPatch, {}, {}, &running, &flash};
    sink.io.ctx = &sink;
    sink.io.read_old = [](void* c, uint32_t off, uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Sink*>(c);
      std::memcpy(buf, x->old_image->data() + off, len);
      return 0;
    };
    sink.io.write_new = [](void* c, const uint8_t* buf, uint32_t len) {
      auto* x = static_cast<Sink*>(c);
      x->flash->insert(x->flash->end(), buf, buf + len);
      return 0;
    };
    alignas(4) static uint8_t workspace[32 * 1024];
    patch_decoder_init(&sink.decoder, &sink.io, workspace, sizeof(workspace));
    patch_decoder_expect(&sink.decoder, m.from_sha256, m.to_sha256, m.to_size);
    RecordSink rs{&sink, [](void* c, const uint8_t* d, size_t n) {
                    auto* x = static_cast<Sink*>(c);
                    if (!x->patch) {
                      x->flash->insert(x->flash->end(), d, d + n);
                      return kStatusOk;
                    }
                    Status st = patch_decoder_feed(&x->decoder, d, n);
                    return status_is_error(st) ? st : kStatusOk;
                  }};
    std::vector<uint8_t> record_buf(record_buffer_size(&m));
    RecordDecoder rd;
    ASSERT_EQ(record_decoder_init(&rd, &port, &m, key, record_buf.data(), static_cast<uint32_t>(record_buf.size()), rs),
              kStatusOk);
    ASSERT_EQ(record_decoder_feed(&rd, reinterpret_cast<const uint8_t*>(pieces.data()), pieces.size()), kStatusDone);
    if (sink.patch) {
      EXPECT_EQ(patch_decoder_finish(&sink.decoder), kStatusDone);
    }
    EXPECT_TRUE(flash == v101) << "the device did not end up with 1.0.1";
  }
  // Once the device runs the target, there is nothing to do.
  EXPECT_EQ(nlohmann::json::parse(check_in(v101, nonce_hex, device_auth).body),
            nlohmann::json({{"update", false}, {"image_known", true}, {"running_version", "1.0.1"}}));

  // Status reports become history; "confirmed" completes the assignment and
  // raises the device's security counter.
  for (const char* state : {"downloading", "applying", "rebooting", "confirmed"}) {
    nlohmann::json report = {{"state", state}, {"version", "1.0.1"}};
    EXPECT_EQ(http_post_raw(s.url("/api/v1/devices/lamp-7/status"), device_auth, "application/json", report.dump()).status,
              200) << state;
  }
  EXPECT_EQ(http_post_raw(s.url("/api/v1/devices/lamp-7/status"), device_auth, "application/json",
                          R"({"state":"exploded"})").status, 400);
  EXPECT_EQ(http_post_raw(s.url("/api/v1/devices/lamp-7/status"), "Bearer wrong", "application/json",
                          R"({"state":"failed"})").status, 401);
  auto history = nlohmann::json::parse(http_get(s.url("/api/v1/devices/lamp-7/status"), admin).body)["history"];
  ASSERT_EQ(history.size(), 4u);
  EXPECT_EQ(history[0]["state"], "downloading");
  EXPECT_EQ(history[3]["state"], "confirmed");
  auto shown = nlohmann::json::parse(http_get(s.url("/api/v1/devices/lamp-7"), admin).body);
  EXPECT_EQ(shown["security_counter"], 2);
  EXPECT_EQ(shown["last_state"], "confirmed");
  // The latest report's state is a filter field; a device without reports is "none".
  http_post_raw(s.url("/api/v1/devices"), admin, "application/json", R"({"device_id":"lamp-9","product":"demo"})");
  auto ids = [&](const std::string& query) {
    HttpResult r = http_get(s.url("/api/v1/devices?" + query), admin);
    EXPECT_EQ(r.status, 200) << query << ": " << r.body;
    const nlohmann::json page = nlohmann::json::parse(r.body);
    std::vector<std::string> out;
    for (const auto& d : page["devices"]) out.push_back(d["device_id"]);
    return out;
  };
  EXPECT_EQ(ids("filter=state%3Dconfirmed"), std::vector<std::string>{"lamp-7"});
  EXPECT_EQ(ids("filter=state%3Dnone"), std::vector<std::string>{"lamp-9"});
  EXPECT_EQ(nlohmann::json::parse(http_get(s.url("/api/v1/devices/lamp-9"), admin).body)["last_state"], nullptr);
  EXPECT_EQ(http_get(s.url("/api/v1/devices?filter=state%3Ddone"), admin).status, 400);
  EXPECT_EQ(nlohmann::json::parse(check_in(v100, nonce_hex, device_auth).body)["update"], false)
      << "the confirmed assignment is complete";
  // A group: every device of the product.
  http_post_raw(s.url("/api/v1/devices"), admin, "application/json", R"({"device_id":"lamp-8","product":"demo"})");
  HttpResult group = http_post_raw(s.url("/api/v1/updates"), admin, "application/json",
                                   R"({"product":"demo","version":"1.0.1"})");
  EXPECT_EQ(group.status, 201) << group.body;
  EXPECT_EQ(nlohmann::json::parse(group.body)["devices"], 3);
  EXPECT_EQ(http_post_raw(s.url("/api/v1/updates"), admin, "application/json",
                          R"({"product":"other","version":"1.0.1"})").status, 404) << "no such product";
  EXPECT_EQ(s.stop(), 0);
}

}  // namespace
}  // namespace ota
