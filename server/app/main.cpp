// ota-server: the OTA server on its embedded defaults (SQLite + local files
// under --data, keys made on first start).
//
//   ota-server [--config FILE] [--data DIR] [--listen HOST:PORT] [--db URL]
//              [--db-pool N] [--db-statement-timeout MS] [--threads N]
//              [--tls-cert PEM --tls-key PEM] [--rollout-tick MS] [--rollout-scan S]
//              [--metrics-listen HOST:PORT] [--secure-cookies]
//              [--build-threads N] [--build-nice N]
//
// Sources, strongest first: flags, environment (OTA_DATA, OTA_LISTEN,
// OTA_DB, OTA_DB_POOL, OTA_DB_STATEMENT_TIMEOUT_MS, OTA_THREADS,
// OTA_ROLLOUT_TICK_MS, OTA_ROLLOUT_SCAN_S, OTA_METRICS_LISTEN,
// OTA_SECURE_COOKIES, OTA_BUILD_THREADS, OTA_BUILD_NICE, OTA_ADMIN_TOKEN),
// the config file (`key = value`
// lines: data, listen, db, db_pool, db_statement_timeout_ms, threads,
// tls_cert, tls_key, rollout_tick_ms, rollout_scan_s, metrics_listen,
// secure_cookies, build_threads, build_nice; `#` comments), defaults. The pool and the timeout are
// PostgreSQL's: with SQLite either one is refused at start.
// Stops gracefully on SIGINT or SIGTERM. Exit status: 0 after a clean stop,
// 1 when it cannot start, 2 on a usage error.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include "ota/server/admin_auth.h"
#include "ota/server/artifacts.h"
#include "ota/server/firmware_service.h"
#include "ota/server/http.h"
#include "ota/server/routes.h"
#include "ota/server/server_keys.h"
#include "ota/server/store.h"
#include "rollout_timer.h"

namespace {

namespace fs = std::filesystem;
using namespace ota::server;

size_t default_build_threads() {
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 1 ? cores - 1 : 1;
}

struct Options {
  fs::path data = "var";
  std::string listen = "127.0.0.1:8000";
  std::string db;  // default: sqlite3://DATA/ota.db
  Store::Options db_options;  // PostgreSQL's pool size and statement timeout
  size_t threads = 2;
  std::optional<std::string> tls_cert, tls_key;
  int64_t rollout_tick_ms = 2000;  // the rollout engine's timer
  int64_t rollout_scan_s = 30;     // how often a rollout looks for late joiners
  std::optional<std::string> metrics_listen;  // plain HTTP, GET /metrics without a token
  bool secure_cookies = false;  // Secure session cookies without TLS here (a TLS proxy in front)
  // Release builds: their own pool, by default every core but one (the
  // request threads keep at least that one), at a lower priority.
  size_t build_threads = default_build_threads();
  int64_t build_nice = 10;
};

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

int64_t parse_positive(const std::string& v, const char* what, int64_t max) {
  try {
    size_t used = 0;
    long long n = std::stoll(v, &used);
    if (used == v.size() && n >= 1 && n <= max) return n;
  } catch (const std::exception&) {
  }
  throw UsageError(std::string(what) + " must be 1.." + std::to_string(max) + ", got '" + v + "'");
}

// 0..max (0 has a meaning, e.g. no statement timeout).
int64_t parse_count(const std::string& v, const char* what, int64_t max) {
  if (v == "0") return 0;
  try {
    return parse_positive(v, what, max);
  } catch (const UsageError&) {
  }
  throw UsageError(std::string(what) + " must be 0.." + std::to_string(max) + ", got '" + v + "'");
}

bool parse_bool(const std::string& v, const char* what) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  throw UsageError(std::string(what) + " must be true or false, got '" + v + "'");
}

size_t parse_threads(const std::string& v) {
  try {
    size_t used = 0;
    unsigned long n = std::stoul(v, &used);
    if (used == v.size() && n >= 1 && n <= 64) return n;
  } catch (const std::exception&) {
  }
  throw UsageError("threads must be 1..64, got '" + v + "'");
}

// Applies `key = value` lines of a config file to o.
void apply_config_file(const fs::path& path, Options& o) {
  std::ifstream f(path);
  if (!f) throw UsageError("cannot read config file " + path.string());
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    auto trim = [](std::string s) {
      size_t b = s.find_first_not_of(" \t\r"), e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos)
      throw UsageError(path.string() + ":" + std::to_string(n) + ": expected key = value");
    std::string key = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
    if (key == "data") o.data = value;
    else if (key == "listen") o.listen = value;
    else if (key == "db") o.db = value;
    else if (key == "db_pool") o.db_options.pool_size = parse_positive(value, "db_pool", 256);
    else if (key == "db_statement_timeout_ms")
      o.db_options.statement_timeout_ms = parse_count(value, "db_statement_timeout_ms", 86400000);
    else if (key == "threads") o.threads = parse_threads(value);
    else if (key == "tls_cert") o.tls_cert = value;
    else if (key == "tls_key") o.tls_key = value;
    else if (key == "rollout_tick_ms") o.rollout_tick_ms = parse_positive(value, "rollout_tick_ms", 3600000);
    else if (key == "rollout_scan_s") o.rollout_scan_s = parse_positive(value, "rollout_scan_s", 86400);
    else if (key == "metrics_listen") o.metrics_listen = value;
    else if (key == "secure_cookies") o.secure_cookies = parse_bool(value, "secure_cookies");
    else if (key == "build_threads") o.build_threads = parse_positive(value, "build_threads", 64);
    else if (key == "build_nice") o.build_nice = parse_count(value, "build_nice", 19);
    else throw UsageError(path.string() + ":" + std::to_string(n) + ": unknown key '" + key + "'");
  }
}

Options parse(int argc, char** argv) {
  Options o;
  // The config file is applied first, whatever its position among the flags.
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--config") apply_config_file(argv[i + 1], o);
  o.data = env_or("OTA_DATA", o.data.string());
  o.listen = env_or("OTA_LISTEN", o.listen);
  o.db = env_or("OTA_DB", o.db);
  if (const char* t = std::getenv("OTA_DB_POOL"); t && *t) o.db_options.pool_size = parse_positive(t, "OTA_DB_POOL", 256);
  if (const char* t = std::getenv("OTA_DB_STATEMENT_TIMEOUT_MS"); t && *t)
    o.db_options.statement_timeout_ms = parse_count(t, "OTA_DB_STATEMENT_TIMEOUT_MS", 86400000);
  if (const char* t = std::getenv("OTA_THREADS"); t && *t) o.threads = parse_threads(t);
  if (const char* t = std::getenv("OTA_ROLLOUT_TICK_MS"); t && *t)
    o.rollout_tick_ms = parse_positive(t, "OTA_ROLLOUT_TICK_MS", 3600000);
  if (const char* t = std::getenv("OTA_ROLLOUT_SCAN_S"); t && *t)
    o.rollout_scan_s = parse_positive(t, "OTA_ROLLOUT_SCAN_S", 86400);
  if (const char* t = std::getenv("OTA_METRICS_LISTEN"); t && *t) o.metrics_listen = t;
  if (const char* t = std::getenv("OTA_SECURE_COOKIES"); t && *t) o.secure_cookies = parse_bool(t, "OTA_SECURE_COOKIES");
  if (const char* t = std::getenv("OTA_BUILD_THREADS"); t && *t) o.build_threads = parse_positive(t, "OTA_BUILD_THREADS", 64);
  if (const char* t = std::getenv("OTA_BUILD_NICE"); t && *t) o.build_nice = parse_count(t, "OTA_BUILD_NICE", 19);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw UsageError(a + " needs a value");
      return argv[++i];
    };
    if (a == "--config") value();  // applied above
    else if (a == "--data") o.data = value();
    else if (a == "--listen") o.listen = value();
    else if (a == "--db") o.db = value();
    else if (a == "--db-pool") o.db_options.pool_size = parse_positive(value(), "--db-pool", 256);
    else if (a == "--db-statement-timeout")
      o.db_options.statement_timeout_ms = parse_count(value(), "--db-statement-timeout", 86400000);
    else if (a == "--threads") o.threads = parse_threads(value());
    else if (a == "--tls-cert") o.tls_cert = value();
    else if (a == "--tls-key") o.tls_key = value();
    else if (a == "--rollout-tick") o.rollout_tick_ms = parse_positive(value(), "--rollout-tick", 3600000);
    else if (a == "--rollout-scan") o.rollout_scan_s = parse_positive(value(), "--rollout-scan", 86400);
    else if (a == "--metrics-listen") o.metrics_listen = value();
    else if (a == "--secure-cookies") o.secure_cookies = true;
    else if (a == "--build-threads") o.build_threads = parse_positive(value(), "--build-threads", 64);
    else if (a == "--build-nice") o.build_nice = parse_count(value(), "--build-nice", 19);
    else if (a == "-h" || a == "--help") throw UsageError("help");
    else throw UsageError("unknown option " + a);
  }
  if (o.db.empty()) o.db = "sqlite3://" + (o.data / "ota.db").string();
  if (o.tls_cert.has_value() != o.tls_key.has_value())
    throw UsageError("--tls-cert and --tls-key go together");
  return o;
}

// HOST:PORT (or [v6]:PORT) into an HttpConfig; `flag` names the option.
HttpConfig listen_config(const std::string& listen, const char* flag) {
  HttpConfig c;
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) throw UsageError(std::string(flag) + " expects HOST:PORT");
  c.address = listen.substr(0, colon);
  if (c.address.size() > 2 && c.address.front() == '[' && c.address.back() == ']')
    c.address = c.address.substr(1, c.address.size() - 2);  // [::1]:8000
  unsigned long port = 0;
  try {
    port = std::stoul(listen.substr(colon + 1));
  } catch (const std::exception&) {
    throw UsageError(std::string(flag) + ": bad port in " + listen);
  }
  if (port == 0 || port > 65535) throw UsageError(std::string(flag) + ": port must be 1..65535");
  c.port = static_cast<uint16_t>(port);
  return c;
}

HttpConfig http_config(const Options& o) {
  HttpConfig c = listen_config(o.listen, "--listen");
  c.threads = o.threads;
  c.tls_cert = o.tls_cert;
  c.tls_key = o.tls_key;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  HttpConfig http;
  std::optional<HttpConfig> metrics_http;
  try {
    opt = parse(argc, argv);
    http = http_config(opt);
    if (opt.metrics_listen) {
      metrics_http = listen_config(*opt.metrics_listen, "--metrics-listen");
      metrics_http->threads = 1;
      if (metrics_http->address == http.address && metrics_http->port == http.port)
        throw UsageError("--metrics-listen must differ from --listen");
    }
  } catch (const UsageError& e) {
    if (std::string(e.what()) != "help") std::fprintf(stderr, "ota-server: %s\n", e.what());
    std::fprintf(stderr,
                 "usage: ota-server [--config FILE] [--data DIR] [--listen HOST:PORT] [--db URL] "
                 "[--db-pool N] [--db-statement-timeout MS] "
                 "[--threads N] [--tls-cert PEM --tls-key PEM] [--rollout-tick MS] [--rollout-scan S] "
                 "[--metrics-listen HOST:PORT] [--secure-cookies] [--build-threads N] [--build-nice N]\n"
                 "environment: OTA_DATA, OTA_LISTEN, OTA_DB, OTA_DB_POOL, OTA_DB_STATEMENT_TIMEOUT_MS, OTA_THREADS, "
                 "OTA_ROLLOUT_TICK_MS, OTA_ROLLOUT_SCAN_S, OTA_METRICS_LISTEN, OTA_SECURE_COOKIES, OTA_BUILD_THREADS, "
                 "OTA_BUILD_NICE, OTA_ADMIN_TOKEN\n");
    return 2;
  }

  // SIGINT/SIGTERM are taken by sigwait below, never by the I/O threads.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  try {
    // The data folder holds keys and the database: owner only.
    if (fs::create_directories(opt.data)) fs::permissions(opt.data, fs::perms::owner_all);
    ServerKeys keys = load_or_create_server_keys(opt.data / "keys");
    const char* env_token = std::getenv("OTA_ADMIN_TOKEN");
    AdminTokenSetup token = setup_admin_token(
        opt.data, env_token ? std::optional<std::string>(env_token) : std::nullopt);
    std::unique_ptr<Store> store = Store::open(opt.db, opt.db_options);
    ArtifactStore artifacts(opt.data / "storage");
    AdminAuth admin(token.hash);
    FirmwareService firmware(*store, artifacts);
    DeviceService devices(*store, keys.master);
    Metrics metrics;
    MetricsService metrics_service(*store, metrics);
    PatchService patches(*store, artifacts, firmware, keys.signing);
    patches.set_metrics(&metrics);
    RolloutService::Options rollout_options;
    rollout_options.scan_interval = opt.rollout_scan_s;
    RolloutService rollouts(*store, {}, rollout_options);
    UpdateService updates(*store, {}, &rollouts);
    GroupService groups(*store);
    BuildQueue::Options build_options;
    build_options.threads = opt.build_threads;
    build_options.nice = static_cast<int>(opt.build_nice);
    BuildQueue builds(build_options);
    metrics_service.set_build_queue(&builds);
    CheckInService checkin(*store, artifacts, firmware, patches, devices, updates, keys.signing, keys.master, {},
                           &rollouts, &builds);
    // Images a version-1 database kept in the original layout for another
    // product go to that product's folder before anything is served.
    if (size_t moved = firmware.relocate_v1_files())
      std::printf("moved %zu firmware image(s) of version-1 products to storage/products/\n", moved);
    SessionService sessions(*store);
    ServerContext ctx{*store,  artifacts,       admin,    firmware,  devices,
                      patches, updates,         checkin,  groups,    rollouts,
                      builds,  metrics,         metrics_service,     sessions,
                      keys.signing.public_pem(), opt.tls_cert.has_value() || opt.secure_cookies};
    // The build threads use the services above: stopped before they go.
    struct StopBuilds {
      BuildQueue& q;
      ~StopBuilds() { q.stop(); }
    } stop_builds{builds};
    RunningServer server = start_http(http, make_router(ctx));
    std::optional<RunningServer> metrics_server;
    if (metrics_http) metrics_server = start_http(*metrics_http, make_metrics_router(ctx));
    RolloutTimer rollout_timer(rollouts, std::chrono::milliseconds(opt.rollout_tick_ms));

    std::string url = (opt.tls_cert ? "https://" : "http://") + opt.listen;
    bool postgres = opt.db.rfind("postgresql://", 0) == 0 || opt.db.rfind("postgres://", 0) == 0;
    std::string database =
        "SQLite, pool " + std::to_string(opt.db_options.pool_size.value_or(Store::kDefaultSqlitePool));
    if (postgres) {
      const int64_t timeout = opt.db_options.statement_timeout_ms.value_or(Store::kDefaultStatementTimeoutMs);
      database = "PostgreSQL, pool " + std::to_string(opt.db_options.pool_size.value_or(Store::kDefaultPostgresPool)) +
                 ", statement timeout " + (timeout == 0 ? std::string("none") : std::to_string(timeout) + " ms");
    }
    std::printf("ota-server listening on %s (data %s, database %s)\n", url.c_str(),
                fs::absolute(opt.data).lexically_normal().c_str(), database.c_str());
    std::printf("request threads %zu, build threads %zu (nice +%lld)\n", opt.threads, builds.threads(),
                static_cast<long long>(opt.build_nice));
    std::printf("console: %s/\n", url.c_str());
    if (opt.metrics_listen)
      std::printf("metrics (no token) on http://%s/metrics\n", opt.metrics_listen->c_str());
    if (keys.created)
      std::printf("made the signing key and master key in %s (keep them; mode 0600)\n",
                  (opt.data / "keys").c_str());
    if (token.new_token) {
      std::printf("\nadmin token (shown once, stored only as a hash):\n  %s\n", token.new_token->c_str());
      std::printf("\nnext:\n  export OTA_ADMIN_TOKEN=%s\n", token.new_token->c_str());
      std::printf("  curl -H \"Authorization: Bearer $OTA_ADMIN_TOKEN\" %s/api/v1/firmware\n", url.c_str());
    }
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    std::printf("ota-server: %s received, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    std::fflush(stdout);
    server.stop();
    if (metrics_server) metrics_server->stop();
    server.wait();
    if (metrics_server) metrics_server->wait();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ota-server: cannot start: %s\n", e.what());
    return 1;
  }
}
