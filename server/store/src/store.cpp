// Store::open, the store's start and schema, products, and the existence
// checks the writes share (see soci_store.h for the concurrency model).
#include <map>

#include "soci_store.h"

namespace ota::server {

namespace store_detail {

void SociStore::start() {
  for (size_t i = 0; i < pool_size_; ++i) open_session(pool_.at(i), target_);
  Lease lease(pool_);
  migrate(lease.sql());
}

int SociStore::schema_version() {
  return run("schema_version", [&](soci::session& sql) { return current_schema_version(sql); });
}

// --- products ---

bool SociStore::ensure_product(const std::string& name, int64_t created_at) {
  return run("ensure_product", [&](soci::session& sql) {
    if (count(sql, "SELECT COUNT(*) FROM products WHERE name = :a", name) > 0) return false;
    WriteTransaction tr(sql);
    const long long seq = next_seq(sql, "products");
    Query q(sql);
    q.use(name, "n").use(created_at, "at").use(seq, "seq")
        .run("INSERT INTO products (name, created_at, seq) VALUES (:n, :at, :seq)"
             " ON CONFLICT (name) DO NOTHING");
    if (q.affected_rows() == 0) return false;  // created concurrently; the rollback undoes next_seq
    tr.commit();
    return true;
  });
}

std::optional<ProductRecord> SociStore::product(const std::string& name) {
  return run("product", [&](soci::session& sql) -> std::optional<ProductRecord> {
    ProductRecord p;
    long long at = 0;
    if (!Query(sql).into(p.name).into(at).use(name, "n")
             .run("SELECT name, created_at FROM products WHERE name = :n"))
      return std::nullopt;
    p.created_at = at;
    return p;
  });
}

std::vector<ProductSummary> SociStore::list_products() {
  return run("list_products", [&](soci::session& sql) {
    std::vector<ProductSummary> out;
    ProductSummary row;
    long long at = 0, firmware = 0, devices = 0;
    Query q(sql);
    q.into(row.name).into(at).into(firmware).into(devices);
    for (bool more = q.run("SELECT p.name, p.created_at,"
                           " (SELECT COUNT(*) FROM firmware f WHERE f.product = p.name),"
                           " (SELECT COUNT(*) FROM devices d WHERE d.product = p.name)"
                           " FROM products p ORDER BY p.created_at, p.seq");
         more; more = q.next()) {
      ProductSummary s;
      s.name = row.name;
      s.created_at = at;
      s.firmware = from_db<uint64_t>(firmware, "firmware count");
      s.devices = from_db<uint64_t>(devices, "device count");
      out.push_back(std::move(s));
    }
    std::map<std::string, std::vector<uint16_t>> chips;
    std::string product;
    int chip = 0;
    Query c(sql);
    c.into(product).into(chip);
    for (bool more = c.run("SELECT DISTINCT product, chip_id FROM firmware ORDER BY product, chip_id");
         more; more = c.next())
      chips[product].push_back(from_db<uint16_t>(chip, "firmware.chip_id"));
    for (ProductSummary& s : out) s.chips = chips[s.name];
    return out;
  });
}

// --- the existence checks of writes (inside their transactions) ---

void SociStore::require_product(soci::session& sql, const char* op, const std::string& product) {
  if (count(sql, "SELECT COUNT(*) FROM products WHERE name = :a", product) == 0)
    throw StoreError(std::string("store: ") + op + ": unknown product '" + product + "'");
}

void SociStore::require_firmware(soci::session& sql, const char* op, const std::string& product,
                                 const std::string& version) {
  if (count(sql, "SELECT COUNT(*) FROM firmware WHERE product = :a AND version = :b", product,
            version) == 0)
    throw StoreError(std::string("store: ") + op + ": unknown firmware version '" + version +
                     "' of product '" + product + "'");
}

void SociStore::require_device(soci::session& sql, const char* op, const std::string& device_id) {
  if (count(sql, "SELECT COUNT(*) FROM devices WHERE device_id = :a", device_id) == 0)
    throw StoreError(std::string("store: ") + op + ": unknown device '" + device_id + "'");
}

}  // namespace store_detail

std::unique_ptr<Store> Store::open(const std::string& url) { return open(url, Options{}); }

std::unique_ptr<Store> Store::open(const std::string& url, const Options& options) {
  using namespace store_detail;
  Target target = parse_url(url);
  size_t pool = 1;
  if (target.backend == Backend::sqlite) {
    // WAL lets the pool's connections read at once; writers take turns on
    // the file's write lock. An in-memory database is one connection's own.
    const bool in_memory = target.location == ":memory:";
    pool = options.pool_size.value_or(in_memory ? 1 : kDefaultSqlitePool);
    if (pool < 1 || pool > 256) throw StoreError("store: the SQLite pool size must be 1..256");
    if (in_memory && pool != 1)
      throw StoreError("store: an in-memory SQLite database has one connection (pool size 1)");
    if (options.statement_timeout_ms)
      throw StoreError("store: a statement timeout is for PostgreSQL (SQLite waits at most 5 s for its lock)");
  } else {
    pool = options.pool_size.value_or(kDefaultPostgresPool);
    if (pool < 1 || pool > 256) throw StoreError("store: the PostgreSQL pool size must be 1..256");
    const int64_t timeout = options.statement_timeout_ms.value_or(kDefaultStatementTimeoutMs);
    if (timeout < 0 || timeout > 86'400'000)
      throw StoreError("store: the statement timeout must be 0 (none) to 86,400,000 ms");
    target.location = with_postgres_options(target.location, "-c statement_timeout=" + std::to_string(timeout));
  }
  auto store = std::make_unique<SociStore>(target, pool);
  store->start();
  return store;
}

}  // namespace ota::server
