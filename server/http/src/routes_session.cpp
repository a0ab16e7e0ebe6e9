// SPDX-License-Identifier: Apache-2.0
//
// /api/v1/session: the console's login with the admin token, kept as an
// HttpOnly, SameSite=Strict cookie (Secure over TLS or --secure-cookies) and a CSRF
// token the page sends back in X-CSRF-Token (docs/server.md, Console
// sessions). The API's bearer token works as before.
#include "route_util.h"

namespace ota::server::routes_detail {

namespace {

std::string session_cookie(const ServerContext& ctx, const std::string& value, int64_t max_age) {
  std::string c = std::string(kSessionCookie) + "=" + value + "; Path=/; Max-Age=" + std::to_string(max_age) +
                  "; HttpOnly; SameSite=Strict";
  if (ctx.secure_cookies) c += "; Secure";
  return c;
}

Reply reply_session(const Request& req, restinio::http_status_line_t status, const std::string& cookie,
                    const nlohmann::json& body) {
  auto r = respond(req, std::move(status));
  r.append_header(http_field::content_type, "application/json");
  r.append_header(http_field::cache_control, "no-store");
  if (!cookie.empty()) r.append_header(http_field::set_cookie, cookie);
  return r.set_body(body.dump() + "\n").done();
}

nlohmann::json session_json(const std::string& actor, const std::string& csrf, int64_t expires_at) {
  return {{"actor", actor}, {"csrf_token", csrf}, {"expires_at", expires_at}};
}

}  // namespace

void add_session_routes(MeteredRouter& r, ServerContext& ctx) {
  // Log in: {"token": "<admin token>"}.
  r.post("/api/v1/session", guarded([&ctx](const Request& req, auto) {
           nlohmann::json body = object_body(req, "{\"token\": \"<admin token>\"}");
           std::optional<std::string> token = optional_string(body, "token");
           if (!token || token->empty() || token->size() > 1024 || !ctx.admin.check("Bearer " + *token))
             throw ServiceError(401, "unauthorized", "wrong admin token");
           SessionService::Login l = ctx.sessions.create("admin");
           return reply_session(req, restinio::status_created(),
                                session_cookie(ctx, l.id, SessionService::kLifetime),
                                session_json("admin", l.csrf_token, l.expires_at));
         }));
  // The session of the cookie: a page reloaded gets its CSRF token again.
  r.get("/api/v1/session", guarded([&ctx](const Request& req, auto) {
          auto s = ctx.sessions.find(cookie_value(req, kSessionCookie));
          if (!s) throw ServiceError(401, "unauthorized", "no console session: log in");
          return reply_session(req, restinio::status_ok(), "", session_json(s->actor, s->csrf_token, s->expires_at));
        }));
  // Log out: the session goes from the database, the cookie from the browser.
  r.del("/api/v1/session", guarded([&ctx](const Request& req, auto) {
          const std::string id = cookie_value(req, kSessionCookie);
          auto s = ctx.sessions.find(id);
          if (!s) throw ServiceError(401, "unauthorized", "no console session");
          const auto& h = req->header();
          if (!SessionService::csrf_ok(*s, h.has_field("X-CSRF-Token") ? std::string(h.get_field("X-CSRF-Token")) : ""))
            throw ServiceError(403, "csrf_required", "logging out needs the session's X-CSRF-Token header");
          ctx.sessions.end(id);
          return reply_session(req, restinio::status_ok(), session_cookie(ctx, "", 0), {{"status", "logged_out"}});
        }));
}

}  // namespace ota::server::routes_detail
