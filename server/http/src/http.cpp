#include "ota/server/http.h"

namespace ota::server {

RunningServer start_http(const HttpConfig& c, std::unique_ptr<Router> router) {
  auto settings = restinio::server_settings_t<ServerTraits>{}
                      .address(c.address)
                      .port(c.port)
                      .request_handler(std::move(router))
                      .read_next_http_message_timelimit(c.read_timeout)
                      .write_http_response_timelimit(c.write_timeout)
                      .handle_request_timeout(c.handle_timeout)
                      .incoming_http_msg_limits(restinio::incoming_http_msg_limits_t{}
                                                    .max_url_size(4096u)
                                                    .max_field_name_size(256u)
                                                    .max_field_value_size(8192u)
                                                    .max_field_count(100u)
                                                    .max_body_size(c.max_body));
  return restinio::run_async(restinio::own_io_context(), std::move(settings), c.threads);
}

Reply reply_json(const Request& req, restinio::http_status_line_t status, const nlohmann::json& body) {
  return req->create_response(std::move(status))
      .append_header(restinio::http_field::content_type, "application/json")
      .append_header(restinio::http_field::cache_control, "no-store")
      .set_body(body.dump() + "\n")
      .done();
}

Reply reply_error(const Request& req, restinio::http_status_line_t status, const std::string& code,
                  const std::string& message) {
  return reply_json(req, std::move(status), {{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace ota::server
