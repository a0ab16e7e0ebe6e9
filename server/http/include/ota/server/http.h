// The HTTP front of ota-server: RESTinio on Asio, a thread pool, request
// limits and timeouts, JSON helpers. Handlers stay thin: parse, call a
// service, render (STYLE.md "For the server").
#ifndef OTA_SERVER_HTTP_H
#define OTA_SERVER_HTTP_H

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <restinio/all.hpp>

namespace ota::server {

using Router = restinio::router::express_router_t<>;

// Thread-safe traits (strands) for a pool of I/O threads.
struct ServerTraits : public restinio::default_traits_t {
  using request_handler_t = Router;
};

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

// Starts the server on its own thread pool; throws std::system_error (or
// RESTinio's exception) when the address cannot be bound or the TLS files
// cannot be loaded. TLS accepts TLS 1.2 and 1.3 only.
RunningServer start_http(const HttpConfig& config, std::unique_ptr<Router> router);

// The body limit every route enforces (set once from HttpConfig at start).
void set_body_limit(uint64_t bytes);
uint64_t body_limit();

Reply reply_json(const Request& req, restinio::http_status_line_t status, const nlohmann::json& body);
// {"error": {"code": code, "message": message}}
Reply reply_error(const Request& req, restinio::http_status_line_t status, const std::string& code,
                  const std::string& message);

}  // namespace ota::server

#endif  // OTA_SERVER_HTTP_H
