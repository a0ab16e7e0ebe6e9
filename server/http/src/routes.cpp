// SPDX-License-Identifier: Apache-2.0
//
// Routes. Handlers parse, call a service, render; no business logic here.
#include "ota/server/routes.h"

#include <map>
#include <optional>

#include "ota/delta/sha256.h"
#include "ota/server/device_query.h"
#include "ota/server/fleet_summary.h"
#include "ota/server/esp_image.h"
#include "ota/server/form.h"
#include "route_util.h"

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

using namespace routes_detail;

nlohmann::json group_json(const GroupService::Group& g) {
  nlohmann::json j = {{"name", g.record.name},
                      {"kind", g.record.filter ? "dynamic" : "static"},
                      {"created_at", g.record.created_at},
                      {"members", g.members},
                      {"member_count", g.members.size()}};
  j["filter"] = g.record.filter ? nlohmann::json(*g.record.filter) : nlohmann::json(nullptr);
  return j;
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

// A patch with what it saves: the full image's size, the firmware-aware
// form's once built (null before), and the bytes the smaller delta saves.
nlohmann::json delta_json(ServerContext& ctx, const PatchRecord& p) {
  nlohmann::json j = patch_json(p);
  std::optional<uint64_t> fa = ctx.checkin.delta_release_size(p.product, p.old_version, p.new_version, true);
  j["firmware_aware_size"] = fa ? nlohmann::json(*fa) : nlohmann::json(nullptr);
  auto target = ctx.store.firmware(p.product, p.new_version);
  if (!target) return j;  // a patch outlives nothing it names, but stay safe
  j["full_size"] = target->size;
  const uint64_t smallest = fa ? std::min(*fa, p.size) : p.size;
  j["saved_bytes"] = target->size > smallest ? target->size - smallest : 0;
  return j;
}

nlohmann::json fleet_json(const FleetSummary& s) {
  auto counts = [](const std::vector<FleetSummary::Count>& v, const char* name_key) {
    nlohmann::json list = nlohmann::json::array();
    for (const FleetSummary::Count& c : v) {
      nlohmann::json j = {{"product", c.product}, {"devices", c.devices}};
      if (name_key) j[name_key] = c.name ? nlohmann::json(*c.name) : nlohmann::json(nullptr);
      list.push_back(j);
    }
    return list;
  };
  nlohmann::json silent = nlohmann::json::array();
  for (const DeviceRecord& d : s.not_seen)
    silent.push_back({{"device_id", d.device_id},
                      {"product", d.product},
                      {"last_seen", d.last_seen ? nlohmann::json(*d.last_seen) : nlohmann::json(nullptr)}});
  nlohmann::json failures = nlohmann::json::array();
  for (const FleetSummary::Failure& f : s.failures)
    failures.push_back({{"device_id", f.event.device_id},
                        {"product", f.product},
                        {"at", f.event.at},
                        {"state", f.event.state},
                        {"detail", f.event.detail}});
  return {{"devices", s.devices},
          {"enabled", s.enabled},
          {"not_seen_after_s", s.not_seen_after_s},
          {"by_product", counts(s.by_product, nullptr)},
          {"by_version", counts(s.by_version, "version")},
          {"by_state", counts(s.by_state, "state")},
          {"not_seen", {{"total", s.not_seen_total}, {"devices", silent}}},
          {"failures", failures}};
}

// The scrape is rendered before its own response counts.
Reply reply_metrics(ServerContext& ctx, const Request& req) {
  std::string body = ctx.metrics_service.scrape();
  return respond(req)
      .append_header(http_field::content_type, "text/plain; version=0.0.4; charset=utf-8")
      .append_header(http_field::cache_control, "no-store")
      .set_body(std::move(body))
      .done();
}

// Release and patch bytes as Metrics counts them, and per device.
std::function<void(uint64_t, uint64_t)> count_download(ServerContext& ctx, const std::string& device, bool full,
                                                       bool firmware_aware) {
  return [&ctx, device, full, firmware_aware](uint64_t first, uint64_t n) {
    ctx.metrics.download(full ? "full" : "delta", firmware_aware, first, n);
    ctx.devices.record_download(device, first, n);
  };
}

}  // namespace

std::unique_ptr<Router> make_metrics_router(ServerContext& ctx) {
  auto router = std::make_unique<Router>();
  MeteredRouter r(*router, [&ctx](std::string_view method, std::string_view route, int status, double seconds) {
    ctx.metrics.http_request(method, route, status, seconds);
  });
  r.get("/metrics", guarded([&ctx](const Request& req, auto) { return reply_metrics(ctx, req); }));
  r.unmatched([](const Request& req) {
    return reply_error(req, restinio::status_not_found(), "not_found", "this listener serves /metrics only");
  });
  return router;
}

std::unique_ptr<Router> make_router(ServerContext& ctx) {
  auto router = std::make_unique<Router>();
  MeteredRouter r(*router, [&ctx](std::string_view method, std::string_view route, int status, double seconds) {
    ctx.metrics.http_request(method, route, status, seconds);
  });

  r.get("/healthz", [](const Request& req, auto) {
    return reply_json(req, restinio::status_ok(), {{"status", "ok"}});
  });
  // Prometheus metrics (docs/server.md, Metrics): the admin token here;
  // without it on a listener of its own (make_metrics_router).
  r.get("/metrics", admin_only(ctx, [&ctx](const Request& req, auto) { return reply_metrics(ctx, req); }));

  // --- The original endpoints (DESIGN.md §2), now behind the admin token.
  r.post("/upload_firmware/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 const FormField& version = require_field(form, "version");
                 const FormField& file = require_field(form, "file");
                 auto up = ctx.firmware.upload(kDefaultProduct, version.value, bytes_of(file.value), "admin");
                 return reply_json(req, restinio::status_ok(), {{"status", "ok"}, {"stored", up.stored}});
               }));

  r.post("/make_patch/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 std::string old_v = require_field(form, "old_version").value;
                 std::string new_v = require_field(form, "new_version").value;
                 return reply_later(ctx, req, [&ctx, old_v, new_v] {
                   PatchService::Made m = ctx.patches.make(kDefaultProduct, old_v, new_v, "admin");
                   // The versioned check-in's release of the pair too: ready before a device asks.
                   ctx.checkin.prepare_delta_release(kDefaultProduct, old_v, new_v, false);
                   return nlohmann::json{{"status", "ok"}, {"patch", m.patch}, {"signature", m.signature}};
                 });
               }));
  r.post("/instruct_update/", admin_only(ctx, [&ctx](const Request& req, auto) {
                 Form form = parse_form(req);
                 ctx.updates.instruct(require_field(form, "device_id").value,
                                      require_field(form, "old_version").value,
                                      require_field(form, "new_version").value, "admin");
                 return reply_json(req, restinio::status_ok(), {{"status", "update_queued"}});
               }));
  // Device-facing original endpoints: no admin token (the original devices
  // send none); what they serve is signed and encrypted for the device.
  r.get("/check_update/", guarded([&ctx](const Request& req, auto) {
                auto q = query_of(req);
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
  r.get("/get_patch/:old/:new/:device_id", guarded([&ctx](const Request& req, auto params) {
                std::string device = param(params, "device_id");
                Bytes key = ctx.devices.device_key(device);
                // The device's own product's patch. Ranged like the versioned
                // download: a client continuing a staged download gets only
                // the bytes it lacks (the stream is stored, so every request
                // sees the same bytes).
                return reply_ranged(req,
                                    ctx.patches.encrypted_for_device(ctx.devices.get(device).product,
                                                                     param(params, "old"), param(params, "new"),
                                                                     device, key),
                                    count_download(ctx, device, false, false));
              }));
  r.get("/get_signature/:old/:new", guarded([&ctx](const Request& req, auto params) {
                // The default product's, or ?product=P's.
                return reply_bytes(req, ctx.patches.signature(product_or_default(product_query(req)),
                                                              param(params, "old"), param(params, "new")));
              }));

  // --- /api/v1/devices
  r.post("/api/v1/devices", admin_only(ctx, [&ctx](const Request& req, auto) {
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
  r.get("/api/v1/devices", admin_only(ctx, [&ctx](const Request& req, auto) {
                // All devices, or a page: ?filter=EXPR (device_filter.h) &q=TEXT
                // &sort=KEY &offset=N &limit=N (device_query.h).
                auto q = query_of(req);
                DeviceQuery dq;
                if (q.has("filter")) dq.filter = std::string(q["filter"]);
                if (q.has("q")) dq.search = std::string(q["q"]);
                if (q.has("sort")) dq.sort = std::string(q["sort"]);
                if (q.has("offset")) dq.offset = query_count(q, "offset");
                if (q.has("limit")) dq.limit = query_count(q, "limit");
                FleetView view(ctx.store);
                const int64_t now = unix_now();
                DevicePage page = query_devices(view, dq, now);
                nlohmann::json list = nlohmann::json::array();
                for (const DeviceRecord& d : page.devices) list.push_back(device_json(d, view, now));
                return reply_json(req, restinio::status_ok(),
                                  {{"devices", list},
                                   {"total", page.total},
                                   {"offset", dq.offset},
                                   {"limit", dq.limit ? nlohmann::json(*dq.limit) : nlohmann::json(nullptr)}});
              }));
  r.get("/api/v1/devices/:device_id", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
              }));

  // An admin's tags: {"key":"value", "other":null} sets and removes.
  r.put("/api/v1/devices/:device_id/tags", admin_only(ctx, [&ctx](const Request& req, auto params) {
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

  add_rollout_routes(r, ctx);
  add_session_routes(r, ctx);
  add_console_routes(r);

  // --- /api/v1/groups: static (members listed) and dynamic (a filter).
  r.get("/api/v1/groups", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const GroupService::Group& g : ctx.groups.list()) {
                  nlohmann::json j = group_json(g);
                  j.erase("members");  // counts only in the listing
                  list.push_back(j);
                }
                return reply_json(req, restinio::status_ok(), {{"groups", list}});
              }));
  r.post("/api/v1/groups", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = object_body(req, "{\"name\", \"filter\"?}");
                 std::optional<std::string> name = optional_string(body, "name");
                 if (!name) throw ServiceError(400, "bad_json", "expected {\"name\", \"filter\"?}");
                 ctx.groups.create(*name, optional_string(body, "filter"), "admin");
                 return reply_json(req, restinio::status_created(), group_json(ctx.groups.get(*name)));
               }));
  r.get("/api/v1/groups/:name", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(), group_json(ctx.groups.get(param(params, "name"))));
              }));
  r.del("/api/v1/groups/:name", admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.groups.remove(param(params, "name"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));
  r.post("/api/v1/groups/:name/devices", admin_only(ctx, [&ctx](const Request& req, auto params) {
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
  r.del("/api/v1/groups/:name/devices/:device_id",
                 admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.groups.remove_member(param(params, "name"), param(params, "device_id"), "admin");
                   return reply_json(req, restinio::status_ok(), group_json(ctx.groups.get(param(params, "name"))));
                 }));

  r.post("/api/v1/devices/:device_id/disable", admin_only(ctx, [&ctx](const Request& req, auto params) {
                 ctx.devices.set_enabled(param(params, "device_id"), false, "admin");
                 return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
               }));
  r.post("/api/v1/devices/:device_id/enable", admin_only(ctx, [&ctx](const Request& req, auto params) {
                 ctx.devices.set_enabled(param(params, "device_id"), true, "admin");
                 return reply_json(req, restinio::status_ok(), one_device_json(ctx, param(params, "device_id")));
               }));

  // --- /api/v1/audit: every admin action, newest last.
  r.get("/api/v1/audit", admin_only(ctx, [&ctx](const Request& req, auto) {
                auto q = query_of(req);
                size_t limit = 100;
                if (q.has("limit")) {
                  limit = query_count(q, "limit");  // "12abc" is refused, not read as 12
                  if (limit == 0 || limit > 10000) throw ServiceError(400, "bad_query", "limit must be 1..10000");
                }
                nlohmann::json list = nlohmann::json::array();
                for (const AuditEvent& e : ctx.store.audit_log(limit))
                  list.push_back({{"at", e.at}, {"actor", e.actor}, {"action", e.action}, {"detail", e.detail}});
                return reply_json(req, restinio::status_ok(), {{"audit", list}});
              }));

  // --- Device endpoints of the versioned API (device token).
  r.post("/api/v1/devices/:device_id/check-in", guarded([&ctx](const Request& req, auto params) {
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
                 // Answered here, on the I/O thread: a check-in never builds (a
                 // missing delta is queued on the build pool and the device told
                 // to come back), so it costs milliseconds and uses every
                 // request thread.
                 if (tags) ctx.groups.report_tags(device, *tags);
                 CheckInService::Answer a = ctx.checkin.check_in(device, report);
                 ctx.metrics.check_in(a.update                           ? (a.delta ? "delta" : "full")
                                      : a.retry_reason == "building"     ? "building"
                                      : a.retry_after > 0                ? "deferred"
                                                                         : "no_update");
                 nlohmann::json running = a.image_known ? nlohmann::json(a.running_version) : nlohmann::json(nullptr);
                 if (!a.update) {
                   nlohmann::json none = {{"update", false}, {"image_known", a.image_known}, {"running_version", running}};
                   if (a.retry_after > 0) {  // a build under way, or a rollout's download cap
                     none["retry_after"] = a.retry_after;
                     none["retry_reason"] = a.retry_reason;
                   }
                   return reply_json(req, restinio::status_ok(), none);
                 }
                 return reply_json(req, restinio::status_ok(),
                                   {{"update", true},
                                    {"image_known", a.image_known},
                                    {"running_version", running},
                                    {"manifest", delta::to_hex(a.manifest)},
                                    {"target_version", a.target_version},
                                    {"delta", a.delta},
                                    {"firmware_aware", a.firmware_aware},
                                    {"size", a.stream_size},
                                    {"download_url", "/api/v1/devices/" + device + "/releases/" + a.release}});
               }));
  r.get("/api/v1/devices/:device_id/releases/:release", guarded([&ctx](const Request& req, auto params) {
                std::string device = param(params, "device_id");
                ctx.checkin.authenticate(device, header_or_empty(req, http_field::authorization));
                const std::string release = param(params, "release");
                Bytes stream = ctx.checkin.release_stream(device, release);
                ArtifactStore::ReleaseForm form = ArtifactStore::release_form(release);
                return reply_ranged(req, stream, count_download(ctx, device, form.full, form.firmware_aware));
              }));

  r.post("/api/v1/devices/:device_id/status", guarded([&ctx](const Request& req, auto params) {
                 std::string device = param(params, "device_id");
                 ctx.checkin.authenticate(device, header_or_empty(req, http_field::authorization));
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (body.is_discarded() || !body.is_object() || !body.contains("state") || !body["state"].is_string())
                   throw ServiceError(400, "bad_json", "expected {\"state\", \"version\"?, \"detail\"?}");
                 const std::string state = body["state"].get<std::string>();
                 ctx.updates.report_status(device, state, body.value("version", ""), body.value("detail", ""));
                 ctx.metrics.status_report(state);  // a state report_status accepted: one of a few
                 return reply_json(req, restinio::status_ok(), {{"status", "recorded"}});
               }));
  r.get("/api/v1/devices/:device_id/status", admin_only(ctx, [&ctx](const Request& req, auto params) {
                nlohmann::json list = nlohmann::json::array();
                for (const StatusEvent& e : ctx.updates.history(param(params, "device_id")))
                  list.push_back({{"at", e.at}, {"state", e.state}, {"detail", e.detail}});
                return reply_json(req, restinio::status_ok(), {{"history", list}});
              }));

  // --- /api/v1/updates: assign a target version to a device or to every
  // device of a product.
  r.post("/api/v1/updates", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 if (!body.is_discarded() && body.is_object() && body.contains("product") && body["product"].is_string() &&
                     !body.contains("device_id") && body.contains("version") && body["version"].is_string()) {
                   size_t n = ctx.updates.assign_product(body["product"].get<std::string>(),
                                                         body["version"].get<std::string>(), "admin");
                   // The product's deltas to it, most-used base first, before the devices ask.
                   prebuild_later(ctx, body["product"].get<std::string>(), body["version"].get<std::string>());
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
  r.post("/api/v1/patches", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = nlohmann::json::parse(req->body(), nullptr, false);
                 const char* expected = "expected {\"product\"?, \"old_version\", \"new_version\", \"firmware_aware\"?}";
                 if (body.is_discarded() || !body.is_object() || !body.contains("old_version") ||
                     !body["old_version"].is_string() || !body.contains("new_version") || !body["new_version"].is_string())
                   throw ServiceError(400, "bad_json", expected);
                 if (body.contains("firmware_aware") && !body["firmware_aware"].is_boolean())
                   throw ServiceError(400, "bad_json", "firmware_aware must be true or false");
                 const bool firmware_aware = body.value("firmware_aware", false);
                 std::string product = product_or_default(optional_string(body, "product"));
                 std::string old_v = body["old_version"].get<std::string>(), new_v = body["new_version"].get<std::string>();
                 return reply_later(ctx, req, [&ctx, product, old_v, new_v, firmware_aware] {
                   PatchService::Made m = ctx.patches.make(product, old_v, new_v, "admin");
                   // The check-in's releases of the pair: ready before a device asks.
                   ctx.checkin.prepare_delta_release(product, old_v, new_v, false);
                   if (firmware_aware) ctx.checkin.prepare_delta_release(product, old_v, new_v, true);
                   nlohmann::json j = delta_json(ctx, m.record);
                   j["patch"] = m.patch;
                   j["signature"] = m.signature;
                   return j;
                 });
               }));
  r.get("/api/v1/patches", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                const std::optional<std::string> product = product_query(req);
                for (const PatchRecord& p : ctx.patches.list(product)) list.push_back(delta_json(ctx, p));
                // The release builds this server has queued, built or failed since it started.
                nlohmann::json builds = nlohmann::json::array();
                for (const BuildQueue::Job& j : ctx.builds.jobs()) {
                  if (product && j.scope != *product) continue;
                  builds.push_back({{"release", j.key},
                                    {"product", j.scope},
                                    {"label", j.label},
                                    {"state", BuildQueue::state_name(j.state)},
                                    {"devices", j.demand},
                                    {"attempts", j.attempts},
                                    {"error", j.error.empty() ? nlohmann::json(nullptr) : nlohmann::json(j.error)},
                                    {"queued_at", j.queued_at},
                                    {"started_at", j.started_at ? nlohmann::json(j.started_at) : nlohmann::json(nullptr)},
                                    {"finished_at", j.finished_at ? nlohmann::json(j.finished_at) : nlohmann::json(nullptr)},
                                    {"build_seconds", j.state == BuildQueue::State::kReady ? nlohmann::json(j.build_seconds)
                                                                                           : nlohmann::json(nullptr)}});
                }
                return reply_json(req, restinio::status_ok(), {{"patches", list}, {"builds", builds}});
              }));

  // --- /api/v1/status: a summary for `otactl status`.
  r.get("/api/v1/status", admin_only(ctx, [&ctx](const Request& req, auto) {
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

  // --- /api/v1/fleet: the console's overview (fleet_summary.h).
  r.get("/api/v1/fleet", admin_only(ctx, [&ctx](const Request& req, auto) {
                auto q = query_of(req);
                int64_t after = 86400;
                if (q.has("not_seen_after")) after = static_cast<int64_t>(query_count(q, "not_seen_after"));
                return reply_json(req, restinio::status_ok(), fleet_json(summarize_fleet(ctx.store, unix_now(), after)));
              }));

  // --- /api/v1/products: each with its chips and what it holds.
  r.get("/api/v1/products", admin_only(ctx, [&ctx](const Request& req, auto) {
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
  r.get("/api/v1/firmware", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const FirmwareRecord& f : ctx.firmware.list(product_query(req))) list.push_back(firmware_json(f));
                return reply_json(req, restinio::status_ok(), {{"firmware", list}});
              }));
  // Multipart (field "file", optional "product" and "version") or a raw
  // body with ?product= and ?version= (optional: the default product, the
  // image's own version).
  r.post("/api/v1/firmware", admin_only(ctx, [&ctx](const Request& req, auto) {
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
                   auto query = query_of(req);
                   if (query.has("version")) version = std::string(query["version"]);
                   if (query.has("product")) product = std::string(query["product"]);
                   up = ctx.firmware.upload(product_or_default(product), version, bytes_of(req->body()), "admin");
                 }
                 return reply_json(req, up.created ? restinio::status_created() : restinio::status_ok(),
                                   firmware_json(up.record));
               }));
  r.get("/api/v1/firmware/:version", admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(),
                                  firmware_json(ctx.firmware.get(product_or_default(product_query(req)),
                                                                 param(params, "version"))));
              }));
  r.del("/api/v1/firmware/:version", admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.firmware.remove(product_or_default(product_query(req)), param(params, "version"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));
  // The same, with the product in the path.
  r.get("/api/v1/products/:product/firmware", admin_only(ctx, [&ctx](const Request& req, auto params) {
                nlohmann::json list = nlohmann::json::array();
                for (const FirmwareRecord& f : ctx.firmware.list(param(params, "product")))
                  list.push_back(firmware_json(f));
                return reply_json(req, restinio::status_ok(), {{"firmware", list}});
              }));
  r.get("/api/v1/products/:product/firmware/:version",
              admin_only(ctx, [&ctx](const Request& req, auto params) {
                return reply_json(req, restinio::status_ok(),
                                  firmware_json(ctx.firmware.get(param(params, "product"), param(params, "version"))));
              }));
  r.del("/api/v1/products/:product/firmware/:version",
                 admin_only(ctx, [&ctx](const Request& req, auto params) {
                   ctx.firmware.remove(param(params, "product"), param(params, "version"), "admin");
                   return reply_json(req, restinio::status_ok(), {{"status", "deleted"}});
                 }));

  r.get("/api/v1/openapi.json", [](const Request& req, auto) {
    return respond(req)
        .append_header(http_field::content_type, "application/json")
        .set_body(kOpenApiJson)
        .done();
  });
  r.get("/api/v1/docs", [](const Request& req, auto) {
    return respond(req)
        .append_header(http_field::content_type, "text/html; charset=utf-8")
        .set_body(kDocsPage)
        .done();
  });

  r.unmatched([](const Request& req) {
    return reply_error(req, restinio::status_not_found(), "not_found", "no such endpoint");
  });
  return router;
}

}  // namespace ota::server
