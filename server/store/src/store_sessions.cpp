// SPDX-License-Identifier: Apache-2.0
//
// Console sessions (see store.h SessionRecord): by the SHA-256 of the id.
#include "soci_store.h"

namespace ota::server::store_detail {

bool SociStore::insert_session(const SessionRecord& s) {
  return run("insert_session", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    const long long created = s.created_at, expires = s.expires_at;
    Query q(sql);
    q.use(s.id_sha256_hex, "i").use(s.csrf_token, "c").use(s.actor, "a").use(created, "t").use(expires, "e")
        .run("INSERT INTO sessions (id_sha256_hex, csrf_token, actor, created_at, expires_at)"
             " VALUES (:i, :c, :a, :t, :e) ON CONFLICT (id_sha256_hex) DO NOTHING");
    if (q.affected_rows() == 0) return false;
    tr.commit();
    return true;
  });
}

std::optional<SessionRecord> SociStore::session(const std::string& id_sha256_hex) {
  return run("session", [&](soci::session& sql) -> std::optional<SessionRecord> {
    SessionRecord s;
    long long created = 0, expires = 0;
    if (!Query(sql)
             .into(s.id_sha256_hex)
             .into(s.csrf_token)
             .into(s.actor)
             .into(created)
             .into(expires)
             .use(id_sha256_hex, "i")
             .run("SELECT id_sha256_hex, csrf_token, actor, created_at, expires_at FROM sessions"
                  " WHERE id_sha256_hex = :i"))
      return std::nullopt;
    s.created_at = created;
    s.expires_at = expires;
    return s;
  });
}

bool SociStore::delete_session(const std::string& id_sha256_hex) {
  return run("delete_session", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    Query q(sql);
    q.use(id_sha256_hex, "i").run("DELETE FROM sessions WHERE id_sha256_hex = :i");
    const bool gone = q.affected_rows() > 0;
    tr.commit();
    return gone;
  });
}

size_t SociStore::delete_expired_sessions(int64_t now) {
  return run("delete_expired_sessions", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    const long long at = now;
    Query q(sql);
    q.use(at, "n").run("DELETE FROM sessions WHERE expires_at <= :n");
    const size_t n = static_cast<size_t>(q.affected_rows());
    tr.commit();
    return n;
  });
}

}  // namespace ota::server::store_detail
