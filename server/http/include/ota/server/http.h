// The HTTP front of ota-server: RESTinio on Asio, one single-threaded server
// per request thread on a shared port, request limits and timeouts, JSON
// helpers. Handlers stay thin: parse, call a
// service, render (STYLE.md "For the server").
#ifndef OTA_SERVER_HTTP_H
#define OTA_SERVER_HTTP_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

#include "ota/server/path_router.h"

namespace ota::server {

using Router = PathRouter;  // express-syntax routes without regular expressions

// A started server, plain or TLS: stop() begins a graceful shutdown,
// wait() returns once it is done. Call each once.
struct RunningServer {
  std::function<void()> stop;
  std::function<void()> wait;
};
using Reply = restinio::request_handling_status_t;
using Request = restinio::request_handle_t;

struct HttpConfig {
  std::string address = "127.0.0.1";
  uint16_t port = 8000;
  size_t threads = 2;
  // Bodies over max_body get 413 with a JSON error; RESTinio itself drops a
  // connection whose body passes twice that (it buffers bodies whole).
  uint64_t max_body = 64ull << 20;  // firmware uploads up to 64 MiB
  std::chrono::seconds read_timeout{30};
  std::chrono::seconds write_timeout{120};
  std::chrono::seconds handle_timeout{60};
  // TLS: PEM certificate chain and private key. Without them the server
  // speaks plain HTTP (for loopback, or behind a TLS proxy).
  std::optional<std::string> tls_cert, tls_key;
};

// Starts config.threads servers, each on a thread of its own, sharing the
// router and the port (SO_REUSEPORT: the kernel spreads connections over
// them; a connection stays on one thread); throws std::system_error (or
// RESTinio's exception) when the address is taken or cannot be bound, or
// the TLS files cannot be loaded. TLS accepts TLS 1.2 and 1.3 only.
RunningServer start_http(const HttpConfig& config, std::unique_ptr<Router> router);

// The body limit every route enforces (set once from HttpConfig at start).
void set_body_limit(uint64_t bytes);
uint64_t body_limit();

// --- Request metering (for /metrics). A MeteredRouter runs each handler
// under a meter naming its route's pattern; the first response built for
// the request with respond() (reply_json and reply_error use it) gives the
// observer the method, the route, the status and the seconds since
// handling began, before the response is sent. A handler that replies
// later from another thread takes the meter with take_meter() and installs
// it there with a MeterScope around its reply.
using ResponseObserver =
    std::function<void(std::string_view method, std::string_view route, int status, double seconds)>;

struct MeterState {
  std::string method, route;
  std::chrono::steady_clock::time_point start;
  std::shared_ptr<const ResponseObserver> observer;
  int status = 0;  // 0 until a response is built (then it is reported)
};

// Makes `state` this thread's meter until destroyed (then the previous one
// is this thread's again).
class MeterScope {
 public:
  explicit MeterScope(std::shared_ptr<MeterState> state);
  ~MeterScope();
  MeterScope(const MeterScope&) = delete;
  MeterScope& operator=(const MeterScope&) = delete;

 private:
  std::shared_ptr<MeterState> state_, previous_;
};
// This thread's meter, detached from it (for a reply on another thread).
std::shared_ptr<MeterState> take_meter();

// req->create_response(status), with the status noted for the meter.
restinio::response_builder_t<restinio::restinio_controlled_output_t> respond(
    const Request& req, restinio::http_status_line_t status = restinio::status_ok());

// The router's registrations, each handler under a meter.
class MeteredRouter {
 public:
  MeteredRouter(Router& router, ResponseObserver observer)
      : router_(router), observer_(std::make_shared<const ResponseObserver>(std::move(observer))) {}
  template <typename Handler>
  void get(const std::string& route, Handler h) {
    router_.http_get(route, wrap("GET", route, std::move(h)));
  }
  template <typename Handler>
  void post(const std::string& route, Handler h) {
    router_.http_post(route, wrap("POST", route, std::move(h)));
  }
  template <typename Handler>
  void put(const std::string& route, Handler h) {
    router_.http_put(route, wrap("PUT", route, std::move(h)));
  }
  template <typename Handler>
  void del(const std::string& route, Handler h) {
    router_.http_delete(route, wrap("DELETE", route, std::move(h)));
  }
  // Requests no route matches, reported as route "unmatched".
  template <typename Handler>
  void unmatched(Handler h) {
    router_.non_matched_request_handler([observer = observer_, h](const Request& req) {
      MeterScope scope(std::make_shared<MeterState>(MeterState{
          std::string(req->header().method().c_str()), "unmatched",
          std::chrono::steady_clock::now(), observer, 0}));
      return h(req);
    });
  }

 private:
  template <typename Handler>
  auto wrap(const char* method, const std::string& route, Handler h) {
    return [observer = observer_, method, route, h](const Request& req, RouteParams params) {
      MeterScope scope(
          std::make_shared<MeterState>(MeterState{method, route, std::chrono::steady_clock::now(), observer, 0}));
      return h(req, std::move(params));
    };
  }
  Router& router_;
  std::shared_ptr<const ResponseObserver> observer_;
};

Reply reply_json(const Request& req, restinio::http_status_line_t status, const nlohmann::json& body);
// {"error": {"code": code, "message": message}}
Reply reply_error(const Request& req, restinio::http_status_line_t status, const std::string& code,
                  const std::string& message);

}  // namespace ota::server

#endif  // OTA_SERVER_HTTP_H
