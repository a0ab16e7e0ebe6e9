// Routes. Handlers parse, call a service, render; no business logic here.
#include "ota/server/routes.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "ota/delta/sha256.h"
#include "ota/server/esp_image.h"
#include "ota/server/fleet_view.h"
#include "ota/server/form.h"
#include "ota/server/service_error.h"

namespace ota::server {

extern const char* const kOpenApiJson;  // docs/openapi.json, compiled in

namespace {

// A page that renders the OpenAPI document without any external script.
constexpr const char* kDocsPage = R"HTML(<!doctype html>
<html><head><meta charset="utf-8"><title>ota-server API</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}td,th{padding:.3em .8em;text-align:left;
vertical-align:top;border-bottom:1px solid #ddd}code{font-size:1.05em}.m{font-weight:bold;text-transform:uppercase}
</style></head><body><h1 id="t">ota-server API</h1><p id="d"></p><table><thead><tr><th>method</th><th>path</th>
<th>auth</th><th>summary</th><th>responses</th></tr></thead><tbody id="r"></tbody></table>
<p><a href="/api/v1/openapi.json">openapi.json</a></p>
<script>
fetch('/api/v1/openapi.json').then(r=>r.json()).then(s=>{
  document.getElementById('t').textContent=s.info.title+' (v'+s.info.version+')';
  document.getElementById('d').textContent=s.info.description;
  const rows=document.getElementById('r');
  for(const [path,ops] of Object.entries(s.paths)) for(const [m,op] of Object.entries(ops)){
    const tr=document.createElement('tr');
    const cells=[m,path,op.security?'admin':'none',op.summary||'',Object.keys(op.responses).join(' ')];
    cells.forEach((c,i)=>{const td=document.createElement('td');
      if(i==1){const code=document.createElement('code');code.textContent=c;td.appendChild(code);}
      else td.textContent=c; if(i==0) td.className='m'; tr.appendChild(td);});
    rows.appendChild(tr);
  }});
</script></body></html>
)HTML";

using restinio::http_field;

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

// Turns service errors into JSON replies; anything unexpected is a 500
// that names no internals (details go to the server's stderr).
template <typename Handler>
auto guarded(Handler handler) {
  return [handler](const Request& req, restinio::router::route_params_t params) {
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

// Runs `handler` only for requests carrying the admin token.
template <typename Handler>
auto admin_only(ServerContext& ctx, Handler handler) {
  return guarded([&ctx, handler](const Request& req, restinio::router::route_params_t params) {
    const auto& h = req->header();
    std::string auth = h.has_field(http_field::authorization)
                           ? std::string(h.get_field(http_field::authorization))
                           : std::string();
    if (!ctx.admin.check(auth))
      return reply_error(req, restinio::status_unauthorized(), "unauthorized",
                         "admin endpoint: send Authorization: Bearer <admin token>");
    return handler(req, std::move(params));
  });
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string param(const restinio::router::route_params_t& p, const char* name) {
  return std::string(p[name]);
}

Reply reply_bytes(const Request& req, const Bytes& bytes) {
  return req->create_response()
      .append_header(http_field::content_type, "application/octet-stream")
      .append_header(http_field::cache_control, "no-store")
      .set_body(std::string(bytes.begin(), bytes.end()))
      .done();
}

// Runs `work` on the worker pool and replies from there; the I/O thread is
// free at once. ServiceErrors become JSON errors as in guarded().
Reply reply_later(ServerContext& ctx, const Request& req, std::function<nlohmann::json()> work) {
  ctx.worker.post([req, work = std::move(work)] {
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

std::string header_or_empty(const Request& req, http_field f) {
  const auto& h = req->header();
  return h.has_field(f) ? std::string(h.get_field(f)) : std::string();
}

// Serves `bytes` honouring a single "Range: bytes=a-b" (also "a-" and "-n"):
// 206 with Content-Range, 416 when the range starts past the end; anything
// else (no Range, several ranges) gets the whole body with 200.
Reply reply_ranged(const Request& req, const Bytes& bytes) {
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
      return req->create_response(restinio::status_requested_range_not_satisfiable())
          .append_header(http_field::content_range, "bytes */" + std::to_string(size))
          .append_header(http_field::content_type, "application/json")
          .set_body(R"({"error":{"code":"range_not_satisfiable","message":"range starts past the end"}})")
          .done();
    if (ok)
      return req->create_response(restinio::status_partial_content())
          .append_header(http_field::content_type, "application/octet-stream")
          .append_header(http_field::accept_ranges, "bytes")
          .append_header(http_field::content_range, "bytes " + std::to_string(first) + "-" + std::to_string(last) +
                                                        "/" + std::to_string(size))
          .set_body(std::string(bytes.begin() + static_cast<long>(first), bytes.begin() + static_cast<long>(last + 1)))
          .done();
  }
  return req->create_response()
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
// (an admin's over the device's own); groups: static and dynamic.
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
  return j;
}

// One device, as GET /api/v1/devices/{id} shows it.
nlohmann::json one_device_json(ServerContext& ctx, const std::string& device_id) {
  DeviceRecord d = ctx.devices.get(device_id);  // 400 / 404
  return device_json(d, FleetView(ctx.store, device_id), unix_now());
}

nlohmann::json group_json(const GroupService::Group& g) {
  nlohmann::json j = {{"name", g.record.name},
                      {"kind", g.record.filter ? "dynamic" : "static"},
                      {"created_at", g.record.created_at},
                      {"members", g.members},
                      {"member_count", g.members.size()}};
  j["filter"] = g.record.filter ? nlohmann::json(*g.record.filter) : nlohmann::json(nullptr);
  return j;
}

// A JSON object body, or 400 bad_json naming what was expected.
nlohmann::json object_body(const Request& req, const char* expected) {
  nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) throw ServiceError(400, "bad_json", std::string("expected ") + expected);
  return body;
}

nlohmann::json firmware_json(const FirmwareRecord& f) {
  return {{"product", f.product},
          {"version", f.version},
          {"chip_id", f.chip_id},
          {"chip", esp_chip_name(f.chip_id)},
          {"size", f.size},
          {"sha256", f.sha256_hex},
          {"app_version", f.app_version},
          {"security_counter", f.security_counter},
          {"created_at", f.created_at}};
}

nlohmann::json patch_json(const PatchRecord& p) {
  return {{"product", p.product},         {"old_version", p.old_version}, {"new_version", p.new_version},
          {"size", p.size},               {"sha256", p.sha256_hex},       {"device_ram", p.device_ram},
          {"created_at", p.created_at}};
}

// A string member of a JSON body, or nullopt; 400 bad_json when it is there
// but not a string.
std::optional<std::string> optional_string(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_string()) throw ServiceError(400, "bad_json", std::string(key) + " must be a string");
  return body[key].get<std::string>();
}

// ?product=P of a request, or nullopt.
std::optional<std::string> product_query(const Request& req) {
  auto q = restinio::parse_query(req->header().query());
  if (!q.has("product")) return std::nullopt;
  return std::string(q["product"]);
}

}  // namespace

std::unique_ptr<Router> make_router(ServerContext& ctx) {
  auto r = std::make_unique<Router>();

  r->http_get("/healthz", [](const Request& req, auto) {
    return reply_json(req, restinio::status_ok(), {{"status", "ok"}});
  });

  // --- The original endpoints (DESIGN.md §2), now behind the admin token.
  r->http_post("/upload_firmware/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 const FormField& version = require_field(form, "version");
                 const FormField& file = require_field(form, "file");
                 auto up = ctx.firmware.upload(kDefaultProduct, version.value, bytes_of(file.value), "admin");
                 return reply_json(req, restinio::status_ok(), {{"status", "ok"}, {"stored", up.stored}});
               }));

  r->http_post("/make_patch/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 std::string old_v = require_field(form, "old_version").value;
                 std::string new_v = require_field(form, "new_version").value;
                 return reply_later(ctx, req, [&ctx, old_v, new_v] {
                   PatchService::Made m = ctx.patches.make(kDefaultProduct, old_v, new_v, "admin");
                   return nlohmann::json{{"status", "ok"}, {"patch", m.patch}, {"signature", m.signature}};
                 });
               }));
  r->http_post("/instruct_update/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 ctx.updates.instruct(require_field(form, "device_id").value,
                                      require_field(form, "old_version").value,
                                      require_field(form, "new_version").value, "admin");
                 return reply_json(req, restinio::status_ok(), {{"status", "update_queued"}});
               }));
  // Device-facing original endpoints: no admin token (the original devices
  // send none); what they serve is signed and encrypted for the device.
  r->http_get("/check_update/", guarded([&ctx](const Request& req, auto) {
                auto q = restinio::parse_query(req->header().query());
                if (!q.has("device_id") || !q.has("version"))
                  throw ServiceError(400, "missing_field", "check_update needs device_id and version");
                std::string device(q["device_id"]), version(q["version"]);
                UpdateService::Check c = ctx.updates.check(device, version);
                if (!c.available) return reply_json(req, restinio::status_ok(), {{"update_available", false}});
                return reply_json(req, restinio::status_ok(),
                                  {{"update_available", true},
                                   {"old_version", c.old_version},
                                   {"new_version", c.new_version},
                                   {"patch_url", "/get_patch/" + c.old_version + "/" + c.new_version + "/" + device},
                                   {"signature_url", "/get_signature/" + c.old_version + "/" + c.new_version}});
              }));
  r->http_get("/get_patch/:old/:new/:device_id", guarded([&ctx](const Request& req, auto params) {
                std::string device = param(params, "device_id");
                Bytes key = ctx.devices.device_key(device);
                // The device's own product's patch. Ranged like the versioned
                // download: a client continuing a staged download gets only
                // the bytes it lacks (the stream is stored, so every request
                // sees the same bytes).
                return reply_ranged(req, ctx.patches.encrypted_for_device(ctx.devices.get(device).product,
                                                                          param(params, "old"),
                                                                          param(params, "new"), device, key));
              }));
  r->http_get("/get_signature/:old/:new", guarded([&ctx](const Request& req, auto params) {
                // The default product's, or ?product=P's.
                return reply_bytes(req, ctx.patches.signature(product_or_default(product_query(req)),
                                                              param(params, "old"), param(params, "new")));
              }));

  // --- /api/v1/devices
  r->http_post("/api/v1/devices", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (body.is_discarded() || !body.is_object() || !body.contains("device_id") ||
                     !body["device_id"].is_string())
                   throw ServiceError(400, "bad_json",
                                      "expected {\"device_id\": \"...\", \"product\"?: \"...\", \"chip\"?: \"...\"}");
                 DeviceService::Registered reg = ctx.devices.register_device(
                     body["device_id"].get<std::string>(), product_or_default(optional_string(body, "product")),
                     optional_string(body, "chip"), "admin");
                 nlohmann::json j = one_device_json(ctx, reg.record.device_id);
                 // Secrets appear in this one response only (for the provisioning bundle).
                 j["device_key"] = delta::to_hex(reg.device_key);
                 j["device_token"] = reg.device_token;
                 j["server_pub_pem"] = ctx.server_pub_pem;
                 return reply_json(req, restinio::status_created(), j);
               }));
  r->http_get("/api/v1/devices", admin_only(ctx, [&ctx](const Request& req, auto) {
                // All devices, or those ?filter=EXPR matches (device_filter.h).
                nlohmann::json list = nlohmann::json::array();
                FleetView view(ctx.store);
                const int64_t now = unix_now();
                auto q = restinio::parse_query(req->header().query());
                if (q.has("filter")) {
                  for (const DeviceRecord& d : view.matching(DeviceFilter::parse(std::string(q["filter"])), now))
                    list.push_back(device_json(d, view, now));
                } else {
                  for (const DeviceRecord& d : view.devices()) list.push_back(device_json(d, view, now));
                }
                return reply_json(req, restinio::status_ok(), {{"devices", list}});
              }));
  r->http_get("/api/v1/devices/:device_id", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
              }));

  // An admin's tags: {"key":"value", "other":null} sets and removes.
  r->http_put("/api/v1/devices/:device_id/tags", admin_only(ctx, [&ctx](const Request& req, auto params) {
                nlohmann::json body = object_body(req, "{\"key\": \"value\" or null, ...}");
                std::map<std::string, std::optional<std::string>> tags;
                for (const auto& [k, v] : body.items()) {
                  if (v.is_null()) tags[k] = std::nullopt;
                  else if (v.is_string()) tags[k] = v.template get<std::string>();
                  else throw ServiceError(400, "invalid_tag", "tag " + k + ": a string, or null to remove it");
                }
                ctx.groups.set_tags(param(params, "device_id"), tags, "admin");
                return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
              }));

  // --- /api/v1/groups: static (members listed) and dynamic (a filter).
  r->http_get("/api/v1/groups", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const GroupService::Group& g : ctx.groups.list()) {
                  nlohmann::json j = group_json(g);
                  j.erase("members");  // counts only in the listing
                  list.push_back(j);
                }
                return reply_json(req, restinio::status_ok(), {{"groups", list}});
              }));
  r->http_post("/api/v1/groups", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = object_body(req, "{\"name\", \"filter\"?}");
                 std::optional<std::string> name = optional_string(body, "name");
                 if (!name) throw ServiceError(400, "bad_json", "expected {\"name\", \"filter\"?}");
                 ctx.groups.create(*name, optional_string(body, "filter"), "admin");
                 return reply_json(req, restinio::status_created(), group_json(ctx.groups.get(*name)));
               }));
  r->http_get("/api/v1/groups/:name", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(), group_json(ctx.groups.get(param(params, "name"))));
              }));
  r->http_delete("/api/v1/groups/:name", admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.groups.remove(param(params, "name"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));
  r->http_post("/api/v1/groups/:name/devices", admin_only(ctx, [&ctx](const Request& req, auto params) {
                 nlohmann::json body = object_body(req, "{\"device_ids\": [...]}");
                 if (!body.contains("device_ids") || !body["device_ids"].is_array())
                   throw ServiceError(400, "bad_json", "expected {\"device_ids\": [...]}");
                 std::vector<std::string> ids;
                 for (const auto& id : body["device_ids"]) {
                   if (!id.is_string()) throw ServiceError(400, "bad_json", "device ids are strings");
                   ids.push_back(id.get<std::string>());
                 }
                 ctx.groups.add_members(param(params, "name"), ids, "admin");
                 return reply_json(req, restinio::status_ok(), group_json(ctx.groups.get(param(params, "name"))));
               }));
  r->http_delete("/api/v1/groups/:name/devices/:device_id",
                 admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.groups.remove_member(param(params, "name"), param(params, "device_id"), "admin");
                   return reply_json(req, restinio::status_ok(), group_json(ctx.groups.get(param(params, "name"))));
                 }));

  r->http_post("/api/v1/devices/:device_id/disable", admin_only(ctx, [&ctx](const Request& req, auto params) {
                 ctx.devices.set_enabled(param(params, "device_id"), false, "admin");
                 return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
               }));
  r->http_post("/api/v1/devices/:device_id/enable", admin_only(ctx, [&ctx](const Request& req, auto params) {
                 ctx.devices.set_enabled(param(params, "device_id"), true, "admin");
                 return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
               }));

  // --- /api/v1/audit: every admin action, newest last.
  r->http_get("/api/v1/audit", admin_only(ctx, [&ctx](const Request& req, auto) {
                auto q = restinio::parse_query(req->header().query());
                size_t limit = 100;
                if (q.has("limit")) {
                  try {
                    limit = std::stoul(std::string(q["limit"]));
                  } catch (const std::exception&) {
                    throw ServiceError(400, "bad_query", "limit must be a number");
                  }
                  if (limit == 0 || limit > 10000) throw ServiceError(400, "bad_query", "limit must be 1..10000");
                }
                nlohmann::json list = nlohmann::json::array();
                for (const AuditEvent& e : ctx.store.audit_log(limit))
                  list.push_back({{"at", e.at}, {"actor", e.actor}, {"action", e.action}, {"detail", e.detail}});
                return reply_json(req, restinio::status_ok(), {{"audit", list}});
              }));

  // --- Device endpoints of the versioned API (device token).
  r->http_post("/api/v1/devices/:device_id/check-in", guarded([&ctx](const Request& req, auto params) {
                 std::string device = param(params, "device_id");
                 ctx.checkin.authenticate(device, header_or_empty(req, http_field::authorization));
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (body.is_discarded() || !body.is_object() || !body.contains("version") ||
                     !body["version"].is_string() || !body.contains("image_sha256") ||
                     !body["image_sha256"].is_string() || !body.contains("nonce") || !body["nonce"].is_string())
                   throw ServiceError(400, "bad_json",
                                      "expected {\"version\", \"image_sha256\" (hex), \"nonce\" (32 hex)}");
                 CheckInService::Report report;
                 report.version = body["version"].get<std::string>();
                 report.image_sha256_hex = body["image_sha256"].get<std::string>();
                 std::string nonce = body["nonce"].get<std::string>();
                 if (nonce.size() != 32 || nonce.find_first_not_of("0123456789abcdef") != std::string::npos)
                   throw ServiceError(400, "invalid_nonce", "nonce must be 32 lowercase hex characters");
                 for (size_t i = 0; i < 16; ++i)
                   report.nonce[i] = static_cast<uint8_t>(std::stoi(nonce.substr(2 * i, 2), nullptr, 16));
                 if (body.contains("ram_budget")) {
                   const auto& ram = body["ram_budget"];
                   if (!ram.is_number_unsigned() || ram.get<uint64_t>() > UINT32_MAX)
                     throw ServiceError(400, "invalid_ram_budget",
                                        "ram_budget must be a whole number of bytes below 2^32");
                   report.ram_budget = static_cast<uint32_t>(ram.get<uint64_t>());
                 }
                 // Tags the device reports about itself (e.g. its hardware revision).
                 std::optional<std::map<std::string, std::string>> tags;
                 if (body.contains("tags")) {
                   if (!body["tags"].is_object()) throw ServiceError(400, "invalid_tag", "tags must be an object");
                   tags.emplace();
                   for (const auto& [k, v] : body["tags"].items()) {
                     if (!v.is_string()) throw ServiceError(400, "invalid_tag", "tag " + k + ": the value must be a string");
                     (*tags)[k] = v.template get<std::string>();
                   }
                 }
                 return reply_later(ctx, req, [&ctx, device, report, tags] {
                   if (tags) ctx.groups.report_tags(device, *tags);
                   CheckInService::Answer a = ctx.checkin.check_in(device, report);
                   nlohmann::json running = a.image_known ? nlohmann::json(a.running_version) : nlohmann::json(nullptr);
                   if (!a.update)
                     return nlohmann::json{{"update", false}, {"image_known", a.image_known}, {"running_version", running}};
                   return nlohmann::json{{"update", true},
                                         {"image_known", a.image_known},
                                         {"running_version", running},
                                         {"manifest", delta::to_hex(a.manifest)},
                                         {"target_version", a.target_version},
                                         {"delta", a.delta},
                                         {"firmware_aware", a.firmware_aware},
                                         {"size", a.stream_size},
                                         {"download_url", "/api/v1/devices/" + device + "/releases/" + a.release}};
                 });
               }));
  r->http_get("/api/v1/devices/:device_id/releases/:release", guarded([&ctx](const Request& req, auto params) {
                std::string device = param(params, "device_id");
                ctx.checkin.authenticate(device, header_or_empty(req, http_field::authorization));
                return reply_ranged(req, ctx.checkin.release_stream(device, param(params, "release")));
              }));

  r->http_post("/api/v1/devices/:device_id/status", guarded([&ctx](const Request& req, auto params) {
                 std::string device = param(params, "device_id");
                 ctx.checkin.authenticate(device, header_or_empty(req, http_field::authorization));
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (body.is_discarded() || !body.is_object() || !body.contains("state") || !body["state"].is_string())
                   throw ServiceError(400, "bad_json", "expected {\"state\", \"version\"?, \"detail\"?}");
                 ctx.updates.report_status(device, body["state"].get<std::string>(), body.value("version", ""),
                                           body.value("detail", ""));
                 return reply_json(req, restinio::status_ok(), {{"status", "recorded"}});
               }));
  r->http_get("/api/v1/devices/:device_id/status", admin_only(ctx, [&ctx](const Request& req, auto params) {
                nlohmann::json list = nlohmann::json::array();
                for (const StatusEvent& e : ctx.updates.history(param(params, "device_id")))
                  list.push_back({{"at", e.at}, {"state", e.state}, {"detail", e.detail}});
                return reply_json(req, restinio::status_ok(), {{"history", list}});
              }));

  // --- /api/v1/updates: assign a target version to a device or to every
  // device of a product.
  r->http_post("/api/v1/updates", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (!body.is_discarded() && body.is_object() && body.contains("product") && body["product"].is_string() &&
                     !body.contains("device_id") && body.contains("version") && body["version"].is_string()) {
                   size_t n = ctx.updates.assign_product(body["product"].get<std::string>(),
                                                         body["version"].get<std::string>(), "admin");
                   return reply_json(req, restinio::status_created(),
                                     {{"product", body["product"]}, {"version", body["version"]}, {"devices", n}});
                 }
                 if (body.is_discarded() || !body.is_object() || !body.contains("device_id") ||
                     !body["device_id"].is_string() || !body.contains("version") || !body["version"].is_string())
                   throw ServiceError(400, "bad_json",
                                      "expected {\"device_id\" or \"product\": \"...\", \"version\": \"...\"}");
                 std::string device = body["device_id"].get<std::string>();
                 ctx.updates.assign(device, body["version"].get<std::string>(), "admin");
                 auto a = ctx.updates.assignment(device);
                 return reply_json(req, restinio::status_created(),
                                   {{"device_id", a->device_id},
                                    {"product", a->product},
                                    {"version", a->new_version},
                                    {"created_at", a->created_at}});
               }));

  // --- /api/v1/patches: make ahead of time (off the I/O threads, once per
  // pair) and list.
  r->http_post("/api/v1/patches", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (body.is_discarded() || !body.is_object() || !body.contains("old_version") ||
                     !body["old_version"].is_string() || !body.contains("new_version") || !body["new_version"].is_string())
                   throw ServiceError(400, "bad_json", "expected {\"product\"?, \"old_version\", \"new_version\"}");
                 std::string product = product_or_default(optional_string(body, "product"));
                 std::string old_v = body["old_version"].get<std::string>(), new_v = body["new_version"].get<std::string>();
                 return reply_later(ctx, req, [&ctx, product, old_v, new_v] {
                   PatchService::Made m = ctx.patches.make(product, old_v, new_v, "admin");
                   nlohmann::json j = patch_json(m.record);
                   j["patch"] = m.patch;
                   j["signature"] = m.signature;
                   return j;
                 });
               }));
  r->http_get("/api/v1/patches", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const PatchRecord& p : ctx.patches.list(product_query(req))) list.push_back(patch_json(p));
                return reply_json(req, restinio::status_ok(), {{"patches", list}});
              }));

  // --- /api/v1/status: a summary for `otactl status`.
  r->http_get("/api/v1/status", admin_only(ctx, [&ctx](const Request& req, auto) {
                size_t enabled = 0, assigned = 0;
                auto devices = ctx.devices.list();
                for (const auto& d : devices) {
                  enabled += d.enabled;
                  assigned += ctx.updates.assignment(d.device_id).has_value();
                }
                return reply_json(req, restinio::status_ok(),
                                  {{"status", "ok"},
                                   {"products", ctx.firmware.products().size()},
                                   {"firmware", ctx.firmware.list().size()},
                                   {"devices", devices.size()},
                                   {"devices_enabled", enabled},
                                   {"devices_with_assignment", assigned},
                                   {"patches", ctx.store.list_patches().size()}});
              }));

  // --- /api/v1/products: each with its chips and what it holds.
  r->http_get("/api/v1/products", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const ProductSummary& p : ctx.firmware.products()) {
                  nlohmann::json chips = nlohmann::json::array();
                  for (uint16_t c : p.chips) chips.push_back(chip_json(c));
                  list.push_back({{"name", p.name},
                                  {"created_at", p.created_at},
                                  {"chips", chips},
                                  {"firmware", p.firmware},
                                  {"devices", p.devices}});
                }
                return reply_json(req, restinio::status_ok(), {{"products", list}});
              }));

  // --- /api/v1/firmware (of the default product, or ?product=P)
  r->http_get("/api/v1/firmware", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const FirmwareRecord& f : ctx.firmware.list(product_query(req))) list.push_back(firmware_json(f));
                return reply_json(req, restinio::status_ok(), {{"firmware", list}});
              }));
  // Multipart (field "file", optional "product" and "version") or a raw
  // body with ?product= and ?version= (optional: the default product, the
  // image's own version).
  r->http_post("/api/v1/firmware", admin_only(ctx, [&ctx](const Request& req, auto) {
                 const auto& h = req->header();
                 std::string type = h.has_field(http_field::content_type)
                                        ? std::string(h.get_field(http_field::content_type))
                                        : std::string();
                 std::optional<std::string> version, product;
                 FirmwareService::Uploaded up;
                 if (type.rfind("multipart/", 0) == 0) {
                   Form form = parse_form(req);
                   if (auto v = form.find("version"); v != form.end()) version = v->second.value;
                   if (auto p = form.find("product"); p != form.end()) product = p->second.value;
                   up = ctx.firmware.upload(product_or_default(product), version,
                                            bytes_of(require_field(form, "file").value), "admin");
                 } else {
                   auto query = restinio::parse_query(h.query());
                   if (query.has("version")) version = std::string(query["version"]);
                   if (query.has("product")) product = std::string(query["product"]);
                   up = ctx.firmware.upload(product_or_default(product), version, bytes_of(req->body()), "admin");
                 }
                 return reply_json(req, up.created ? restinio::status_created() : restinio::status_ok(),
                                   firmware_json(up.record));
               }));
  r->http_get("/api/v1/firmware/:version", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(),
                                  firmware_json(ctx.firmware.get(product_or_default(product_query(req)),
                                                                 param(params, "version"))));
              }));
  r->http_delete("/api/v1/firmware/:version", admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.firmware.remove(product_or_default(product_query(req)), param(params, "version"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));
  // The same, with the product in the path.
  r->http_get("/api/v1/products/:product/firmware", admin_only(ctx, [&ctx](const Request& req, auto params) {
                nlohmann::json list = nlohmann::json::array();
                for (const FirmwareRecord& f : ctx.firmware.list(param(params, "product")))
                  list.push_back(firmware_json(f));
                return reply_json(req, restinio::status_ok(), {{"firmware", list}});
              }));
  r->http_get("/api/v1/products/:product/firmware/:version",
              admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(),
                                  firmware_json(ctx.firmware.get(param(params, "product"), param(params, "version"))));
              }));
  r->http_delete("/api/v1/products/:product/firmware/:version",
                 admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.firmware.remove(param(params, "product"), param(params, "version"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));

  r->http_get("/api/v1/openapi.json", [](const Request& req, auto) {
    return req->create_response()
        .append_header(http_field::content_type, "application/json")
        .set_body(kOpenApiJson)
        .done();
  });
  r->http_get("/api/v1/docs", [](const Request& req, auto) {
    return req->create_response()
        .append_header(http_field::content_type, "text/html; charset=utf-8")
        .set_body(kDocsPage)
        .done();
  });

  r->non_matched_request_handler([](const Request& req) {
    return reply_error(req, restinio::status_not_found(), "not_found", "no such endpoint");
  });
  return r;
}

}  // namespace ota::server
