// SPDX-License-Identifier: Apache-2.0
#include "ota/server/path_router.h"

#include <stdexcept>

#include "ota/server/http.h"

namespace ota::server {

namespace {

bool name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

}  // namespace

std::string_view RouteParams::operator[](std::string_view name) const {
  for (const auto& [n, v] : values_)
    if (n == name) return v;
  throw std::out_of_range("no route parameter '" + std::string(name) + "'");
}

bool RouteParams::has(std::string_view name) const {
  for (const auto& [n, v] : values_)
    if (n == name) return true;
  return false;
}

RoutePattern::RoutePattern(std::string_view pattern) : text_(pattern) {
  auto bad = [&](const std::string& why) {
    throw std::invalid_argument("route \"" + text_ + "\": " + why);
  };
  if (pattern.empty() || pattern[0] != '/') bad("must start with /");
  size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] != ':') {
      size_t j = pattern.find(':', i);
      if (j == std::string_view::npos) j = pattern.size();
      const std::string_view literal = pattern.substr(i, j - i);
      if (literal.find_first_of("()*?+\\") != std::string_view::npos) bad("only :name and :name(.+) are supported");
      segments_.push_back({Segment::kLiteral, std::string(literal)});
      i = j;
      continue;
    }
    size_t j = i + 1;
    while (j < pattern.size() && name_char(pattern[j])) ++j;
    if (j == i + 1) bad("a parameter needs a name");
    std::string name(pattern.substr(i + 1, j - i - 1));
    if (pattern.substr(j, 4) == "(.+)") {
      if (j + 4 != pattern.size()) bad(":" + name + "(.+) must end the route");
      segments_.push_back({Segment::kRest, std::move(name)});
      break;
    }
    if (j < pattern.size() && pattern[j] != '/') bad(":" + name + " must be followed by / or end the route");
    segments_.push_back({Segment::kParam, std::move(name)});
    i = j;
  }
}

bool RoutePattern::match(std::string_view path, RouteParams& params) const {
  RouteParams found;
  size_t pos = 0;
  for (const Segment& s : segments_) {
    const std::string_view rest = path.substr(pos);
    switch (s.kind) {
      case Segment::kLiteral:
        if (rest.size() < s.text.size() || !equal_ignoring_case(rest.substr(0, s.text.size()), s.text)) return false;
        pos += s.text.size();
        break;
      case Segment::kParam: {
        const size_t end = std::min(rest.find('/'), rest.size());
        if (end == 0) return false;
        found.add(s.text, std::string(rest.substr(0, end)));
        pos += end;
        break;
      }
      case Segment::kRest:
        if (rest.empty()) return false;
        found.add(s.text, std::string(rest));
        pos = path.size();
        break;
    }
  }
  const std::string_view tail = path.substr(pos);
  if (!tail.empty() && tail != "/") return false;
  params = std::move(found);
  return true;
}

void PathRouter::add(restinio::http_method_id_t method, std::string_view route, Handler h) {
  routes_.push_back({method, RoutePattern(route), std::move(h)});
}

PathRouter::Reply PathRouter::operator()(Request req) const {
  // Normalized as RESTinio's express router does (target_path_holder_t).
  std::string path;
  try {
    const std::string_view original = req->header().path();
    namespace un = restinio::utils::uri_normalization::unreserved_chars;
    path.resize(un::estimate_required_capacity(original));
    if (path.size() != original.size())
      un::normalize_to(original, path.data());
    else
      path.assign(original);
  } catch (const std::exception&) {
    return reply_error(req, restinio::status_bad_request(), "bad_path", "the request path has a malformed %-escape");
  }
  const restinio::http_method_id_t method = req->header().method();
  RouteParams params;
  for (const Route& r : routes_)
    if (r.method == method && r.pattern.match(path, params)) return r.handler(req, std::move(params));
  if (unmatched_) return unmatched_(req);
  return restinio::request_not_handled();
}

}  // namespace ota::server
