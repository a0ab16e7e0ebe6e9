#include "ota/server/form.h"

#include <restinio/helpers/http_field_parsers/content-disposition.hpp>
#include <restinio/helpers/multipart_body.hpp>

#include "ota/server/service_error.h"

namespace ota::server {

namespace {

namespace mp = restinio::multipart_body;
namespace hfp = restinio::http_field_parsers;

void add(Form& form, std::string name, FormField field) {
  if (!form.emplace(std::move(name), std::move(field)).second)
    throw ServiceError(400, "duplicate_field", "a form field appears twice");
}

}  // namespace

Form parse_form(const Request& req) {
  Form form;
  const auto& h = req->header();
  std::string type = h.has_field(restinio::http_field::content_type)
                         ? std::string(h.get_field(restinio::http_field::content_type))
                         : std::string();
  if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
    auto parsed = restinio::try_parse_query<restinio::parse_query_traits::x_www_form_urlencoded>(
        req->body());
    if (!parsed) throw ServiceError(400, "bad_form", "malformed url-encoded form");
    for (const auto& [k, v] : *parsed) add(form, std::string(k), {std::string(v), {}});
    return form;
  }
  if (type.rfind("multipart/form-data", 0) != 0)
    throw ServiceError(400, "bad_form",
                       "expected a form (multipart/form-data or application/x-www-form-urlencoded)");
  std::string error;
  auto result = mp::enumerate_parts(*req, [&](mp::parsed_part_t part) {
    auto disposition = part.fields.opt_value_of(restinio::http_field::content_disposition);
    if (!disposition) {
      error = "a form part has no Content-Disposition";
      return mp::handling_result_t::terminate_enumeration;
    }
    auto parsed = hfp::content_disposition_value_t::try_parse(*disposition);
    if (!parsed || parsed->value != "form-data") {
      error = "a form part has a malformed Content-Disposition";
      return mp::handling_result_t::terminate_enumeration;
    }
    auto name = hfp::find_first(parsed->parameters, "name");
    if (!name) {
      error = "a form part has no name";
      return mp::handling_result_t::terminate_enumeration;
    }
    FormField field{std::string(part.body.data(), part.body.size()), {}};
    if (auto fn = hfp::find_first(parsed->parameters, "filename")) field.filename = std::string(*fn);
    std::string key(name->data(), name->size());
    if (form.count(key)) {
      error = "form field '" + key + "' appears twice";
      return mp::handling_result_t::terminate_enumeration;
    }
    form.emplace(std::move(key), std::move(field));
    return mp::handling_result_t::continue_enumeration;
  }, "multipart", restinio::string_view_t("form-data"));
  if (!error.empty()) throw ServiceError(400, "bad_form", error);
  if (!result) throw ServiceError(400, "bad_form", "malformed multipart body");
  return form;
}

const FormField& require_field(const Form& form, const std::string& name) {
  auto it = form.find(name);
  if (it == form.end()) throw ServiceError(400, "missing_field", "the form needs a '" + name + "' field");
  return it->second;
}

}  // namespace ota::server
