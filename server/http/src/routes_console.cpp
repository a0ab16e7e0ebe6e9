// SPDX-License-Identifier: Apache-2.0
//
// The web console: index.html at "/", its scripts and styles under
// /console/. Compiled in (console_assets.h). A strict Content-Security-
// Policy lets the page load only its own files and talk only to this
// server: no inline script, no other origin, no framing.
#include <string_view>

#include "console_assets.h"
#include "route_util.h"

namespace ota::server::routes_detail {

namespace {

constexpr const char* kConsolePolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const char* content_type_of(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

const ConsoleAsset* find_asset(std::string_view path) {
  for (const ConsoleAsset& a : console_assets())
    if (path == a.path) return &a;
  return nullptr;
}

Reply reply_asset(const Request& req, const ConsoleAsset& a) {
  return respond(req)
      .append_header(http_field::content_type, content_type_of(a.path))
      .append_header(http_field::cache_control, "no-cache")
      .append_header("Content-Security-Policy", kConsolePolicy)
      .append_header("X-Content-Type-Options", "nosniff")
      .append_header("Referrer-Policy", "no-referrer")
      .append_header("X-Frame-Options", "DENY")
      .set_body(std::string(a.view()))
      .done();
}

}  // namespace

void add_console_routes(MeteredRouter& r) {
  r.get("/", [](const Request& req, auto) {
    const ConsoleAsset* index = find_asset("index.html");
    if (!index) return reply_error(req, restinio::status_not_found(), "not_found", "this build has no console");
    return reply_asset(req, *index);
  });
  r.get("/console/:path(.+)", [](const Request& req, auto params) {
    const std::string path = param(params, "path");
    const ConsoleAsset* a = path == "index.html" ? nullptr : find_asset(path);
    if (!a) return reply_error(req, restinio::status_not_found(), "not_found", "no such console file");
    return reply_asset(req, *a);
  });
}

}  // namespace ota::server::routes_detail
