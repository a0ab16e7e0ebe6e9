// SPDX-License-Identifier: Apache-2.0
//
// The counts /metrics shows (FleetStats): grouped in the database, so a
// scrape costs a few queries however large the fleet.
#include "soci_store.h"

namespace ota::server::store_detail {

FleetStats SociStore::fleet_stats(int64_t recent_since) {
  FleetStats out = run("fleet_stats", [&](soci::session& sql) {
    FleetStats st;
    {
      std::string product;
      int enabled = 0, seen = 0, assigned = 0;
      long long n = 0;
      Query q(sql);
      q.into(product).into(enabled).into(seen).into(assigned).into(n);
      for (bool more = q.run(
               "SELECT d.product, d.enabled,"
               " CASE WHEN d.last_seen IS NULL THEN 0 ELSE 1 END,"
               " CASE WHEN a.device_id IS NULL THEN 0 ELSE 1 END, COUNT(*)"
               " FROM devices d LEFT JOIN assignments a ON a.device_id = d.device_id"
               " GROUP BY d.product, d.enabled, CASE WHEN d.last_seen IS NULL THEN 0 ELSE 1 END,"
               " CASE WHEN a.device_id IS NULL THEN 0 ELSE 1 END"
               " ORDER BY d.product");
           more; more = q.next())
        st.devices.push_back({product, enabled != 0, seen != 0, assigned != 0, from_db<uint64_t>(n, "device count")});
    }
    auto named = [&](const char* text, std::vector<FleetStats::Named>& into) {
      std::string product, name;
      soci::indicator name_ind = soci::i_ok;
      long long n = 0;
      Query q(sql);
      q.into(product).into(name, name_ind).into(n);
      for (bool more = q.run(text); more; more = q.next())
        into.push_back({product, name_ind == soci::i_null ? std::string() : name, from_db<uint64_t>(n, "count")});
    };
    // Each device's latest status event (the highest seq is the newest).
    named("SELECT d.product, s.state, COUNT(*) FROM status_events s"
          " JOIN (SELECT device_id, MAX(seq) AS latest FROM status_events GROUP BY device_id) l ON s.seq = l.latest"
          " JOIN devices d ON d.device_id = s.device_id"
          " GROUP BY d.product, s.state ORDER BY d.product, s.state",
          st.last_status);
    // The image each device runs, known by its digest (a device on the
    // original endpoints reports none: by the version it reported).
    named("SELECT d.product, f.version, COUNT(*) FROM devices d LEFT JOIN firmware f ON f.product = d.product AND"
          " ((d.running_sha256_hex <> '' AND f.sha256_hex = d.running_sha256_hex) OR"
          "  (d.running_sha256_hex = '' AND f.version = d.running_version))"
          " GROUP BY d.product, f.version ORDER BY d.product, f.version",
          st.running);
    named("SELECT p.name, '', (SELECT COUNT(*) FROM firmware f WHERE f.product = p.name) FROM products p"
          " ORDER BY p.name",
          st.firmware);
    {
      std::string state;
      long long n = 0;
      Query q(sql);
      q.into(state).into(n);
      for (bool more = q.run("SELECT state, COUNT(*) FROM rollouts GROUP BY state ORDER BY state"); more;
           more = q.next())
        st.rollouts.emplace_back(state, from_db<uint64_t>(n, "rollout count"));
    }
    const long long since = recent_since;
    {
      long long rollout = 0;
      int wave = 0, started = 0, done = 0;
      Query q(sql);
      q.into(rollout).into(wave).into(started).into(done).use(since, "since");
      for (bool more = q.run("SELECT w.rollout_id, w.idx, w.started, w.done FROM rollout_waves w"
                             " JOIN rollouts r ON r.id = w.rollout_id"
                             " WHERE r.state NOT IN ('completed', 'aborted') OR r.updated_at >= :since"
                             " ORDER BY w.rollout_id, w.idx");
           more; more = q.next())
        st.waves.push_back({rollout, wave, started != 0, done != 0});
    }
    {
      long long rollout = 0, n = 0;
      int wave = 0;
      std::string state;
      Query q(sql);
      q.into(rollout).into(wave).into(state).into(n).use(since, "since");
      for (bool more = q.run("SELECT m.rollout_id, m.wave, m.state, COUNT(*) FROM rollout_devices m"
                             " JOIN rollouts r ON r.id = m.rollout_id"
                             " WHERE r.state NOT IN ('completed', 'aborted') OR r.updated_at >= :since"
                             " GROUP BY m.rollout_id, m.wave, m.state ORDER BY m.rollout_id, m.wave, m.state");
           more; more = q.next())
        st.members.push_back({rollout, wave, state, from_db<uint64_t>(n, "member count")});
    }
    return st;
  });
  // The headers (few rows) in a call of their own: calls never nest.
  for (RolloutRecord& r : list_rollouts())
    if (rollout_active(r.state) || r.updated_at >= recent_since) out.recent.push_back(std::move(r));
  return out;
}

}  // namespace ota::server::store_detail
