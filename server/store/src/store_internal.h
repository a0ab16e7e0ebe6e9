// Private to ota_store (and its tests): how a URL becomes a SOCI session,
// the schema migrations, the error wrapper, and a fault-injection seam.
#ifndef OTA_SERVER_STORE_INTERNAL_H
#define OTA_SERVER_STORE_INTERNAL_H

#include <soci/soci.h>

#include <memory>
#include <string>

#include "ota/server/store.h"

namespace ota::server::store_detail {

enum class Backend { sqlite, postgresql };

// What a Store URL names.
struct Target {
  Backend backend = Backend::sqlite;
  // SQLite: the database file path (or ":memory:"). PostgreSQL: a libpq
  // keyword string with every value quoted ("user='ota' dbname='ota'").
  std::string location;
};

// Accepts "sqlite3://PATH", a plain PATH, "postgresql://..." and
// "postgres://...". After the scheme, PostgreSQL takes either a SOCI-style
// keyword string ("postgresql://dbname=ota host=db") or a libpq URI
// ("postgresql://user:pw@db:5432/ota"). Throws StoreError on anything else.
Target parse_url(const std::string& url);

// Opens `sql`, a closed session (e.g. one of a connection_pool), on
// `target` and configures it. SQLite: creates the file's parent directory,
// then foreign_keys=ON, journal_mode=WAL, busy_timeout=5000 ms.
// Throws StoreError.
void open_session(soci::session& sql, const Target& target);
// A PostgreSQL keyword conninfo with server settings ("-c name=value")
// added to its "options", so that every connection, and a reconnection,
// starts with them.
std::string with_postgres_options(const std::string& keyword_conninfo, const std::string& options);
// The same, as a new session.
std::unique_ptr<soci::session> connect(const Target& target);

// The newest schema version this code knows.
int latest_schema_version();
// Brings the schema up to latest_schema_version() in one transaction,
// serialised against other processes doing the same. Throws StoreError
// ("database schema version N is newer than this server (M)") when the
// database is ahead of the code, and on any failure (nothing is applied then).
void migrate(soci::session& sql);
// MAX(version) in schema_migrations; 0 for an empty database.
int current_schema_version(soci::session& sql);

// A write transaction; rolls back unless commit() is called. On SQLite it
// is BEGIN IMMEDIATE: the write lock is taken (waiting up to the busy
// timeout) before the first read, so a read-then-write transaction cannot
// fail with SQLITE_BUSY when another connection wrote in between, as a
// deferred BEGIN can in WAL mode. On PostgreSQL it is a plain BEGIN.
class WriteTransaction {
 public:
  explicit WriteTransaction(soci::session& sql);
  ~WriteTransaction();
  WriteTransaction(const WriteTransaction&) = delete;
  WriteTransaction& operator=(const WriteTransaction&) = delete;
  void commit();

 private:
  soci::session& sql_;
  bool open_ = true;
};

// Throws StoreError("store: <op>: <reason>"), the reason being the
// backend's error lines without SOCI's context (the SQL and bound values)
// and without PostgreSQL's LINE/DETAIL/HINT lines (statement text, key values).
[[noreturn]] void rethrow_soci(const char* op, const soci::soci_error& e);

// Runs f(), turning soci::soci_error into StoreError; others pass through.
template <class F>
auto guarded(const char* op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const soci::soci_error& e) {
    rethrow_soci(op, e);
  }
}

// Test seam: when set, called inside the transaction of every multi-statement
// write between its statements, with a name such as "add_status:sequenced"
// or "migrate:1:3" (version 1, after its third statement). A hook that throws
// aborts the operation (the transaction rolls back); one that calls _exit()
// simulates a crash. Not for production use. nullptr removes it.
using FaultHook = void (*)(const char* point);
void set_fault_hook(FaultHook hook);
void fault_point(const char* point);

}  // namespace ota::server::store_detail

#endif  // OTA_SERVER_STORE_INTERNAL_H
