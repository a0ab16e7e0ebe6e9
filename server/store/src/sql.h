// Private to ota_store: the SOCI helpers every part of the store uses
// (value conversions, a statement builder, counters, row selection, and
// statements prepared once per connection).
#ifndef OTA_SERVER_STORE_SQL_H
#define OTA_SERVER_STORE_SQL_H

#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "store_internal.h"

namespace ota::server::store_detail {

// --- conversions between the record types and the column types ---

inline long long to_db(uint64_t v, const char* what) {
  if (v > static_cast<uint64_t>(std::numeric_limits<long long>::max()))
    throw StoreError(std::string("store: ") + what + " is too large to store");
  return static_cast<long long>(v);
}

template <class T>
T from_db(long long v, const char* what) {
  if (v < 0 || static_cast<unsigned long long>(v) > std::numeric_limits<T>::max())
    throw StoreError(std::string("store: corrupt database: ") + what + " out of range");
  return static_cast<T>(v);
}

// True for a unique, foreign-key or NOT NULL violation.
inline bool is_constraint_violation(const soci::soci_error& e) {
  if (auto* pg = dynamic_cast<const soci::postgresql_soci_error*>(&e))
    return pg->sqlstate().rfind("23", 0) == 0;  // class 23: integrity constraint violation
  if (auto* lite = dynamic_cast<const soci::sqlite3_soci_error*>(&e))
    return (lite->result() & 0xff) == SQLITE_CONSTRAINT;
  return false;
}

// A statement built from bound variables (which must outlive it), then run.
class Query {
 public:
  explicit Query(soci::session& sql) : st_(sql) {}

  template <class T>
  Query& into(T& v) {
    st_.exchange(soci::into(v));
    return *this;
  }
  template <class T>
  Query& into(T& v, soci::indicator& ind) {
    st_.exchange(soci::into(v, ind));
    return *this;
  }
  template <class T>
  Query& use(const T& v, const char* name) {
    st_.exchange(soci::use(v, name));
    return *this;
  }
  template <class T>
  Query& use(const T& v, soci::indicator& ind, const char* name) {
    st_.exchange(soci::use(v, ind, name));
    return *this;
  }

  // Prepares and executes `text`; true if it produced a first row.
  bool run(const std::string& text) {
    prepare(text);
    return execute();
  }
  // Prepares `text` with the variables bound so far, for execute().
  void prepare(const std::string& text) {
    st_.alloc();
    st_.prepare(text);
    st_.define_and_bind();
  }
  // Runs the prepared statement with the bound variables' current values;
  // true if it produced a first row. May be repeated.
  bool execute() { return st_.execute(true); }
  bool next() { return st_.fetch(); }
  long long affected_rows() { return st_.get_affected_rows(); }
  soci::statement& statement() { return st_; }

 private:
  soci::statement st_;
};

inline long long count(soci::session& sql, const char* text, const std::string& a) {
  long long n = 0;
  Query(sql).into(n).use(a, "a").run(text);
  return n;
}

inline long long count(soci::session& sql, const char* text, const std::string& a,
                       const std::string& b) {
  long long n = 0;
  Query(sql).into(n).use(a, "a").use(b, "b").run(text);
  return n;
}

// The next value of a named counter. Its UPDATE locks the counter row (and
// in SQLite takes the write lock) until the transaction ends, so concurrent
// writers, in this process or another server, get distinct increasing values.
// REQUIRES: inside a transaction.
inline long long next_seq(soci::session& sql, const std::string& name) {
  Query(sql).use(name, "n").run("UPDATE counters SET value = value + 1 WHERE name = :n");
  long long v = 0;
  Query(sql).into(v).use(name, "n").run("SELECT value FROM counters WHERE name = :n");
  return v;
}

// All rows of `text` (a Row::kSelect plus a constant tail); `uses` binds
// the parameters.
template <class Row, class Uses>
auto select_all(soci::session& sql, const std::string& text, Uses uses) {
  std::vector<decltype(Row().record())> out;
  Row row;
  Query q(sql);
  row.bind(q);
  uses(q);
  for (bool more = q.run(text); more; more = q.next()) out.push_back(row.record());
  return out;
}

template <class Row, class Uses>
auto select_one(soci::session& sql, const std::string& text, Uses uses)
    -> std::optional<decltype(Row().record())> {
  Row row;
  Query q(sql);
  row.bind(q);
  uses(q);
  if (!q.run(text)) return std::nullopt;
  return row.record();
}

inline const auto kNoParams = [](Query&) {};

// A statement prepared on one connection when first needed and executed
// again with new values of its bound variables. Vars holds those variables
// (declared before the statement, which refers to them) and names the text:
//   struct Vars { static constexpr const char* kText; void bind(Query&); };
template <class Vars>
class Prepared {
 public:
  explicit Prepared(soci::session& sql) : q_(sql), sqlite_(sql.get_backend_name() == "sqlite3") {
    vars_.bind(q_);
    q_.prepare(Vars::kText);
  }
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;

  Vars& vars() { return vars_; }

  // Executes with the variables as set and returns f(got_a_row, vars, query);
  // the statement is reset afterwards, also when f or the execution throws.
  template <class F>
  auto execute(F&& f) {
    struct Reset {
      Prepared& p;
      ~Reset() { p.reset(); }
    } reset{*this};
    const bool row = q_.execute();
    return f(row, vars_, q_);
  }

 private:
  // SQLite keeps a statement that stopped at a row (not at its end) active,
  // and with it the connection's read transaction: later calls would read
  // an old snapshot and BEGIN IMMEDIATE would fail. PostgreSQL has fetched
  // the whole result already.
  void reset() noexcept {
    if (!sqlite_) return;
    auto* backend = static_cast<soci::sqlite3_statement_backend*>(q_.statement().get_backend());
    if (backend == nullptr || backend->stmt_ == nullptr) return;
    // What SOCI's own reset() does (not exported by Debian's libsoci_sqlite3).
    ::sqlite_api::sqlite3_reset(backend->stmt_);
    backend->databaseReady_ = true;
  }

  Vars vars_;
  Query q_;
  bool sqlite_;
};


}  // namespace ota::server::store_detail

#endif  // OTA_SERVER_STORE_SQL_H
