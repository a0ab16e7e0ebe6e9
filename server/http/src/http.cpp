#include "ota/server/http.h"

#include <restinio/tls.hpp>

#include <algorithm>
#include <atomic>
#include <type_traits>
#include <utility>
#include <vector>

namespace ota::server {

namespace {

// One router for every I/O thread's server: it is complete before the first
// request and only read after (handlers keep their own locks).
struct SharedRouter {
  std::shared_ptr<Router> router;
  Reply operator()(Request req) const { return (*router)(std::move(req)); }
};

// Each I/O thread runs a server of its own (io_context, acceptor, timers),
// so a connection stays on one thread and needs no strand.
struct PlainTraits : public restinio::default_single_thread_traits_t {
  using request_handler_t = SharedRouter;
};
using TlsTraits =
    restinio::single_thread_tls_traits_t<restinio::asio_timer_manager_t, restinio::null_logger_t, SharedRouter>;

// SO_REUSEPORT: the I/O threads' acceptors share the port and the kernel
// spreads new connections over them.
using ReusePort = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

template <typename Traits>
auto common_settings(const HttpConfig& c, const std::shared_ptr<Router>& router) {
  return restinio::server_settings_t<Traits>{}
      .address(c.address)
      .port(c.port)
      .request_handler(std::make_unique<SharedRouter>(SharedRouter{router}))
      .acceptor_options_setter([](restinio::acceptor_options_t& options) {
        options.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        options.set_option(ReusePort(true));
      })
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

// SO_REUSEPORT would also let a second server started on this port share
// it silently; so the port is first bound without it (SO_REUSEADDR only,
// which fails while anything listens there) and let go again: a taken port
// fails the start as it always did.
void require_free_port(const HttpConfig& c) {
  asio::io_context io;
  asio::ip::tcp::endpoint ep(asio::ip::make_address(c.address), c.port);
  asio::ip::tcp::acceptor probe(io);
  probe.open(ep.protocol());
  probe.set_option(asio::ip::tcp::acceptor::reuse_address(true));
  probe.bind(ep);  // throws std::system_error (EADDRINUSE) when taken
}

// Starts config.threads single-threaded servers; stopping and waiting act on
// all of them (RESTinio's handles stop their servers when destroyed, so an
// exception part way stops those already started).
template <typename Traits>
RunningServer start_servers(const HttpConfig& c, std::unique_ptr<Router> router,
                            const std::shared_ptr<asio::ssl::context>& tls) {
  require_free_port(c);
  std::shared_ptr<Router> shared(std::move(router));
  using Handle = decltype(restinio::run_async(restinio::own_io_context(),
                                              restinio::server_settings_t<Traits>{}, 1));
  auto handles = std::make_shared<std::vector<Handle>>();
  for (size_t i = 0; i < std::max<size_t>(c.threads, 1); ++i) {
    auto settings = common_settings<Traits>(c, shared);
    if constexpr (!std::is_same_v<Traits, PlainTraits>) settings.tls_context(tls);
    handles->push_back(restinio::run_async(restinio::own_io_context(), std::move(settings), 1));
  }
  return {[handles] {
            for (auto& h : *handles) h->stop();
          },
          [handles] {
            for (auto& h : *handles) h->wait();
          }};
}

}  // namespace

namespace {
std::atomic<uint64_t> g_body_limit{64ull << 20};
}  // namespace

void set_body_limit(uint64_t bytes) { g_body_limit = bytes; }
uint64_t body_limit() { return g_body_limit; }

RunningServer start_http(const HttpConfig& c, std::unique_ptr<Router> router) {
  set_body_limit(c.max_body);
  if (!c.tls_cert) return start_servers<PlainTraits>(c, std::move(router), nullptr);
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
  tls->use_certificate_chain_file(*c.tls_cert);
  tls->use_private_key_file(*c.tls_key, asio::ssl::context::pem);
  return start_servers<TlsTraits>(c, std::move(router), tls);
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
