// Store on SOCI: one implementation for SQLite and PostgreSQL.
//
// Concurrency: a soci::connection_pool; each call leases one session for its
// duration (blocking while all are busy). SQLite gets a pool of one, so its
// single connection is used by one thread at a time (a mutex in effect);
// PostgreSQL gets four. Calls never nest, so a thread never waits on itself.
// Between processes (several servers on one database), SQLite writers take
// the write lock up front (BEGIN IMMEDIATE, 5 s busy timeout) and PostgreSQL
// writers lock the counter rows they advance.
//
// Every multi-statement write runs in one transaction; every value is bound
// with soci::use (statement texts are constants).
//
// Prepared statements: SOCI does not cache them, and building, preparing
// (on PostgreSQL: PREPARE and DEALLOCATE round trips) and binding a
// statement costs more than running it. So the hot calls (device,
// assignment, check_in_view, firmware, touch_device) use statements that
// each pooled connection prepares once, on first use, with their bound
// variables next to them (Slot::statements). They are used only by the
// connection's lease holder, and dropped (before the session itself) when
// the connection reconnects or a call on it fails in the database layer.
// On SQLite a statement is reset after each use: one left mid-result would
// hold its read transaction open (a stale snapshot, and writes refused).
#include <soci/postgresql/soci-postgresql.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <type_traits>

#include "store_internal.h"

namespace ota::server {

namespace {

using namespace store_detail;

constexpr size_t kPostgresPoolSize = 4;
// A pooled connection idle this long is checked before use.
constexpr std::chrono::seconds kIdleRecheck{30};

// --- conversions between the record types and the column types ---

long long to_db(uint64_t v, const char* what) {
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
bool is_constraint_violation(const soci::soci_error& e) {
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

long long count(soci::session& sql, const char* text, const std::string& a) {
  long long n = 0;
  Query(sql).into(n).use(a, "a").run(text);
  return n;
}

long long count(soci::session& sql, const char* text, const std::string& a,
                const std::string& b) {
  long long n = 0;
  Query(sql).into(n).use(a, "a").use(b, "b").run(text);
  return n;
}

bool firmware_exists(soci::session& sql, const std::string& version) {
  return count(sql, "SELECT COUNT(*) FROM firmware WHERE version = :a", version) > 0;
}

bool device_exists(soci::session& sql, const std::string& device_id) {
  return count(sql, "SELECT COUNT(*) FROM devices WHERE device_id = :a", device_id) > 0;
}

// The next value of a named counter. Its UPDATE locks the counter row (and
// in SQLite takes the write lock) until the transaction ends, so concurrent
// writers, in this process or another server, get distinct increasing values.
// REQUIRES: inside a transaction.
long long next_seq(soci::session& sql, const std::string& name) {
  Query(sql).use(name, "n").run("UPDATE counters SET value = value + 1 WHERE name = :n");
  long long v = 0;
  Query(sql).into(v).use(name, "n").run("SELECT value FROM counters WHERE name = :n");
  return v;
}

// --- rows: the columns of a table and the variables SOCI fills ---

struct FirmwareRow {
  static constexpr const char* kSelect =
      "SELECT version, product, chip_id, size, sha256_hex, app_version, security_counter,"
      " created_at FROM firmware ";
  std::string version, product, sha256_hex, app_version;
  int chip_id = 0;
  long long size = 0, security_counter = 0, created_at = 0;

  Query& bind(Query& q) {
    return q.into(version).into(product).into(chip_id).into(size).into(sha256_hex)
        .into(app_version).into(security_counter).into(created_at);
  }
  FirmwareRecord record() const {
    FirmwareRecord f;
    f.version = version;
    f.product = product;
    f.chip_id = from_db<uint16_t>(chip_id, "firmware.chip_id");
    f.size = from_db<uint64_t>(size, "firmware.size");
    f.sha256_hex = sha256_hex;
    f.app_version = app_version;
    f.security_counter = from_db<uint32_t>(security_counter, "firmware.security_counter");
    f.created_at = created_at;
    return f;
  }
};

struct PatchRow {
  static constexpr const char* kSelect =
      "SELECT old_version, new_version, size, sha256_hex, codec, device_ram, created_at"
      " FROM patches ";
  std::string old_version, new_version, sha256_hex;
  int codec = 0;
  long long size = 0, device_ram = 0, created_at = 0;

  Query& bind(Query& q) {
    return q.into(old_version).into(new_version).into(size).into(sha256_hex).into(codec)
        .into(device_ram).into(created_at);
  }
  PatchRecord record() const {
    PatchRecord p;
    p.old_version = old_version;
    p.new_version = new_version;
    p.size = from_db<uint64_t>(size, "patches.size");
    p.sha256_hex = sha256_hex;
    p.codec = from_db<uint8_t>(codec, "patches.codec");
    p.device_ram = from_db<uint32_t>(device_ram, "patches.device_ram");
    p.created_at = created_at;
    return p;
  }
};

struct DeviceRow {
  static constexpr const char* kSelect =
      "SELECT device_id, product, sealed_key_hex, token_hash_hex, enabled, created_at,"
      " last_seen, running_version, running_sha256_hex, security_counter FROM devices ";
  std::string device_id, product, sealed_key_hex, token_hash_hex, running_version,
      running_sha256_hex;
  int enabled = 0;
  long long created_at = 0, last_seen = 0, security_counter = 0;
  soci::indicator last_seen_ind = soci::i_null;

  Query& bind(Query& q) {
    return q.into(device_id).into(product).into(sealed_key_hex).into(token_hash_hex)
        .into(enabled).into(created_at).into(last_seen, last_seen_ind).into(running_version)
        .into(running_sha256_hex).into(security_counter);
  }
  DeviceRecord record() const {
    DeviceRecord d;
    d.device_id = device_id;
    d.product = product;
    d.sealed_key_hex = sealed_key_hex;
    d.token_hash_hex = token_hash_hex;
    d.enabled = enabled != 0;
    d.created_at = created_at;
    if (last_seen_ind == soci::i_ok) d.last_seen = last_seen;
    d.running_version = running_version;
    d.running_sha256_hex = running_sha256_hex;
    d.security_counter = from_db<uint32_t>(security_counter, "devices.security_counter");
    return d;
  }
};

struct AssignmentRow {
  static constexpr const char* kSelect =
      "SELECT device_id, old_version, new_version, created_at FROM assignments ";
  std::string device_id, old_version, new_version;
  long long created_at = 0;

  Query& bind(Query& q) {
    return q.into(device_id).into(old_version).into(new_version).into(created_at);
  }
  UpdateAssignment record() const { return {device_id, old_version, new_version, created_at}; }
};

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

const auto kNoParams = [](Query&) {};

// --- statements prepared once per connection ---

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

struct FirmwareByVersion {
  static constexpr const char* kText =
      "SELECT version, product, chip_id, size, sha256_hex, app_version, security_counter,"
      " created_at FROM firmware WHERE version = :v";
  FirmwareRow row;
  std::string version;
  void bind(Query& q) { row.bind(q).use(version, "v"); }
};

struct DeviceById {
  static constexpr const char* kText =
      "SELECT device_id, product, sealed_key_hex, token_hash_hex, enabled, created_at,"
      " last_seen, running_version, running_sha256_hex, security_counter FROM devices"
      " WHERE device_id = :d";
  DeviceRow row;
  std::string device_id;
  void bind(Query& q) { row.bind(q).use(device_id, "d"); }
};

struct AssignmentByDevice {
  static constexpr const char* kText =
      "SELECT device_id, old_version, new_version, created_at FROM assignments"
      " WHERE device_id = :d";
  AssignmentRow row;
  std::string device_id;
  void bind(Query& q) { row.bind(q).use(device_id, "d"); }
};

// A device and its assignment's columns (NULL when it has none).
struct CheckInById {
  static constexpr const char* kText =
      "SELECT d.device_id, d.product, d.sealed_key_hex, d.token_hash_hex, d.enabled,"
      " d.created_at, d.last_seen, d.running_version, d.running_sha256_hex,"
      " d.security_counter, a.old_version, a.new_version, a.created_at"
      " FROM devices d LEFT JOIN assignments a ON a.device_id = d.device_id"
      " WHERE d.device_id = :d";
  DeviceRow row;
  std::string old_version, new_version;
  long long assigned_at = 0;
  soci::indicator old_ind = soci::i_null, new_ind = soci::i_null, at_ind = soci::i_null;
  std::string device_id;
  void bind(Query& q) {
    row.bind(q).into(old_version, old_ind).into(new_version, new_ind).into(assigned_at, at_ind)
        .use(device_id, "d");
  }
  CheckInView view() const {
    CheckInView v;
    v.device = row.record();
    // The assignment columns are NOT NULL: all NULL means no assignment.
    if (new_ind == soci::i_ok) {
      if (old_ind != soci::i_ok || at_ind != soci::i_ok)
        throw StoreError("store: corrupt database: assignments row with NULL columns");
      v.assignment = UpdateAssignment{v.device.device_id, old_version, new_version, assigned_at};
    }
    return v;
  }
};

struct TouchDevice {
  static constexpr const char* kText =
      "UPDATE devices SET last_seen = :at, running_version = :rv,"
      " running_sha256_hex = :rsha WHERE device_id = :d";
  long long seen = 0;
  std::string running_version, running_sha256_hex, device_id;
  void bind(Query& q) {
    q.use(seen, "at").use(running_version, "rv").use(running_sha256_hex, "rsha")
        .use(device_id, "d");
  }
};

// The prepared statements of one connection, each made on first use.
class Statements {
 public:
  explicit Statements(soci::session& sql) : sql_(sql) {}

  Prepared<FirmwareByVersion>& firmware() { return get(firmware_); }
  Prepared<DeviceById>& device() { return get(device_); }
  Prepared<AssignmentByDevice>& assignment() { return get(assignment_); }
  Prepared<CheckInById>& check_in() { return get(check_in_); }
  Prepared<TouchDevice>& touch_device() { return get(touch_device_); }

 private:
  template <class Vars>
  Prepared<Vars>& get(std::unique_ptr<Prepared<Vars>>& p) {
    if (!p) p = std::make_unique<Prepared<Vars>>(sql_);
    return *p;
  }

  soci::session& sql_;
  std::unique_ptr<Prepared<FirmwareByVersion>> firmware_;
  std::unique_ptr<Prepared<DeviceById>> device_;
  std::unique_ptr<Prepared<AssignmentByDevice>> assignment_;
  std::unique_ptr<Prepared<CheckInById>> check_in_;
  std::unique_ptr<Prepared<TouchDevice>> touch_device_;
};

class SociStore final : public Store {
 public:
  SociStore(Target target, size_t pool_size)
      : target_(std::move(target)), pool_size_(pool_size), pool_(pool_size), slots_(pool_size) {}

  // Opens every pooled connection, then migrates.
  void start() {
    for (size_t i = 0; i < pool_size_; ++i) open_session(pool_.at(i), target_);
    Lease lease(pool_);
    migrate(lease.sql());
  }

  int schema_version() override {
    return run("schema_version", [&](soci::session& sql) { return current_schema_version(sql); });
  }

  // --- firmware ---

  bool insert_firmware(const FirmwareRecord& f) override {
    const int chip_id = f.chip_id;
    const long long size = to_db(f.size, "firmware size");
    const long long counter = f.security_counter;
    return run("insert_firmware", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      const long long seq = next_seq(sql, "firmware");
      fault_point("insert_firmware:sequenced");
      Query q(sql);
      q.use(f.version, "version").use(f.product, "product").use(chip_id, "chip").use(size, "size")
          .use(f.sha256_hex, "sha").use(f.app_version, "app").use(counter, "counter")
          .use(f.created_at, "at").use(seq, "seq")
          .run("INSERT INTO firmware (version, product, chip_id, size, sha256_hex, app_version,"
               " security_counter, created_at, seq)"
               " VALUES (:version, :product, :chip, :size, :sha, :app, :counter, :at, :seq)"
               " ON CONFLICT (version) DO NOTHING");
      if (q.affected_rows() == 0) return false;  // a duplicate; the rollback undoes next_seq
      tr.commit();
      return true;
    });
  }

  std::optional<FirmwareRecord> firmware(const std::string& version) override {
    return run_prepared("firmware", [&](Statements& st) {
      auto& p = st.firmware();
      p.vars().version = version;
      return p.execute([](bool row, FirmwareByVersion& v, Query&) -> std::optional<FirmwareRecord> {
        if (!row) return std::nullopt;
        return v.row.record();
      });
    });
  }

  std::vector<FirmwareRecord> list_firmware() override {
    return run("list_firmware", [&](soci::session& sql) {
      return select_all<FirmwareRow>(
          sql, std::string(FirmwareRow::kSelect) + "ORDER BY created_at, seq", kNoParams);
    });
  }

  bool delete_firmware(const std::string& version) override {
    return run("delete_firmware", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      if (count(sql, "SELECT COUNT(*) FROM assignments WHERE new_version = :a OR old_version = :b",
                version, version) > 0 ||
          count(sql, "SELECT COUNT(*) FROM patches WHERE old_version = :a OR new_version = :b",
                version, version) > 0)
        return false;
      fault_point("delete_firmware:checked");
      Query q(sql);
      try {
        q.use(version, "v").run("DELETE FROM firmware WHERE version = :v");
      } catch (const soci::soci_error& e) {
        // A patch or assignment referring to it arrived after the check.
        if (is_constraint_violation(e)) return false;
        throw;
      }
      if (q.affected_rows() == 0) return false;
      tr.commit();
      return true;
    });
  }

  std::optional<FirmwareRecord> firmware_by_sha256(const std::string& sha256_hex) override {
    return run("firmware_by_sha256", [&](soci::session& sql) {
      return select_one<FirmwareRow>(
          sql,
          std::string(FirmwareRow::kSelect) +
              "WHERE sha256_hex = :h ORDER BY created_at, seq LIMIT 1",
          [&](Query& q) { q.use(sha256_hex, "h"); });
    });
  }

  // --- patches ---

  void put_patch(const PatchRecord& p) override {
    const long long size = to_db(p.size, "patch size");
    const int codec = p.codec;
    const long long ram = p.device_ram;
    run("put_patch", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      require_firmware(sql, "put_patch", p.old_version);
      require_firmware(sql, "put_patch", p.new_version);
      fault_point("put_patch:checked");
      Query(sql)
          .use(p.old_version, "old").use(p.new_version, "new").use(size, "size")
          .use(p.sha256_hex, "sha").use(codec, "codec").use(ram, "ram").use(p.created_at, "at")
          .run("INSERT INTO patches (old_version, new_version, size, sha256_hex, codec,"
               " device_ram, created_at) VALUES (:old, :new, :size, :sha, :codec, :ram, :at)"
               " ON CONFLICT (old_version, new_version) DO UPDATE SET size = excluded.size,"
               " sha256_hex = excluded.sha256_hex, codec = excluded.codec,"
               " device_ram = excluded.device_ram, created_at = excluded.created_at");
      tr.commit();
    });
  }

  std::optional<PatchRecord> patch(const std::string& old_version,
                                   const std::string& new_version) override {
    return run("patch", [&](soci::session& sql) {
      return select_one<PatchRow>(
          sql, std::string(PatchRow::kSelect) + "WHERE old_version = :o AND new_version = :n",
          [&](Query& q) { q.use(old_version, "o").use(new_version, "n"); });
    });
  }

  std::vector<PatchRecord> list_patches() override {
    return run("list_patches", [&](soci::session& sql) {
      return select_all<PatchRow>(
          sql, std::string(PatchRow::kSelect) + "ORDER BY created_at, old_version, new_version",
          kNoParams);
    });
  }

  // --- devices ---

  bool insert_device(const DeviceRecord& d) override {
    const int enabled = d.enabled ? 1 : 0;
    const long long last_seen = d.last_seen.value_or(0);
    soci::indicator last_seen_ind = d.last_seen ? soci::i_ok : soci::i_null;
    const long long counter = d.security_counter;
    return run("insert_device", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      const long long seq = next_seq(sql, "devices");
      fault_point("insert_device:sequenced");
      Query q(sql);
      q.use(d.device_id, "id").use(d.product, "product").use(d.sealed_key_hex, "key")
          .use(d.token_hash_hex, "token").use(enabled, "enabled").use(d.created_at, "created")
          .use(last_seen, last_seen_ind, "seen").use(d.running_version, "rv")
          .use(d.running_sha256_hex, "rsha").use(counter, "counter").use(seq, "seq")
          .run("INSERT INTO devices (device_id, product, sealed_key_hex, token_hash_hex, enabled,"
               " created_at, last_seen, running_version, running_sha256_hex, security_counter,"
               " seq) VALUES (:id, :product, :key, :token, :enabled, :created, :seen, :rv,"
               " :rsha, :counter, :seq) ON CONFLICT (device_id) DO NOTHING");
      if (q.affected_rows() == 0) return false;
      tr.commit();
      return true;
    });
  }

  std::optional<DeviceRecord> device(const std::string& device_id) override {
    return run_prepared("device", [&](Statements& st) {
      auto& p = st.device();
      p.vars().device_id = device_id;
      return p.execute([](bool row, DeviceById& v, Query&) -> std::optional<DeviceRecord> {
        if (!row) return std::nullopt;
        return v.row.record();
      });
    });
  }

  std::vector<DeviceRecord> list_devices() override {
    return run("list_devices", [&](soci::session& sql) {
      return select_all<DeviceRow>(
          sql, std::string(DeviceRow::kSelect) + "ORDER BY created_at, seq", kNoParams);
    });
  }

  bool set_device_enabled(const std::string& device_id, bool enabled) override {
    const int value = enabled ? 1 : 0;
    return run("set_device_enabled", [&](soci::session& sql) {
      Query q(sql);
      q.use(value, "e").use(device_id, "d")
          .run("UPDATE devices SET enabled = :e WHERE device_id = :d");
      return q.affected_rows() > 0;
    });
  }

  bool touch_device(const std::string& device_id, int64_t at, const std::string& running_version,
                    const std::string& running_sha256_hex) override {
    return run_prepared("touch_device", [&](Statements& st) {
      auto& p = st.touch_device();
      TouchDevice& v = p.vars();
      v.seen = at;
      v.running_version = running_version;
      v.running_sha256_hex = running_sha256_hex;
      v.device_id = device_id;
      return p.execute([](bool, TouchDevice&, Query& q) { return q.affected_rows() > 0; });
    });
  }

  bool set_device_security_counter(const std::string& device_id, uint32_t counter) override {
    const long long value = counter;
    return run("set_device_security_counter", [&](soci::session& sql) {
      Query q(sql);
      q.use(value, "c").use(device_id, "d")
          .run("UPDATE devices SET security_counter = :c WHERE device_id = :d");
      return q.affected_rows() > 0;
    });
  }

  // --- update queue ---

  void assign_update(const UpdateAssignment& a) override {
    run("assign_update", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      require_device(sql, "assign_update", a.device_id);
      require_firmware(sql, "assign_update", a.new_version);
      fault_point("assign_update:checked");
      Query(sql)
          .use(a.device_id, "d").use(a.old_version, "o").use(a.new_version, "n")
          .use(a.created_at, "at")
          .run("INSERT INTO assignments (device_id, old_version, new_version, created_at)"
               " VALUES (:d, :o, :n, :at) ON CONFLICT (device_id) DO UPDATE SET"
               " old_version = excluded.old_version, new_version = excluded.new_version,"
               " created_at = excluded.created_at");
      tr.commit();
    });
  }

  std::optional<UpdateAssignment> assignment(const std::string& device_id) override {
    return run_prepared("assignment", [&](Statements& st) {
      auto& p = st.assignment();
      p.vars().device_id = device_id;
      return p.execute(
          [](bool row, AssignmentByDevice& v, Query&) -> std::optional<UpdateAssignment> {
            if (!row) return std::nullopt;
            return v.row.record();
          });
    });
  }

  std::optional<CheckInView> check_in_view(const std::string& device_id) override {
    return run_prepared("check_in_view", [&](Statements& st) {
      auto& p = st.check_in();
      p.vars().device_id = device_id;
      return p.execute([](bool row, CheckInById& v, Query&) -> std::optional<CheckInView> {
        if (!row) return std::nullopt;
        return v.view();
      });
    });
  }

  bool clear_assignment(const std::string& device_id) override {
    return run("clear_assignment", [&](soci::session& sql) {
      Query q(sql);
      q.use(device_id, "d").run("DELETE FROM assignments WHERE device_id = :d");
      return q.affected_rows() > 0;
    });
  }

  // --- history ---

  void add_status(const StatusEvent& e) override {
    run("add_status", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      require_device(sql, "add_status", e.device_id);
      const long long seq = next_seq(sql, "status_events");
      fault_point("add_status:sequenced");
      Query(sql)
          .use(seq, "seq").use(e.device_id, "d").use(e.at, "at").use(e.state, "state")
          .use(e.detail, "detail")
          .run("INSERT INTO status_events (seq, device_id, at, state, detail)"
               " VALUES (:seq, :d, :at, :state, :detail)");
      fault_point("add_status:inserted");
      tr.commit();
    });
  }

  std::vector<StatusEvent> status_history(const std::string& device_id) override {
    return run("status_history", [&](soci::session& sql) {
      std::vector<StatusEvent> out;
      StatusEvent row;
      long long at = 0;
      Query q(sql);
      q.into(at).into(row.state).into(row.detail).use(device_id, "d");
      for (bool more = q.run("SELECT at, state, detail FROM status_events WHERE device_id = :d"
                             " ORDER BY at, seq");
           more; more = q.next()) {
        out.push_back({device_id, at, row.state, row.detail});
      }
      return out;
    });
  }

  void add_audit(const AuditEvent& e) override {
    run("add_audit", [&](soci::session& sql) {
      WriteTransaction tr(sql);
      const long long seq = next_seq(sql, "audit_events");
      fault_point("add_audit:sequenced");
      Query(sql)
          .use(seq, "seq").use(e.at, "at").use(e.actor, "actor").use(e.action, "action")
          .use(e.detail, "detail")
          .run("INSERT INTO audit_events (seq, at, actor, action, detail)"
               " VALUES (:seq, :at, :actor, :action, :detail)");
      fault_point("add_audit:inserted");
      tr.commit();
    });
  }

  std::vector<AuditEvent> audit_log(size_t limit) override {
    if (limit == 0) return {};
    const long long n = static_cast<long long>(
        std::min<uint64_t>(limit, static_cast<uint64_t>(std::numeric_limits<long long>::max())));
    return run("audit_log", [&](soci::session& sql) {
      std::vector<AuditEvent> out;
      AuditEvent row;
      long long at = 0;
      Query q(sql);
      q.into(at).into(row.actor).into(row.action).into(row.detail).use(n, "n");
      for (bool more = q.run("SELECT at, actor, action, detail FROM audit_events"
                             " ORDER BY at DESC, seq DESC LIMIT :n");
           more; more = q.next()) {
        out.push_back({at, row.actor, row.action, row.detail});
      }
      std::reverse(out.begin(), out.end());
      return out;
    });
  }

 private:
  // A pooled session, leased for one call.
  class Lease {
   public:
    explicit Lease(soci::connection_pool& pool) : pool_(pool), pos_(pool.lease()) {}
    ~Lease() { pool_.give_back(pos_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    soci::session& sql() { return pool_.at(pos_); }
    size_t pos() const { return pos_; }

   private:
    soci::connection_pool& pool_;
    size_t pos_;
  };

  // What we know of a pooled connection; touched only by its lease holder.
  struct Slot {
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
    bool suspect = false;  // its last call failed in the database layer
    // Its prepared statements (made on first use); they refer to the
    // session's backend, so they go before it reconnects or closes.
    std::unique_ptr<Statements> statements;
  };

  // Runs f on a leased session; soci errors become StoreError("store: <op>: ...").
  // A connection that failed or sat idle is checked first (SOCI's
  // is_connected() costs PostgreSQL a round trip, so busy connections are
  // not) and reopened if the server dropped it: after a database restart a
  // call fails at most once per pooled connection. SQLite is always connected.
  // A failed call also drops the connection's prepared statements (one may
  // be left mid-execution; after a lost connection all are gone server-side).
  template <class F>
  auto run(const char* op, F&& f) -> std::invoke_result_t<F&, soci::session&> {
    return run_slot(op, [&](soci::session& sql, Slot&) { return f(sql); });
  }

  // run() for the calls on prepared statements: f(Statements&).
  template <class F>
  auto run_prepared(const char* op, F&& f) -> std::invoke_result_t<F&, Statements&> {
    return run_slot(op, [&](soci::session& sql, Slot& slot) {
      if (!slot.statements) slot.statements = std::make_unique<Statements>(sql);
      return f(*slot.statements);
    });
  }

  template <class F>
  auto run_slot(const char* op, F&& f) -> std::invoke_result_t<F&, soci::session&, Slot&> {
    using Result = std::invoke_result_t<F&, soci::session&, Slot&>;
    return guarded(op, [&]() -> Result {
      Lease lease(pool_);
      Slot& slot = slots_[lease.pos()];
      try {
        if (slot.suspect || std::chrono::steady_clock::now() - slot.last_used > kIdleRecheck) {
          if (!lease.sql().is_connected()) {
            slot.statements.reset();  // before the backend they refer to goes
            lease.sql().reconnect();
          }
          slot.suspect = false;
        }
        struct Touch {
          Slot& slot;
          ~Touch() { slot.last_used = std::chrono::steady_clock::now(); }
        } touch{slot};
        return f(lease.sql(), slot);
      } catch (const soci::soci_error&) {
        slot.suspect = true;
        slot.statements.reset();
        throw;
      }
    });
  }

  static void require_firmware(soci::session& sql, const char* op, const std::string& version) {
    if (!firmware_exists(sql, version))
      throw StoreError(std::string("store: ") + op + ": unknown firmware version '" + version +
                       "'");
  }
  static void require_device(soci::session& sql, const char* op, const std::string& device_id) {
    if (!device_exists(sql, device_id))
      throw StoreError(std::string("store: ") + op + ": unknown device '" + device_id + "'");
  }

  Target target_;
  size_t pool_size_;
  soci::connection_pool pool_;
  std::vector<Slot> slots_;  // by pool position; destroyed before pool_ (statements first)
};

}  // namespace

std::unique_ptr<Store> Store::open(const std::string& url) {
  Target target = parse_url(url);
  auto store = std::make_unique<SociStore>(
      target, target.backend == Backend::sqlite ? 1 : kPostgresPoolSize);
  store->start();
  return store;
}

}  // namespace ota::server
