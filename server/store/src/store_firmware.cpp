// Firmware and patches, keyed by product (see soci_store.h).
#include "soci_store.h"

namespace ota::server::store_detail {

namespace {

// "WHERE product = :p " when a product is given, with its binding.
std::string product_filter(const std::optional<std::string>& product) {
  return product ? "WHERE product = :p " : "";
}

}  // namespace

bool SociStore::insert_firmware(const FirmwareRecord& f) {
  const int chip_id = f.chip_id;
  const long long size = to_db(f.size, "firmware size");
  const long long counter = f.security_counter;
  return run("insert_firmware", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    require_product(sql, "insert_firmware", f.product);
    const long long seq = next_seq(sql, "firmware");
    fault_point("insert_firmware:sequenced");
    Query q(sql);
    q.use(f.product, "product").use(f.version, "version").use(chip_id, "chip").use(size, "size")
        .use(f.sha256_hex, "sha").use(f.app_version, "app").use(counter, "counter")
        .use(f.created_at, "at").use(seq, "seq")
        .run("INSERT INTO firmware (product, version, chip_id, size, sha256_hex, app_version,"
             " security_counter, created_at, seq)"
             " VALUES (:product, :version, :chip, :size, :sha, :app, :counter, :at, :seq)"
             " ON CONFLICT (product, version) DO NOTHING");
    if (q.affected_rows() == 0) return false;  // a duplicate; the rollback undoes next_seq
    tr.commit();
    return true;
  });
}

std::optional<FirmwareRecord> SociStore::firmware(const std::string& product, const std::string& version) {
  return run_prepared("firmware", [&](Statements& st) {
    auto& p = st.firmware();
    p.vars().product = product;
    p.vars().version = version;
    return p.execute([](bool row, FirmwareByVersion& v, Query&) -> std::optional<FirmwareRecord> {
      if (!row) return std::nullopt;
      return v.row.record();
    });
  });
}

std::vector<FirmwareRecord> SociStore::list_firmware(const std::optional<std::string>& product) {
  return run("list_firmware", [&](soci::session& sql) {
    return select_all<FirmwareRow>(
        sql, std::string(FirmwareRow::kSelect) + product_filter(product) + "ORDER BY created_at, seq",
        [&](Query& q) {
          if (product) q.use(*product, "p");
        });
  });
}

bool SociStore::delete_firmware(const std::string& product, const std::string& version) {
  return run("delete_firmware", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    // Each placeholder once (SOCI binds by position on PostgreSQL).
    long long used = 0;
    Query(sql).into(used)
        .use(product, "p1").use(version, "v1").use(version, "v2")
        .use(product, "p2").use(version, "v3").use(version, "v4")
        .run("SELECT (SELECT COUNT(*) FROM assignments WHERE product = :p1 AND"
             " (new_version = :v1 OR old_version = :v2)) +"
             " (SELECT COUNT(*) FROM patches WHERE product = :p2 AND"
             " (old_version = :v3 OR new_version = :v4))");
    if (used > 0) return false;
    fault_point("delete_firmware:checked");
    Query q(sql);
    try {
      q.use(product, "p").use(version, "v").run("DELETE FROM firmware WHERE product = :p AND version = :v");
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

std::optional<FirmwareRecord> SociStore::firmware_by_sha256(const std::string& product,
                                                            const std::string& sha256_hex) {
  return run_prepared("firmware_by_sha256", [&](Statements& st) {
    auto& p = st.firmware_by_sha256();
    p.vars().product = product;
    p.vars().sha256_hex = sha256_hex;
    return p.execute([](bool row, FirmwareBySha256& v, Query&) -> std::optional<FirmwareRecord> {
      if (!row) return std::nullopt;
      return v.row.record();
    });
  });
}

uint32_t SociStore::max_security_counter(const std::string& product) {
  return run("max_security_counter", [&](soci::session& sql) {
    long long max = 0;
    soci::indicator ind = soci::i_null;
    Query(sql).into(max, ind).use(product, "p")
        .run("SELECT MAX(security_counter) FROM firmware WHERE product = :p");
    return ind == soci::i_ok ? from_db<uint32_t>(max, "firmware.security_counter") : 0u;
  });
}

// --- patches ---

void SociStore::put_patch(const PatchRecord& p) {
  const long long size = to_db(p.size, "patch size");
  const int codec = p.codec;
  const long long ram = p.device_ram;
  run("put_patch", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    require_firmware(sql, "put_patch", p.product, p.old_version);
    require_firmware(sql, "put_patch", p.product, p.new_version);
    fault_point("put_patch:checked");
    Query(sql)
        .use(p.product, "product").use(p.old_version, "old").use(p.new_version, "new")
        .use(size, "size").use(p.sha256_hex, "sha").use(codec, "codec").use(ram, "ram")
        .use(p.created_at, "at")
        .run("INSERT INTO patches (product, old_version, new_version, size, sha256_hex, codec,"
             " device_ram, created_at) VALUES (:product, :old, :new, :size, :sha, :codec, :ram, :at)"
             " ON CONFLICT (product, old_version, new_version) DO UPDATE SET size = excluded.size,"
             " sha256_hex = excluded.sha256_hex, codec = excluded.codec,"
             " device_ram = excluded.device_ram, created_at = excluded.created_at");
    tr.commit();
  });
}

std::optional<PatchRecord> SociStore::patch(const std::string& product, const std::string& old_version,
                                            const std::string& new_version) {
  return run("patch", [&](soci::session& sql) {
    return select_one<PatchRow>(
        sql,
        std::string(PatchRow::kSelect) +
            "WHERE product = :p AND old_version = :o AND new_version = :n",
        [&](Query& q) { q.use(product, "p").use(old_version, "o").use(new_version, "n"); });
  });
}

std::vector<PatchRecord> SociStore::list_patches(const std::optional<std::string>& product) {
  return run("list_patches", [&](soci::session& sql) {
    return select_all<PatchRow>(
        sql,
        std::string(PatchRow::kSelect) + product_filter(product) +
            "ORDER BY created_at, product, old_version, new_version",
        [&](Query& q) {
          if (product) q.use(*product, "p");
        });
  });
}

}  // namespace ota::server::store_detail
