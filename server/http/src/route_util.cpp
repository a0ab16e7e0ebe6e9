// SPDX-License-Identifier: Apache-2.0
#include "route_util.h"

#include <chrono>

#include "ota/server/esp_image.h"

namespace ota::server::routes_detail {

restinio::http_status_line_t status_line(int code) {
  switch (code) {
    case 400: return restinio::status_bad_request();
    case 401: return restinio::status_unauthorized();
    case 403: return restinio::status_forbidden();
    case 404: return restinio::status_not_found();
    case 409: return restinio::status_conflict();
    case 413: return restinio::status_payload_too_large();
    case 416: return restinio::status_requested_range_not_satisfiable();
    case 422: return restinio::http_status_line_t{restinio::http_status_code_t{422}, "Unprocessable Entity"};
    default: return restinio::status_internal_server_error();
  }
}

std::string cookie_value(const Request& req, std::string_view name) {
  const auto& h = req->header();
  if (!h.has_field(http_field::cookie)) return "";
  const std::string all(h.get_field(http_field::cookie));
  // "a=1; ota_session=...; b=2"
  size_t at = 0;
  while (at < all.size()) {
    size_t end = all.find(';', at);
    if (end == std::string::npos) end = all.size();
    std::string_view pair(all.data() + at, end - at);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return std::string(pair.substr(name.size() + 1));
    at = end + 1;
  }
  return "";
}

AdminCheck check_admin(ServerContext& ctx, const Request& req) {
  const auto& h = req->header();
  if (h.has_field(http_field::authorization))
    return ctx.admin.check(h.get_field(http_field::authorization)) ? AdminCheck::kAllowed : AdminCheck::kUnauthorized;
  const std::string id = cookie_value(req, kSessionCookie);
  if (id.empty()) return AdminCheck::kUnauthorized;
  auto session = ctx.sessions.find(id);
  if (!session) return AdminCheck::kUnauthorized;
  const auto method = h.method();
  if (method == restinio::http_method_get() || method == restinio::http_method_head()) return AdminCheck::kAllowed;
  const std::string csrf = h.has_field("X-CSRF-Token") ? std::string(h.get_field("X-CSRF-Token")) : "";
  return SessionService::csrf_ok(*session, csrf) ? AdminCheck::kAllowed : AdminCheck::kCsrfMissing;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string param(const RouteParams& p, const char* name) {
  return std::string(p[name]);
}

Reply reply_bytes(const Request& req, const Bytes& bytes) {
  return respond(req)
      .append_header(http_field::content_type, "application/octet-stream")
      .append_header(http_field::cache_control, "no-store")
      .set_body(std::string(bytes.begin(), bytes.end()))
      .done();
}

Reply reply_later(ServerContext& ctx, const Request& req, std::function<nlohmann::json()> work) {
  ctx.builds.post_urgent([req, work = std::move(work), meter = take_meter()] {
    MeterScope scope(meter);
    // Replying can itself fail (the client left, the server is stopping):
    // that must never escape the worker thread.
    auto send = [&](auto&& reply) {
      try {
        reply();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "ota-server: reply not sent: %s\n", e.what());
      }
    };
    try {
      nlohmann::json body = work();
      send([&] { reply_json(req, restinio::status_ok(), body); });
    } catch (const ServiceError& e) {
      send([&] { reply_error(req, status_line(e.status), e.code, e.what()); });
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ota-server: internal error on %s: %s\n",
                   std::string(req->header().path()).c_str(), e.what());
      send([&] {
        reply_error(req, restinio::status_internal_server_error(), "internal", "internal error; see the server log");
      });
    }
  });
  return restinio::request_accepted();
}

void prebuild_later(ServerContext& ctx, const std::string& product, const std::string& version) {
  ctx.builds.post_urgent([&ctx, product, version] {
    try {
      ctx.checkin.prebuild(product, version);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ota-server: cannot queue the builds of %s %s: %s\n", product.c_str(), version.c_str(),
                   e.what());
    }
  });
}

std::string header_or_empty(const Request& req, http_field f) {
  const auto& h = req->header();
  return h.has_field(f) ? std::string(h.get_field(f)) : std::string();
}

Reply reply_ranged(const Request& req, const Bytes& bytes,
                   const std::function<void(uint64_t first, uint64_t count)>& on_sent) {
  std::string range = header_or_empty(req, http_field::range);
  const uint64_t size = bytes.size();
  if (range.rfind("bytes=", 0) == 0 && range.find(',') == std::string::npos) {
    std::string spec = range.substr(6);
    auto dash = spec.find('-');
    uint64_t first = 0, last = size ? size - 1 : 0;
    bool ok = dash != std::string::npos;
    try {
      if (ok && dash == 0) {  // suffix: the last n bytes
        uint64_t n = std::stoull(spec.substr(1));
        ok = n > 0;
        first = n >= size ? 0 : size - n;
      } else if (ok) {
        first = std::stoull(spec.substr(0, dash));
        if (dash + 1 < spec.size()) last = std::min<uint64_t>(last, std::stoull(spec.substr(dash + 1)));
        ok = first <= last || first >= size;
      }
    } catch (const std::exception&) {
      ok = false;
    }
    if (ok && first >= size)
      return respond(req, restinio::status_requested_range_not_satisfiable())
          .append_header(http_field::content_range, "bytes */" + std::to_string(size))
          .append_header(http_field::content_type, "application/json")
          .set_body(R"({"error":{"code":"range_not_satisfiable","message":"range starts past the end"}})")
          .done();
    if (ok && on_sent) on_sent(first, last + 1 - first);
    if (ok)
      return respond(req, restinio::status_partial_content())
          .append_header(http_field::content_type, "application/octet-stream")
          .append_header(http_field::accept_ranges, "bytes")
          .append_header(http_field::content_range, "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                                        "/" + std::to_string(size))
          .set_body(std::string(bytes.begin() + static_cast<long>(first), bytes.begin() + static_cast<long>(last + 1)))
          .done();
  }
  if (on_sent) on_sent(0, size);
  return respond(req)
      .append_header(http_field::content_type, "application/octet-stream")
      .append_header(http_field::accept_ranges, "bytes")
      .set_body(std::string(bytes.begin(), bytes.end()))
      .done();
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

nlohmann::json chip_json(uint16_t chip_id) { return {{"id", chip_id}, {"name", esp_chip_name(chip_id)}}; }

// image_known: the server has the image the device reported (by digest);
// running_version: that firmware's version (FleetView::running_version),
// else null; reported_version: the device's own label; tags: effective
// (an admin's over the device's own); groups: static and dynamic;
// last_state: its latest status report's state, null before its first.
nlohmann::json device_json(const DeviceRecord& d, const FleetView& view, int64_t now) {
  std::optional<std::string> running = view.running_version(d);
  nlohmann::json j = {{"device_id", d.device_id},
                      {"product", d.product},
                      {"enabled", d.enabled},
                      {"created_at", d.created_at},
                      {"image_known", view.image_known(d)},
                      {"reported_version", d.running_version},
                      {"running_sha256", d.running_sha256_hex},
                      {"security_counter", d.security_counter},
                      {"tags", view.tags(d.device_id)},
                      {"groups", view.groups(d, now)}};
  j["running_version"] = running ? nlohmann::json(*running) : nlohmann::json(nullptr);
  j["chip"] = d.chip_id ? chip_json(*d.chip_id) : nlohmann::json(nullptr);
  j["last_seen"] = d.last_seen ? nlohmann::json(*d.last_seen) : nlohmann::json(nullptr);
  const std::string state = view.last_state(d.device_id);
  j["last_state"] = state.empty() ? nlohmann::json(nullptr) : nlohmann::json(state);
  return j;
}

// One device, as GET /api/v1/devices/{id} shows it: with the active
// rollout it is in (null when none).
nlohmann::json one_device_json(ServerContext& ctx, const std::string& device_id) {
  DeviceRecord d = ctx.devices.get(device_id);  // 400 / 404
  nlohmann::json j = device_json(d, FleetView(ctx.store, device_id), unix_now());
  DownloadCounts dl = ctx.devices.downloads(device_id);
  j["downloads"] = {{"requests", dl.requests}, {"bytes", dl.bytes}, {"resumes", dl.resumes}};
  auto rollout = ctx.store.rollout_of_device(device_id);
  j["rollout"] = rollout ? nlohmann::json(*rollout) : nlohmann::json(nullptr);
  return j;
}

// A JSON object body, or 400 bad_json naming what was expected.
nlohmann::json object_body(const Request& req, const char* expected) {
  nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw ServiceError(400, "bad_json", std::string("expected ") + expected);
  return body;
}

// A string member of a JSON body, or nullopt; 400 bad_json when it is there
// but not a string.
std::optional<std::string> optional_string(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_string()) throw ServiceError(400, "bad_json", std::string(key) + " must be a string");
  return body[key].get<std::string>();
}

// A request's query parameters. Relaxed: what people type into curl, such
// as ?filter=product=lamp (an unescaped "=" or space in a value), is taken;
// a malformed escape is 400 bad_query, not an internal error.
restinio::query_string_params_t query_of(const Request& req) {
  auto q = restinio::try_parse_query<restinio::parse_query_traits::relaxed>(req->header().query());
  if (!q) throw ServiceError(400, "bad_query", "malformed query string: " + q.error().description());
  return std::move(*q);
}

size_t query_count(const restinio::query_string_params_t& q, const char* name) {
  const std::string v(q[name]);
  if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos)
    throw ServiceError(400, "bad_query", std::string(name) + " must be a whole number, not '" + v + "'");
  return static_cast<size_t>(std::stoul(v));
}

// ?product=P of a request, or nullopt.
std::optional<std::string> product_query(const Request& req) {
  auto q = query_of(req);
  if (!q.has("product")) return std::nullopt;
  return std::string(q["product"]);
}

// A whole number member of a JSON body, or `fallback`; 400 bad_json when
// it is there but not a non-negative integer.
uint64_t optional_count(const nlohmann::json& body, const char* key, uint64_t fallback, uint64_t max) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  if (!body[key].is_number_unsigned() || body[key].get<uint64_t>() > max)
    throw ServiceError(400, "bad_json", std::string(key) + " must be a whole number up to " + std::to_string(max));
  return body[key].get<uint64_t>();
}
}  // namespace ota::server::routes_detail
