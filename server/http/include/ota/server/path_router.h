// SPDX-License-Identifier: Apache-2.0
//
// The server's request router: routes in RESTinio's express syntax
// ("/api/v1/devices/:device_id/check-in", "/console/:path(.+)") matched
// segment by segment, without regular expressions. RESTinio's express
// router runs one std::regex per route until one matches, which cost the
// device check-in, a late route, ~140,000 instructions per request (44 %
// of its CPU, callgrind). The matching rules are the express router's
// defaults, kept so that no client sees a difference:
//   - the path is first normalized as RESTinio does (percent-encoded
//     unreserved characters decoded, e.g. "%41" -> "A"; a malformed escape
//     is a 400 bad_path);
//   - literal text compares ASCII case-insensitively;
//   - ":name" matches one non-empty segment (it must end the pattern or be
//     followed by "/"), ":name(.+)" (last only) the rest of the path,
//     slashes included;
//   - the path may end in one more "/" than the pattern ("/api/v1/devices/"
//     matches "/api/v1/devices"; "/check_update" does not match
//     "/check_update/");
//   - routes are tried in the order they were added, per method.
#ifndef OTA_SERVER_PATH_ROUTER_H
#define OTA_SERVER_PATH_ROUTER_H

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <restinio/all.hpp>

namespace ota::server {

// The values a route's parameters took, by name.
class RouteParams {
 public:
  // The value of parameter `name`; throws std::out_of_range when the route
  // has none of that name (a programming error).
  std::string_view operator[](std::string_view name) const;
  bool has(std::string_view name) const;
  size_t size() const { return values_.size(); }
  void add(std::string name, std::string value) { values_.emplace_back(std::move(name), std::move(value)); }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
};

// One route's pattern. Throws std::invalid_argument for a pattern outside
// the syntax above.
class RoutePattern {
 public:
  explicit RoutePattern(std::string_view pattern);
  // Matches an already normalized path (no query string).
  bool match(std::string_view path, RouteParams& params) const;
  const std::string& text() const { return text_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal (slashes included), or the parameter's name
  };
  std::string text_;
  std::vector<Segment> segments_;
};

class PathRouter {
 public:
  using Request = restinio::request_handle_t;
  using Reply = restinio::request_handling_status_t;
  using Handler = std::function<Reply(const Request&, RouteParams)>;
  using Unmatched = std::function<Reply(const Request&)>;

  void http_get(std::string_view route, Handler h) { add(restinio::http_method_get(), route, std::move(h)); }
  void http_post(std::string_view route, Handler h) { add(restinio::http_method_post(), route, std::move(h)); }
  void http_put(std::string_view route, Handler h) { add(restinio::http_method_put(), route, std::move(h)); }
  void http_delete(std::string_view route, Handler h) { add(restinio::http_method_delete(), route, std::move(h)); }
  void non_matched_request_handler(Unmatched h) { unmatched_ = std::move(h); }

  // RESTinio's request handler.
  Reply operator()(Request req) const;

 private:
  void add(restinio::http_method_id_t method, std::string_view route, Handler h);

  struct Route {
    restinio::http_method_id_t method;
    RoutePattern pattern;
    Handler handler;
  };
  std::vector<Route> routes_;
  Unmatched unmatched_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_PATH_ROUTER_H
