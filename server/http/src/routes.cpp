// Routes. Handlers parse, call a service, render; no business logic here.
#include "ota/server/routes.h"

namespace ota::server {

namespace {

using restinio::http_field;

// Runs `handler` only for requests carrying the admin token.
template <typename Handler>
auto admin_only(ServerContext& ctx, Handler handler) {
  return [&ctx, handler](const Request& req, restinio::router::route_params_t params) {
    const auto& h = req->header();
    std::string auth = h.has_field(http_field::authorization)
                           ? std::string(h.get_field(http_field::authorization))
                           : std::string();
    if (!ctx.admin.check(auth))
      return reply_error(req, restinio::status_unauthorized(), "unauthorized",
                         "admin endpoint: send Authorization: Bearer <admin token>");
    return handler(req, std::move(params));
  };
}

nlohmann::json firmware_json(const FirmwareRecord& f) {
  return {{"version", f.version},         {"product", f.product},   {"chip_id", f.chip_id},
          {"size", f.size},               {"sha256", f.sha256_hex}, {"app_version", f.app_version},
          {"security_counter", f.security_counter}, {"created_at", f.created_at}};
}

}  // namespace

std::unique_ptr<Router> make_router(ServerContext& ctx) {
  auto r = std::make_unique<Router>();

  r->http_get("/healthz", [](const Request& req, auto) {
    return reply_json(req, restinio::status_ok(), {{"status", "ok"}});
  });

  r->http_get("/api/v1/firmware", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const FirmwareRecord& f : ctx.store.list_firmware()) list.push_back(firmware_json(f));
                return reply_json(req, restinio::status_ok(), {{"firmware", list}});
              }));

  r->non_matched_request_handler([](const Request& req) {
    return reply_error(req, restinio::status_not_found(), "not_found", "no such endpoint");
  });
  return r;
}

}  // namespace ota::server
