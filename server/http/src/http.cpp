#include "ota/server/http.h"

#include <restinio/tls.hpp>

#include <atomic>
#include <utility>

namespace ota::server {

namespace {

using TlsTraits = restinio::tls_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t, Router>;

template <typename Traits>
auto common_settings(const HttpConfig& c, std::unique_ptr<Router> router) {
  return restinio::server_settings_t<Traits>{}
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
                                                    .max_body_size(2 * c.max_body));
}

// Wraps a RESTinio handle so plain and TLS servers look the same to main.
template <typename Handle>
RunningServer wrap(Handle handle) {
  auto shared = std::make_shared<Handle>(std::move(handle));
  return {[shared] { (*shared)->stop(); }, [shared] { (*shared)->wait(); }};
}

}  // namespace

namespace {
std::atomic<uint64_t> g_body_limit{64ull << 20};
}  // namespace

void set_body_limit(uint64_t bytes) { g_body_limit = bytes; }
uint64_t body_limit() { return g_body_limit; }

RunningServer start_http(const HttpConfig& c, std::unique_ptr<Router> router) {
  set_body_limit(c.max_body);
  if (!c.tls_cert) {
    return wrap(restinio::run_async(restinio::own_io_context(),
                                    common_settings<ServerTraits>(c, std::move(router)), c.threads));
  }
  asio::ssl::context tls(asio::ssl::context::tls_server);
  tls.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                  asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  tls.use_certificate_chain_file(*c.tls_cert);
  tls.use_private_key_file(*c.tls_key, asio::ssl::context::pem);
  auto settings = common_settings<TlsTraits>(c, std::move(router));
  settings.tls_context(std::move(tls));
  return wrap(restinio::run_async(restinio::own_io_context(), std::move(settings), c.threads));
}

namespace {
thread_local std::shared_ptr<MeterState> t_meter;
}  // namespace

MeterScope::MeterScope(std::shared_ptr<MeterState> state) : state_(std::move(state)), previous_(t_meter) {
  t_meter = state_;
}

MeterScope::~MeterScope() { t_meter = previous_; }

std::shared_ptr<MeterState> take_meter() { return std::exchange(t_meter, nullptr); }

restinio::response_builder_t<restinio::restinio_controlled_output_t> respond(const Request& req,
                                                                            restinio::http_status_line_t status) {
  // Counted before the response is sent: a client that reads /metrics
  // next already finds its request there.
  if (MeterState* m = t_meter.get(); m && m->status == 0) {
    m->status = static_cast<int>(status.status_code().raw_code());
    if (m->observer && *m->observer) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m->start).count();
      try {
        (*m->observer)(m->method, m->route, m->status, seconds);
      } catch (...) {
        // Counting must never fail a request.
      }
    }
  }
  return req->create_response(std::move(status));
}

Reply reply_json(const Request& req, restinio::http_status_line_t status, const nlohmann::json& body) {
  return respond(req, std::move(status))
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
