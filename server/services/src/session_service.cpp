// SPDX-License-Identifier: Apache-2.0
#include "ota/server/session_service.h"

#include "ota/delta/sha256.h"
#include "ota/server/crypto.h"
#include "service_util.h"

namespace ota::server {

namespace {

std::string id_hash(std::string_view id) {
  return delta::to_hex(sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(id.data()), id.size())));
}

// A cookie value as create() makes them: 64 lowercase hex characters.
bool well_formed(std::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

SessionService::SessionService(Store& store, Clock clock)
    : store_(store), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

SessionService::Login SessionService::create(const std::string& actor) {
  const int64_t now = clock_();
  store_.delete_expired_sessions(now);  // logins are rare: the table stays small
  for (int attempt = 0; attempt < 4; ++attempt) {
    Login l{delta::to_hex(random_bytes(32)), delta::to_hex(random_bytes(32)), now + kLifetime};
    if (!store_.insert_session({id_hash(l.id), l.csrf_token, actor, now, l.expires_at})) continue;
    store_.add_audit({now, actor, "session.login", "expires_at=" + std::to_string(l.expires_at)});
    return l;
  }
  throw StoreError("store: insert_session: no unused session id");  // 2^-256 odds, four times
}

std::optional<SessionService::Session> SessionService::find(std::string_view id) {
  if (!well_formed(id)) return std::nullopt;
  auto s = store_.session(id_hash(id));
  if (!s || s->expires_at <= clock_()) return std::nullopt;
  return Session{s->actor, s->csrf_token, s->expires_at};
}

bool SessionService::csrf_ok(const Session& s, std::string_view header) {
  if (header.size() != s.csrf_token.size() || header.empty()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < header.size(); ++i) diff |= static_cast<unsigned char>(header[i] ^ s.csrf_token[i]);
  return diff == 0;
}

bool SessionService::end(std::string_view id) {
  if (!well_formed(id)) return false;
  auto s = store_.session(id_hash(id));
  if (!s) return false;
  store_.delete_session(s->id_sha256_hex);
  store_.add_audit({clock_(), s->actor, "session.logout", ""});
  return true;
}

}  // namespace ota::server
