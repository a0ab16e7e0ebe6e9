// The schema, as an ordered list of migrations, and the code that applies
// them. Portable SQL only: the same statements run on SQLite and PostgreSQL.
//
// Types: TEXT for names and hex strings; BIGINT for times, sizes and uint32
// values (PostgreSQL's INTEGER is signed 32-bit); INTEGER for small numbers
// and booleans (0/1). Histories carry an explicit `seq` taken from the
// `counters` table inside the writing transaction (no AUTOINCREMENT/SERIAL).
//
// Rules for changing the schema: never edit a migration that has shipped;
// append a new one with the next version number.
#include <ctime>
#include <string>
#include <vector>

#include "store_internal.h"

namespace ota::server::store_detail {

namespace {

struct Migration {
  int version;
  std::vector<const char*> statements;
  // Runs after the statements, in the same transaction (for what plain SQL
  // cannot say portably, such as the time of the migration).
  void (*after)(soci::session&) = nullptr;
};

// Version 2: a product every database has, made at the time of migration.
void create_default_product(soci::session& sql) {
  long long now = static_cast<long long>(std::time(nullptr));
  std::string name = kDefaultProduct;
  long long n = 0;
  sql << "SELECT COUNT(*) FROM products WHERE name = :n", soci::use(name, "n"), soci::into(n);
  if (n > 0) return;
  sql << "UPDATE counters SET value = value + 1 WHERE name = 'products'";
  long long seq = 0;
  sql << "SELECT value FROM counters WHERE name = 'products'", soci::into(seq);
  sql << "INSERT INTO products (name, created_at, seq) VALUES (:n, :at, :seq)", soci::use(name, "n"),
      soci::use(now, "at"), soci::use(seq, "seq");
}

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> list = {
      {1,
       {
           // Named counters: the next `seq` of each history and listing order.
           "CREATE TABLE counters ("
           "  name TEXT NOT NULL PRIMARY KEY,"
           "  value BIGINT NOT NULL)",
           "INSERT INTO counters (name, value) VALUES ('firmware', 0)",
           "INSERT INTO counters (name, value) VALUES ('devices', 0)",
           "INSERT INTO counters (name, value) VALUES ('status_events', 0)",
           "INSERT INTO counters (name, value) VALUES ('audit_events', 0)",

           "CREATE TABLE firmware ("
           "  version TEXT NOT NULL PRIMARY KEY,"
           "  product TEXT NOT NULL,"
           "  chip_id INTEGER NOT NULL,"
           "  size BIGINT NOT NULL,"
           "  sha256_hex TEXT NOT NULL,"
           "  app_version TEXT NOT NULL,"
           "  security_counter BIGINT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL)",
           "CREATE INDEX firmware_by_sha256 ON firmware (sha256_hex)",

           "CREATE TABLE patches ("
           "  old_version TEXT NOT NULL REFERENCES firmware (version),"
           "  new_version TEXT NOT NULL REFERENCES firmware (version),"
           "  size BIGINT NOT NULL,"
           "  sha256_hex TEXT NOT NULL,"
           "  codec INTEGER NOT NULL,"
           "  device_ram BIGINT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  PRIMARY KEY (old_version, new_version))",
           "CREATE INDEX patches_by_new_version ON patches (new_version)",

           "CREATE TABLE devices ("
           "  device_id TEXT NOT NULL PRIMARY KEY,"
           "  product TEXT NOT NULL,"
           "  sealed_key_hex TEXT NOT NULL,"
           "  token_hash_hex TEXT NOT NULL,"
           "  enabled INTEGER NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  last_seen BIGINT,"  // NULL: never checked in
           "  running_version TEXT NOT NULL,"
           "  running_sha256_hex TEXT NOT NULL,"
           "  security_counter BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL)",

           // old_version is what the admin named ('' for none) and may name
           // an image the registry never stored, so it is not a foreign key;
           // delete_firmware checks it by hand.
           "CREATE TABLE assignments ("
           "  device_id TEXT NOT NULL PRIMARY KEY REFERENCES devices (device_id),"
           "  old_version TEXT NOT NULL,"
           "  new_version TEXT NOT NULL REFERENCES firmware (version),"
           "  created_at BIGINT NOT NULL)",
           "CREATE INDEX assignments_by_new_version ON assignments (new_version)",
           "CREATE INDEX assignments_by_old_version ON assignments (old_version)",

           "CREATE TABLE status_events ("
           "  seq BIGINT NOT NULL PRIMARY KEY,"
           "  device_id TEXT NOT NULL REFERENCES devices (device_id),"
           "  at BIGINT NOT NULL,"
           "  state TEXT NOT NULL,"
           "  detail TEXT NOT NULL)",
           "CREATE INDEX status_events_by_device ON status_events (device_id, at, seq)",

           "CREATE TABLE audit_events ("
           "  seq BIGINT NOT NULL PRIMARY KEY,"
           "  at BIGINT NOT NULL,"
           "  actor TEXT NOT NULL,"
           "  action TEXT NOT NULL,"
           "  detail TEXT NOT NULL)",
           "CREATE INDEX audit_events_by_time ON audit_events (at, seq)",
       }},
      // Version 2: products. Firmware is keyed by (product, version), so
      // that two products may each have a version "1.0.0"; patches and
      // assignments name their product; a device belongs to a product that
      // exists and has a chip once known. The five tables are rebuilt
      // (copied aside, dropped children first, made anew, filled, the
      // copies dropped), the one way to change keys that SQLite and
      // PostgreSQL share. Every row survives but one kind that v1
      // let in and v2 cannot hold: a patch between firmware of two products
      // (derived data: made again when asked for) is dropped. Firmware keeps
      // the product v1 recorded for it (its image's project name); an
      // assignment keeps its firmware's product even when that is not the
      // device's (the check-in refuses it once, with a status event).
      {2,
       {
           "CREATE TABLE firmware_v1 AS SELECT * FROM firmware",
           "CREATE TABLE patches_v1 AS SELECT * FROM patches",
           "CREATE TABLE devices_v1 AS SELECT * FROM devices",
           "CREATE TABLE assignments_v1 AS SELECT * FROM assignments",
           "CREATE TABLE status_events_v1 AS SELECT * FROM status_events",
           "DROP TABLE status_events",
           "DROP TABLE assignments",
           "DROP TABLE patches",
           "DROP TABLE devices",
           "DROP TABLE firmware",

           "CREATE TABLE products ("
           "  name TEXT NOT NULL PRIMARY KEY,"
           "  created_at BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL)",

           "CREATE TABLE firmware ("
           "  product TEXT NOT NULL REFERENCES products (name),"
           "  version TEXT NOT NULL,"
           "  chip_id INTEGER NOT NULL,"
           "  size BIGINT NOT NULL,"
           "  sha256_hex TEXT NOT NULL,"
           "  app_version TEXT NOT NULL,"
           "  security_counter BIGINT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL,"
           "  PRIMARY KEY (product, version))",
           "CREATE INDEX firmware_by_sha256 ON firmware (product, sha256_hex)",

           "CREATE TABLE patches ("
           "  product TEXT NOT NULL,"
           "  old_version TEXT NOT NULL,"
           "  new_version TEXT NOT NULL,"
           "  size BIGINT NOT NULL,"
           "  sha256_hex TEXT NOT NULL,"
           "  codec INTEGER NOT NULL,"
           "  device_ram BIGINT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  PRIMARY KEY (product, old_version, new_version),"
           "  FOREIGN KEY (product, old_version) REFERENCES firmware (product, version),"
           "  FOREIGN KEY (product, new_version) REFERENCES firmware (product, version))",
           "CREATE INDEX patches_by_new_version ON patches (product, new_version)",

           "CREATE TABLE devices ("
           "  device_id TEXT NOT NULL PRIMARY KEY,"
           "  product TEXT NOT NULL REFERENCES products (name),"
           "  chip_id INTEGER,"  // NULL: not known yet
           "  sealed_key_hex TEXT NOT NULL,"
           "  token_hash_hex TEXT NOT NULL,"
           "  enabled INTEGER NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  last_seen BIGINT,"  // NULL: never checked in
           "  running_version TEXT NOT NULL,"
           "  running_sha256_hex TEXT NOT NULL,"
           "  security_counter BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL)",
           "CREATE INDEX devices_by_product ON devices (product)",

           // old_version is what the admin named ('' for none) and may name
           // an image the registry never stored, so it is not a foreign key;
           // delete_firmware checks it by hand.
           "CREATE TABLE assignments ("
           "  device_id TEXT NOT NULL PRIMARY KEY REFERENCES devices (device_id),"
           "  product TEXT NOT NULL,"
           "  old_version TEXT NOT NULL,"
           "  new_version TEXT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  FOREIGN KEY (product, new_version) REFERENCES firmware (product, version))",
           "CREATE INDEX assignments_by_new_version ON assignments (product, new_version)",
           "CREATE INDEX assignments_by_old_version ON assignments (product, old_version)",

           "CREATE TABLE status_events ("
           "  seq BIGINT NOT NULL PRIMARY KEY,"
           "  device_id TEXT NOT NULL REFERENCES devices (device_id),"
           "  at BIGINT NOT NULL,"
           "  state TEXT NOT NULL,"
           "  detail TEXT NOT NULL)",
           "CREATE INDEX status_events_by_device ON status_events (device_id, at, seq)",

           // Products: every name v1 recorded, in the order first seen.
           "INSERT INTO products (name, created_at, seq)"
           " SELECT name, MIN(at), ROW_NUMBER() OVER (ORDER BY MIN(at), name) FROM ("
           "  SELECT product AS name, created_at AS at FROM firmware_v1"
           "  UNION ALL SELECT product, created_at FROM devices_v1) AS seen GROUP BY name",
           "INSERT INTO counters (name, value) SELECT 'products', COUNT(*) FROM products",
           "INSERT INTO firmware (product, version, chip_id, size, sha256_hex, app_version,"
           "  security_counter, created_at, seq)"
           " SELECT product, version, chip_id, size, sha256_hex, app_version, security_counter,"
           "  created_at, seq FROM firmware_v1",
           // A device's chip: that of the image it was last seen running, if known.
           "INSERT INTO devices (device_id, product, chip_id, sealed_key_hex, token_hash_hex,"
           "  enabled, created_at, last_seen, running_version, running_sha256_hex,"
           "  security_counter, seq)"
           " SELECT d.device_id, d.product,"
           "  (SELECT f.chip_id FROM firmware_v1 f WHERE f.product = d.product"
           "   AND f.sha256_hex = d.running_sha256_hex ORDER BY f.created_at, f.seq LIMIT 1),"
           "  d.sealed_key_hex, d.token_hash_hex, d.enabled, d.created_at, d.last_seen,"
           "  d.running_version, d.running_sha256_hex, d.security_counter, d.seq FROM devices_v1 d",
           "INSERT INTO patches (product, old_version, new_version, size, sha256_hex, codec,"
           "  device_ram, created_at)"
           " SELECT o.product, p.old_version, p.new_version, p.size, p.sha256_hex, p.codec,"
           "  p.device_ram, p.created_at FROM patches_v1 p"
           "  JOIN firmware_v1 o ON o.version = p.old_version"
           "  JOIN firmware_v1 n ON n.version = p.new_version WHERE o.product = n.product",
           "INSERT INTO assignments (device_id, product, old_version, new_version, created_at)"
           " SELECT a.device_id, f.product, a.old_version, a.new_version, a.created_at"
           "  FROM assignments_v1 a JOIN firmware_v1 f ON f.version = a.new_version",
           "INSERT INTO status_events (seq, device_id, at, state, detail)"
           " SELECT seq, device_id, at, state, detail FROM status_events_v1",
           "DROP TABLE status_events_v1",
           "DROP TABLE assignments_v1",
           "DROP TABLE patches_v1",
           "DROP TABLE devices_v1",
           "DROP TABLE firmware_v1",
       },
       create_default_product},
      // Version 3: device tags (key=value, set by an admin or reported by
      // the device; an admin's value wins) and device groups: static ones
      // with their members, dynamic ones with a filter (services'
      // device_filter.h) and no members.
      {3,
       {
           "CREATE TABLE device_tags ("
           "  device_id TEXT NOT NULL REFERENCES devices (device_id),"
           "  source TEXT NOT NULL,"  // 'admin' or 'device'
           "  tag_key TEXT NOT NULL,"
           "  tag_value TEXT NOT NULL,"
           "  PRIMARY KEY (device_id, source, tag_key))",
           "CREATE TABLE device_groups ("
           "  name TEXT NOT NULL PRIMARY KEY,"
           "  filter TEXT,"  // NULL: a static group
           "  created_at BIGINT NOT NULL,"
           "  seq BIGINT NOT NULL)",
           "CREATE TABLE group_members ("
           "  group_name TEXT NOT NULL REFERENCES device_groups (name),"
           "  device_id TEXT NOT NULL REFERENCES devices (device_id),"
           "  PRIMARY KEY (group_name, device_id))",
           "CREATE INDEX group_members_by_device ON group_members (device_id)",
           "INSERT INTO counters (name, value) VALUES ('groups', 0)",
       }},
      // Version 4: rollouts (services' rollout_engine.h): the rollout, its
      // waves, each device's truth in it, and the devices of active
      // rollouts, one rollout per device (the primary key says so).
      {4,
       {
           "CREATE TABLE rollouts ("
           "  id BIGINT NOT NULL PRIMARY KEY,"
           "  product TEXT NOT NULL,"
           "  version TEXT NOT NULL,"
           "  target_kind TEXT NOT NULL,"
           "  target TEXT NOT NULL,"
           "  waves TEXT NOT NULL,"
           "  success_percent INTEGER NOT NULL,"
           "  success_value BIGINT NOT NULL,"
           "  failures_percent INTEGER NOT NULL,"
           "  failures_value BIGINT NOT NULL,"
           "  confirm_within BIGINT NOT NULL,"
           "  approval INTEGER NOT NULL,"
           "  start_at BIGINT NOT NULL,"
           "  max_downloads BIGINT NOT NULL,"
           "  retries BIGINT NOT NULL,"
           "  retry_backoff BIGINT NOT NULL,"
           "  sort_order TEXT NOT NULL,"
           "  state TEXT NOT NULL,"
           "  current_wave INTEGER NOT NULL,"
           "  reason TEXT NOT NULL,"
           "  halted_by TEXT NOT NULL,"  // device ids, comma-separated
           "  created_at BIGINT NOT NULL,"
           "  updated_at BIGINT NOT NULL,"
           "  revision BIGINT NOT NULL,"
           "  FOREIGN KEY (product, version) REFERENCES firmware (product, version))",
           "CREATE TABLE rollout_waves ("
           "  rollout_id BIGINT NOT NULL REFERENCES rollouts (id),"
           "  idx INTEGER NOT NULL,"
           "  spec TEXT NOT NULL,"
           "  planned BIGINT NOT NULL,"
           "  started INTEGER NOT NULL,"
           "  done INTEGER NOT NULL,"
           "  started_at BIGINT NOT NULL,"
           "  done_at BIGINT NOT NULL,"
           "  PRIMARY KEY (rollout_id, idx))",
           "CREATE TABLE rollout_devices ("
           "  rollout_id BIGINT NOT NULL REFERENCES rollouts (id),"
           "  device_id TEXT NOT NULL REFERENCES devices (device_id),"
           "  wave INTEGER NOT NULL,"
           "  position BIGINT NOT NULL,"
           "  state TEXT NOT NULL,"
           "  holds INTEGER NOT NULL,"
           "  attempts BIGINT NOT NULL,"
           "  started_at BIGINT NOT NULL,"
           "  next_attempt_at BIGINT NOT NULL,"
           "  updated_at BIGINT NOT NULL,"
           "  detail TEXT NOT NULL,"
           "  excused INTEGER NOT NULL,"
           "  revision BIGINT NOT NULL,"
           "  PRIMARY KEY (rollout_id, device_id))",
           "CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id)",
           "CREATE TABLE rollout_members ("
           "  device_id TEXT NOT NULL PRIMARY KEY REFERENCES devices (device_id),"
           "  rollout_id BIGINT NOT NULL REFERENCES rollouts (id))",
           "CREATE INDEX rollout_members_by_rollout ON rollout_members (rollout_id)",
           "INSERT INTO counters (name, value) VALUES ('rollouts', 0)",
       }},
      // Version 5: console sessions (services' session_service.h), by the
      // SHA-256 of their id: the database never holds a usable cookie.
      {5,
       {
           "CREATE TABLE sessions ("
           "  id_sha256_hex TEXT NOT NULL PRIMARY KEY,"
           "  csrf_token TEXT NOT NULL,"
           "  actor TEXT NOT NULL,"
           "  created_at BIGINT NOT NULL,"
           "  expires_at BIGINT NOT NULL)",
           "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
       }},
      // Version 6: what each device downloaded (the console's device page),
      // and the newest failures fleet-wide without a scan of every event.
      {6,
       {
           "CREATE TABLE device_downloads ("
           "  device_id TEXT NOT NULL PRIMARY KEY REFERENCES devices (device_id),"
           "  requests BIGINT NOT NULL,"
           "  bytes BIGINT NOT NULL,"
           "  resumes BIGINT NOT NULL)",
           "CREATE INDEX status_events_by_state ON status_events (state, at, seq)",
       }},
  };
  return list;
}

// Version 0 is a sentinel row, present from the start: migrators lock it
// (a no-op UPDATE; in PostgreSQL a row lock held until commit, in SQLite
// BEGIN IMMEDIATE already holds the write lock) and then re-read the
// version, so that two servers opening one database at once apply each
// migration exactly once.
void create_migrations_table(soci::session& sql) {
  try {
    sql << "CREATE TABLE IF NOT EXISTS schema_migrations ("
           "  version INTEGER NOT NULL PRIMARY KEY,"
           "  applied_at BIGINT NOT NULL)";
  } catch (const soci::soci_error&) {
    // Another process may have created it at the same moment (PostgreSQL
    // can report that as a conflict); the caller reads the table next and
    // reports a real failure.
  }
  long long now = static_cast<long long>(std::time(nullptr));
  sql << "INSERT INTO schema_migrations (version, applied_at) VALUES (0, :now) "
         "ON CONFLICT (version) DO NOTHING",
      soci::use(now, "now");
}

void check_not_newer(int current, int latest) {
  if (current > latest)
    throw StoreError("database schema version " + std::to_string(current) +
                     " is newer than this server (" + std::to_string(latest) + ")");
}

}  // namespace

int latest_schema_version() { return migrations().back().version; }

int current_schema_version(soci::session& sql) {
  int version = 0;
  soci::indicator ind = soci::i_null;
  sql << "SELECT MAX(version) FROM schema_migrations", soci::into(version, ind);
  return ind == soci::i_ok ? version : 0;
}

void migrate(soci::session& sql) {
  const int latest = latest_schema_version();
  guarded("migrate", [&] {
    int current = 0;
    bool have_table = true;
    try {
      current = current_schema_version(sql);
    } catch (const soci::soci_error&) {
      have_table = false;  // a new database (or a real failure, reported below)
    }
    check_not_newer(current, latest);
    if (have_table && current == latest) return;  // up to date: no write at all

    create_migrations_table(sql);
    WriteTransaction tr(sql);
    // A migration of a large database may take longer than the statement
    // timeout that bounds the server's own queries.
    if (sql.get_backend_name() == "postgresql") sql << "SET LOCAL statement_timeout = 0";
    sql << "UPDATE schema_migrations SET applied_at = applied_at WHERE version = 0";
    current = current_schema_version(sql);  // another server may have migrated
    check_not_newer(current, latest);
    for (const Migration& m : migrations()) {
      if (m.version <= current) continue;
      int n = 0;
      for (const char* statement : m.statements) {
        sql << statement;
        std::string point = "migrate:" + std::to_string(m.version) + ":" + std::to_string(++n);
        fault_point(point.c_str());
      }
      if (m.after != nullptr) m.after(sql);
      int version = m.version;
      long long now = static_cast<long long>(std::time(nullptr));
      sql << "INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :now)",
          soci::use(version, "v"), soci::use(now, "now");
    }
    tr.commit();
  });
}

}  // namespace ota::server::store_detail
