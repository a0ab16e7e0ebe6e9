// Devices, the update queue and the histories (see soci_store.h).
#include <algorithm>
#include <limits>

#include "soci_store.h"

namespace ota::server::store_detail {

bool SociStore::insert_device(const DeviceRecord& d) {
  const int enabled = d.enabled ? 1 : 0;
  const int chip = d.chip_id.value_or(0);
  soci::indicator chip_ind = d.chip_id ? soci::i_ok : soci::i_null;
  const long long last_seen = d.last_seen.value_or(0);
  soci::indicator last_seen_ind = d.last_seen ? soci::i_ok : soci::i_null;
  const long long counter = d.security_counter;
  return run("insert_device", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    require_product(sql, "insert_device", d.product);
    const long long seq = next_seq(sql, "devices");
    fault_point("insert_device:sequenced");
    Query q(sql);
    q.use(d.device_id, "id").use(d.product, "product").use(chip, chip_ind, "chip")
        .use(d.sealed_key_hex, "key").use(d.token_hash_hex, "token").use(enabled, "enabled")
        .use(d.created_at, "created").use(last_seen, last_seen_ind, "seen")
        .use(d.running_version, "rv").use(d.running_sha256_hex, "rsha").use(counter, "counter")
        .use(seq, "seq")
        .run("INSERT INTO devices (device_id, product, chip_id, sealed_key_hex, token_hash_hex,"
             " enabled, created_at, last_seen, running_version, running_sha256_hex,"
             " security_counter, seq) VALUES (:id, :product, :chip, :key, :token, :enabled,"
             " :created, :seen, :rv, :rsha, :counter, :seq) ON CONFLICT (device_id) DO NOTHING");
    if (q.affected_rows() == 0) return false;
    tr.commit();
    return true;
  });
}

std::optional<DeviceRecord> SociStore::device(const std::string& device_id) {
  return run_prepared("device", [&](Statements& st) {
    auto& p = st.device();
    p.vars().device_id = device_id;
    return p.execute([](bool row, DeviceById& v, Query&) -> std::optional<DeviceRecord> {
      if (!row) return std::nullopt;
      return v.row.record();
    });
  });
}

std::vector<DeviceRecord> SociStore::list_devices() {
  return run("list_devices", [&](soci::session& sql) {
    return select_all<DeviceRow>(sql, std::string(DeviceRow::kSelect) + "ORDER BY created_at, seq",
                                 kNoParams);
  });
}

bool SociStore::set_device_enabled(const std::string& device_id, bool enabled) {
  const int value = enabled ? 1 : 0;
  return run("set_device_enabled", [&](soci::session& sql) {
    Query q(sql);
    q.use(value, "e").use(device_id, "d").run("UPDATE devices SET enabled = :e WHERE device_id = :d");
    return q.affected_rows() > 0;
  });
}

bool SociStore::touch_device(const std::string& device_id, int64_t at, const std::string& running_version,
                             const std::string& running_sha256_hex) {
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

bool SociStore::set_device_security_counter(const std::string& device_id, uint32_t counter) {
  const long long value = counter;
  return run("set_device_security_counter", [&](soci::session& sql) {
    Query q(sql);
    q.use(value, "c").use(device_id, "d")
        .run("UPDATE devices SET security_counter = :c WHERE device_id = :d");
    return q.affected_rows() > 0;
  });
}

bool SociStore::set_device_chip(const std::string& device_id, uint16_t chip_id) {
  const int value = chip_id;
  return run("set_device_chip", [&](soci::session& sql) {
    Query q(sql);
    q.use(value, "c").use(device_id, "d").run("UPDATE devices SET chip_id = :c WHERE device_id = :d");
    return q.affected_rows() > 0;
  });
}

// --- update queue ---

void SociStore::assign_update(const UpdateAssignment& a) {
  run("assign_update", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    std::string device_product;
    if (!Query(sql).into(device_product).use(a.device_id, "d")
             .run("SELECT product FROM devices WHERE device_id = :d"))
      throw StoreError("store: assign_update: unknown device '" + a.device_id + "'");
    if (device_product != a.product)
      throw StoreError("store: assign_update: device '" + a.device_id + "' is in product '" +
                       device_product + "', not '" + a.product + "'");
    require_firmware(sql, "assign_update", a.product, a.new_version);
    fault_point("assign_update:checked");
    Query(sql)
        .use(a.device_id, "d").use(a.product, "p").use(a.old_version, "o").use(a.new_version, "n")
        .use(a.created_at, "at")
        .run("INSERT INTO assignments (device_id, product, old_version, new_version, created_at)"
             " VALUES (:d, :p, :o, :n, :at) ON CONFLICT (device_id) DO UPDATE SET"
             " product = excluded.product, old_version = excluded.old_version,"
             " new_version = excluded.new_version, created_at = excluded.created_at");
    tr.commit();
  });
}

std::optional<UpdateAssignment> SociStore::assignment(const std::string& device_id) {
  return run_prepared("assignment", [&](Statements& st) {
    auto& p = st.assignment();
    p.vars().device_id = device_id;
    return p.execute([](bool row, AssignmentByDevice& v, Query&) -> std::optional<UpdateAssignment> {
      if (!row) return std::nullopt;
      return v.row.record();
    });
  });
}

std::optional<CheckInView> SociStore::check_in_view(const std::string& device_id) {
  return run_prepared("check_in_view", [&](Statements& st) {
    auto& p = st.check_in();
    p.vars().device_id = device_id;
    return p.execute([](bool row, CheckInById& v, Query&) -> std::optional<CheckInView> {
      if (!row) return std::nullopt;
      return v.view();
    });
  });
}

bool SociStore::clear_assignment(const std::string& device_id) {
  return run("clear_assignment", [&](soci::session& sql) {
    Query q(sql);
    q.use(device_id, "d").run("DELETE FROM assignments WHERE device_id = :d");
    return q.affected_rows() > 0;
  });
}

// --- history ---

void SociStore::add_status(const StatusEvent& e) {
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

std::vector<StatusEvent> SociStore::status_history(const std::string& device_id) {
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

std::vector<StatusEvent> SociStore::recent_failures(size_t limit) {
  if (limit == 0) return {};
  const long long n = static_cast<long long>(std::min<uint64_t>(limit, 1'000'000));
  return run("recent_failures", [&](soci::session& sql) {
    std::vector<StatusEvent> out;
    StatusEvent row;
    long long at = 0;
    Query q(sql);
    q.into(row.device_id).into(at).into(row.state).into(row.detail).use(n, "n");
    for (bool more = q.run("SELECT device_id, at, state, detail FROM status_events"
                           " WHERE state IN ('failed', 'rolled_back', 'refused')"
                           " ORDER BY at DESC, seq DESC LIMIT :n");
         more; more = q.next()) {
      out.push_back({row.device_id, at, row.state, row.detail});
    }
    return out;
  });
}

std::map<std::string, std::string> SociStore::latest_states() {
  return run("latest_states", [&](soci::session& sql) {
    std::map<std::string, std::string> out;
    std::string device, state;
    Query q(sql);
    q.into(device).into(state);
    // The highest seq is the newest event, as in fleet_stats.
    for (bool more = q.run("SELECT s.device_id, s.state FROM status_events s"
                           " JOIN (SELECT device_id, MAX(seq) AS latest FROM status_events GROUP BY device_id) l"
                           " ON s.seq = l.latest");
         more; more = q.next())
      out[device] = state;
    return out;
  });
}

std::optional<std::string> SociStore::latest_state(const std::string& device_id) {
  return run("latest_state", [&](soci::session& sql) -> std::optional<std::string> {
    std::string state;
    Query q(sql);
    q.into(state).use(device_id, "d");
    if (!q.run("SELECT state FROM status_events WHERE device_id = :d ORDER BY seq DESC LIMIT 1")) return std::nullopt;
    return state;
  });
}

void SociStore::count_download(const std::string& device_id, uint64_t bytes, bool resumed) {
  const long long b = static_cast<long long>(std::min<uint64_t>(bytes, INT64_MAX));
  const long long r = resumed ? 1 : 0;
  run("count_download", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    require_device(sql, "count_download", device_id);
    Query(sql)
        .use(device_id, "d").use(b, "b").use(r, "r")
        .run("INSERT INTO device_downloads (device_id, requests, bytes, resumes) VALUES (:d, 1, :b, :r)"
             " ON CONFLICT (device_id) DO UPDATE SET requests = device_downloads.requests + 1,"
             " bytes = device_downloads.bytes + excluded.bytes,"
             " resumes = device_downloads.resumes + excluded.resumes");
    tr.commit();
  });
}

DownloadCounts SociStore::download_counts(const std::string& device_id) {
  return run("download_counts", [&](soci::session& sql) {
    long long requests = 0, bytes = 0, resumes = 0;
    DownloadCounts c;
    if (Query(sql)
            .into(requests).into(bytes).into(resumes).use(device_id, "d")
            .run("SELECT requests, bytes, resumes FROM device_downloads WHERE device_id = :d")) {
      c.requests = static_cast<uint64_t>(requests);
      c.bytes = static_cast<uint64_t>(bytes);
      c.resumes = static_cast<uint64_t>(resumes);
    }
    return c;
  });
}

void SociStore::add_audit(const AuditEvent& e) {
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

std::vector<AuditEvent> SociStore::audit_log(size_t limit) {
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

}  // namespace ota::server::store_detail
