// Store URLs, SOCI sessions and their per-connection settings, the error
// wrapper and the fault-injection seam.
#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <system_error>
#include <thread>

#include "store_internal.h"

namespace ota::server::store_detail {

namespace {

namespace fs = std::filesystem;

constexpr int kBusyTimeoutMs = 5000;

bool starts_with(const std::string& s, const char* prefix) {
  return s.rfind(prefix, 0) == 0;
}

// A libpq conninfo (keyword string or URI) rewritten as a keyword string
// with every value quoted: SOCI's PostgreSQL backend rewrites the string it
// is given and understands only the keyword form. nullopt if libpq rejects it.
// `extra_options`, when not empty, is added to the "options" keyword (the
// server settings of each connection, "-c name=value ...").
std::optional<std::string> normalize_conninfo(const std::string& conninfo, std::string* why,
                                              const std::string& extra_options = "") {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  if (opts == nullptr) {
    if (why != nullptr) *why = err != nullptr ? err : "out of memory";
    if (err != nullptr) PQfreemem(err);
    return std::nullopt;
  }
  std::string out;
  auto add = [&](const char* keyword, const std::string& value) {
    if (!out.empty()) out += ' ';
    out += keyword;
    out += "='";
    for (char c : value) {
      if (c == '\'' || c == '\\') out += '\\';
      out += c;
    }
    out += '\'';
  };
  bool had_options = false;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    std::string value = o->val;
    if (std::string(o->keyword) == "options" && !extra_options.empty()) {
      value += (value.empty() ? "" : " ") + extra_options;
      had_options = true;
    }
    add(o->keyword, value);
  }
  if (!had_options && !extra_options.empty()) add("options", extra_options);
  PQconninfoFree(opts);
  return out;
}

std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::atomic<FaultHook> g_fault_hook{nullptr};

}  // namespace

Target parse_url(const std::string& url) {
  if (url.empty()) throw StoreError("store: empty database URL");
  Target t;
  if (starts_with(url, "postgresql://") || starts_with(url, "postgres://")) {
    t.backend = Backend::postgresql;
    std::string rest = url.substr(url.find("://") + 3);
    // SOCI's form first ("postgresql://dbname=ota host=db"), else a libpq URI.
    if (auto kw = normalize_conninfo(rest, nullptr)) {
      t.location = *kw;
      return t;
    }
    std::string why;
    auto uri = normalize_conninfo(url, &why);
    // libpq's message names the bad part, never the password.
    if (!uri) throw StoreError("store: invalid PostgreSQL URL: " + trim_newlines(why));
    t.location = *uri;
    return t;
  }
  std::string path = url;
  if (starts_with(url, "sqlite3://")) {
    path = url.substr(std::string("sqlite3://").size());
  } else if (url.find("://") != std::string::npos) {
    throw StoreError("store: unsupported database URL scheme (use sqlite3:// or postgresql://)");
  }
  if (path.empty()) throw StoreError("store: the SQLite URL names no file");
  // SOCI's SQLite connect string quotes the file name with '"' and has no escape.
  if (path.find('"') != std::string::npos || path.find('\0') != std::string::npos)
    throw StoreError("store: SQLite file names may not contain '\"'");
  t.backend = Backend::sqlite;
  t.location = path;
  return t;
}

std::string with_postgres_options(const std::string& keyword_conninfo, const std::string& options) {
  std::string why;
  auto out = normalize_conninfo(keyword_conninfo, &why, options);
  if (!out) throw StoreError("store: invalid PostgreSQL URL: " + trim_newlines(why));
  return *out;
}

namespace {

// sqlite3_busy_handler callback: `tries` is 0 on the first call for a lock.
// Returns 0 (give up: SQLITE_BUSY) once kBusyTimeoutMs have passed.
int wait_for_lock(void*, int tries) {
  using clock = std::chrono::steady_clock;
  thread_local clock::time_point first;
  const clock::time_point now = clock::now();
  if (tries == 0) first = now;
  if (now - first >= std::chrono::milliseconds(kBusyTimeoutMs)) return 0;
  const int shift = std::min(tries, 6);  // 20 us .. 1.28 ms, then at most 1 ms
  std::this_thread::sleep_for(std::min<std::chrono::microseconds>(std::chrono::microseconds(20 << shift),
                                                                  std::chrono::milliseconds(1)));
  return 1;
}

void configure_sqlite(soci::session& sql) {
  // Per connection, outside any transaction: foreign keys are off by default.
  sql << "PRAGMA foreign_keys = ON";
  int fk = 0;
  sql << "PRAGMA foreign_keys", soci::into(fk);
  if (fk != 1) throw StoreError("store: this SQLite library cannot enforce foreign keys");
  // Waiting for another connection's write lock: SQLite's own busy timeout
  // sleeps 1, 2, 5, 10 ms and more between tries, long beside a lock held
  // for tens of microseconds by the pool's other connections (and by other
  // servers on the file); this handler tries again after 20 us, doubling to
  // 1 ms, for at most kBusyTimeoutMs.
  auto* backend = static_cast<soci::sqlite3_session_backend*>(sql.get_backend());
  if (sqlite3_busy_handler(backend->conn_, &wait_for_lock, nullptr) != SQLITE_OK)
    throw StoreError("store: cannot set the SQLite busy handler");
  // WAL: readers never block the writer. An in-memory database answers
  // "memory", which is fine; a file system without shared memory keeps its
  // old mode, and SQLite still works (slower), so neither is fatal.
  std::string mode;
  sql << "PRAGMA journal_mode = WAL", soci::into(mode);
}

}  // namespace

void open_session(soci::session& sql, const Target& target) {
  if (target.backend == Backend::postgresql) {
    guarded("connect to PostgreSQL",
            [&] { sql.open(*soci::factory_postgresql(), target.location); });
    return;
  }
  if (target.location != ":memory:") {
    fs::path parent = fs::path(target.location).parent_path();
    std::error_code ec;
    if (!parent.empty()) fs::create_directories(parent, ec);
    if (ec)
      throw StoreError("store: cannot create the database directory " + parent.string() + ": " +
                       ec.message());
  }
  guarded("open SQLite database", [&] {
    sql.open(*soci::factory_sqlite3(), "db=\"" + target.location + "\"");
    configure_sqlite(sql);
  });
}

std::unique_ptr<soci::session> connect(const Target& target) {
  auto sql = std::make_unique<soci::session>();
  open_session(*sql, target);
  return sql;
}

WriteTransaction::WriteTransaction(soci::session& sql) : sql_(sql) {
  if (sql_.get_backend_name() == "sqlite3")
    sql_ << "BEGIN IMMEDIATE";
  else
    sql_.begin();
}

WriteTransaction::~WriteTransaction() {
  if (!open_) return;
  try {
    sql_.rollback();
  } catch (...) {
    // The connection is gone; the server discards the transaction.
  }
}

void WriteTransaction::commit() {
  sql_.commit();
  open_ = false;
}

void rethrow_soci(const char* op, const soci::soci_error& e) {
  // get_error_message() leaves out SOCI's context (the SQL and the bound
  // values). PostgreSQL adds lines that quote the statement (LINE n: and a
  // caret) or key values (DETAIL:): keep only the error lines themselves.
  std::istringstream in(e.get_error_message());
  std::string line, reason;
  bool skip_caret = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (skip_caret) {
      skip_caret = false;
      if (line.find_first_not_of(" \t^") == std::string::npos) continue;
    }
    if (starts_with(line, "LINE ")) {
      skip_caret = true;
      continue;
    }
    if (starts_with(line, "DETAIL:") || starts_with(line, "HINT:") ||
        starts_with(line, "CONTEXT:") || starts_with(line, "QUERY:") ||
        line.find_first_not_of(" \t") == std::string::npos)
      continue;
    size_t begin = line.find_first_not_of(" \t");
    if (!reason.empty()) reason += ' ';
    reason += line.substr(begin);
  }
  if (reason.empty()) reason = "database error";
  throw StoreError(std::string("store: ") + op + ": " + reason);
}

void set_fault_hook(FaultHook hook) { g_fault_hook.store(hook); }

void fault_point(const char* point) {
  if (FaultHook hook = g_fault_hook.load()) hook(point);
}

}  // namespace ota::server::store_detail
