// Form bodies as the original endpoints receive them: multipart/form-data
// (curl -F) or application/x-www-form-urlencoded (curl -d).
#ifndef OTA_SERVER_FORM_H
#define OTA_SERVER_FORM_H

#include <map>
#include <optional>
#include <string>

#include "ota/server/http.h"

namespace ota::server {

struct FormField {
  std::string value;                    // the part's bytes (file content for files)
  std::optional<std::string> filename;  // set for file parts
};

using Form = std::map<std::string, FormField>;

// Throws ServiceError 400 bad_form (malformed multipart, unknown content
// type) or 400 duplicate_field.
Form parse_form(const Request& req);

// The field's value, or ServiceError 400 missing_field.
const FormField& require_field(const Form& form, const std::string& name);

}  // namespace ota::server

#endif  // OTA_SERVER_FORM_H
