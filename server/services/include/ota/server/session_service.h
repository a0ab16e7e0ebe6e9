// SPDX-License-Identifier: Apache-2.0
//
// Console sessions: what a browser holds after logging in with the admin
// token, so that the token itself never sits in a page. A session is a
// random 256-bit id (the cookie) and a random CSRF token (sent back by the
// page in X-CSRF-Token on every state-changing request); the database keeps
// the id's SHA-256, the CSRF token, who it is and when it expires, so every
// server instance on the database knows every session and a stolen
// database holds no usable cookie. A session lasts kLifetime from login,
// not renewed by use; logging out deletes it. No HTTP here.
#ifndef OTA_SERVER_SESSION_SERVICE_H
#define OTA_SERVER_SESSION_SERVICE_H

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "ota/server/store.h"

namespace ota::server {

class SessionService {
 public:
  using Clock = std::function<int64_t()>;
  static constexpr int64_t kLifetime = 8 * 3600;
  explicit SessionService(Store& store, Clock clock = {});

  struct Login {
    std::string id;          // the cookie's value: shown to the browser only
    std::string csrf_token;
    int64_t expires_at = 0;
  };
  // A new session for `actor` (who the admin check said it is); audited.
  Login create(const std::string& actor);

  struct Session {
    std::string actor, csrf_token;
    int64_t expires_at = 0;
  };
  // The session with this cookie value, if it exists and has not expired.
  std::optional<Session> find(std::string_view id);
  // Whether `header` (X-CSRF-Token) is the session's token; constant time.
  static bool csrf_ok(const Session& s, std::string_view header);
  // Logs out (audited); false when there was no such session.
  bool end(std::string_view id);

 private:
  Store& store_;
  Clock clock_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_SESSION_SERVICE_H
