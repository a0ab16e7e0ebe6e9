// SPDX-License-Identifier: Apache-2.0
//
// Private to ota_http: what the route files (routes.cpp,
// routes_rollouts.cpp) share: service errors as JSON replies, the admin
// check, ranged and deferred replies, request parsing, the JSON of a
// device.
#ifndef OTA_SERVER_ROUTE_UTIL_H
#define OTA_SERVER_ROUTE_UTIL_H

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ota/server/fleet_view.h"
#include "ota/server/routes.h"
#include "ota/server/service_error.h"

namespace ota::server::routes_detail {

using restinio::http_field;

// The status line of an HTTP status code (500 for one not listed).
restinio::http_status_line_t status_line(int code);

// Turns service errors into JSON replies; anything unexpected is a 500
// that names no internals (details go to the server's stderr).
template <typename Handler>
auto guarded(Handler handler) {
  return [handler](const Request& req, RouteParams params) {
    try {
      if (req->body().size() > body_limit())
        throw ServiceError(413, "payload_too_large",
                           "the request body exceeds " + std::to_string(body_limit() >> 20) + " MiB");
      return handler(req, std::move(params));
    } catch (const ServiceError& e) {
      return reply_error(req, status_line(e.status), e.code, e.what());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ota-server: internal error on %s: %s\n",
                   std::string(req->header().path()).c_str(), e.what());
      return reply_error(req, restinio::status_internal_server_error(), "internal",
                         "internal error; see the server log");
    }
  };
}

// Who may use an admin route: a request with the admin token (Authorization:
// Bearer), or one with a console session's cookie; with a cookie, any
// method but GET and HEAD needs the session's X-CSRF-Token too.
enum class AdminCheck { kAllowed, kUnauthorized, kCsrfMissing };
AdminCheck check_admin(ServerContext& ctx, const Request& req);

// Runs `handler` only for requests check_admin() allows: 401 unauthorized,
// 403 csrf_required.
template <typename Handler>
auto admin_only(ServerContext& ctx, Handler handler) {
  return guarded([&ctx, handler](const Request& req, RouteParams params) {
    switch (check_admin(ctx, req)) {
      case AdminCheck::kAllowed:
        break;
      case AdminCheck::kUnauthorized:
        return reply_error(req, restinio::status_unauthorized(), "unauthorized",
                           "admin endpoint: send Authorization: Bearer <admin token>, or log in to the console");
      case AdminCheck::kCsrfMissing:
        return reply_error(req, restinio::status_forbidden(), "csrf_required",
                           "a console session's change needs its X-CSRF-Token header");
    }
    return handler(req, std::move(params));
  });
}

// The console session cookie's name, and the value of cookie `name` in the
// request's Cookie header ("" when absent).
inline constexpr const char* kSessionCookie = "ota_session";
std::string cookie_value(const Request& req, std::string_view name);

std::span<const uint8_t> bytes_of(const std::string& s);
std::string param(const RouteParams& p, const char* name);
std::string header_or_empty(const Request& req, http_field f);
int64_t unix_now();

Reply reply_bytes(const Request& req, const Bytes& bytes);
// Runs `work` on the build pool, ahead of its queued builds, and replies
// from there (an admin asking for a build); the I/O thread is free at once. ServiceErrors become JSON errors as in guarded(). The
// request's meter goes with it.
Reply reply_later(ServerContext& ctx, const Request& req, std::function<nlohmann::json()> work);
// Queues the deltas to `version` of `product` (CheckInService::prebuild)
// from the build pool, so that the admin's request does not wait for the
// device scan; a failure is logged.
void prebuild_later(ServerContext& ctx, const std::string& product, const std::string& version);
// Serves `bytes` honouring a single "Range: bytes=a-b" (also "a-" and "-n"):
// 206 with Content-Range, 416 when the range starts past the end; anything
// else (no Range, several ranges) gets the whole body with 200. `on_sent`
// (if given) hears the first byte and the count of a 200 or 206.
Reply reply_ranged(const Request& req, const Bytes& bytes,
                   const std::function<void(uint64_t first, uint64_t count)>& on_sent = {});

// A request's query parameters (relaxed parsing; 400 bad_query when malformed).
restinio::query_string_params_t query_of(const Request& req);
// A whole number query parameter (at most 9 digits); 400 bad_query else.
size_t query_count(const restinio::query_string_params_t& q, const char* name);
// ?product=P of a request, or nullopt.
std::optional<std::string> product_query(const Request& req);
// A JSON object body, or 400 bad_json naming what was expected.
nlohmann::json object_body(const Request& req, const char* expected);
// A string member of a JSON body, or nullopt; 400 bad_json when it is there
// but not a string.
std::optional<std::string> optional_string(const nlohmann::json& body, const char* key);
// A whole number member of a JSON body, or `fallback`; 400 bad_json when
// it is there but not a non-negative integer up to `max`.
uint64_t optional_count(const nlohmann::json& body, const char* key, uint64_t fallback, uint64_t max);

nlohmann::json chip_json(uint16_t chip_id);
// A device's JSON (see device_json in route_util.cpp), and one device as
// GET /api/v1/devices/{id} shows it, with its active rollout.
nlohmann::json device_json(const DeviceRecord& d, const FleetView& view, int64_t now);
nlohmann::json one_device_json(ServerContext& ctx, const std::string& device_id);

// The rollout routes (routes_rollouts.cpp) and the console's session
// routes (routes_session.cpp).
void add_rollout_routes(MeteredRouter& r, ServerContext& ctx);
void add_session_routes(MeteredRouter& r, ServerContext& ctx);
void add_console_routes(MeteredRouter& r);

}  // namespace ota::server::routes_detail

#endif  // OTA_SERVER_ROUTE_UTIL_H
