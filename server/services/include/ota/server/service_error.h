// The one error type services throw for a request that cannot be served:
// an HTTP status, a stable machine-readable code and a human message.
// Routes turn it into {"error":{"code","message"}}; services know nothing
// else of HTTP.
#ifndef OTA_SERVER_SERVICE_ERROR_H
#define OTA_SERVER_SERVICE_ERROR_H

#include <stdexcept>
#include <string>

namespace ota::server {

struct ServiceError : std::runtime_error {
  ServiceError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status(status), code(std::move(code)) {}
  int status;        // 400, 401, 404, 409, 413, 422, ...
  std::string code;  // e.g. "invalid_version"
};

}  // namespace ota::server

#endif  // OTA_SERVER_SERVICE_ERROR_H
