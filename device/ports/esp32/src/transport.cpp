// TransportPort on esp_http_client (ESP-IDF 5.x header
// components/esp_http_client/include/esp_http_client.h). Semantics follow
// the simulator's libcurl transport (device/ports/posix/transport.cpp):
// request() returns 0 once a whole response arrived, whatever its status,
// and non-zero when the connection failed, the server certificate was
// refused, a sink callback refused, or the body was cut short.
//
// The server is verified against the provisioning bundle's CA (cert_pem)
// and nothing else; there is no switch to skip verification. https:// without
// a CA is refused here rather than left to esp_http_client's defaults.
//
// One esp_http_client per exchange (init ... cleanup): simple and leak-free
// at the cost of a TLS handshake per request (a poll makes 2-4 requests).
// esp_http_client allocates its buffers and the TLS context on the heap.
#include <limits.h>
#include <string.h>

#include "esp_http_client.h"
#include "esp_log.h"
#include "ota/esp32/ports.h"
#include "text.h"

namespace ota {
namespace esp32 {

namespace {

const char* kTag = "ota-http";

Transport* ctx_of(void* ctx) { return static_cast<Transport*>(ctx); }

int fail(Transport* t, esp_err_t err) {
  t->last_error = err == ESP_OK ? ESP_FAIL : err;
  return -1;
}

// Sends the request and pushes the response into the sink. The caller
// cleans the client up.
int exchange(Transport* t, esp_http_client_handle_t h, const HttpRequest* req, const HttpSink* sink) {
  if (req->bearer) {
    size_t n = 0;
    if (!text::append(t->auth, sizeof t->auth, &n, "Bearer ") ||
        !text::append(t->auth, sizeof t->auth, &n, req->bearer) ||
        esp_http_client_set_header(h, "Authorization", t->auth) != ESP_OK)
      return fail(t, ESP_ERR_INVALID_ARG);
  }
  if (req->content_type && esp_http_client_set_header(h, "Content-Type", req->content_type) != ESP_OK)
    return fail(t, ESP_ERR_INVALID_ARG);
  if (req->range_from > 0) {
    size_t n = 0;
    if (!text::append(t->range, sizeof t->range, &n, "bytes=") ||
        !text::append_u32(t->range, sizeof t->range, &n, req->range_from) ||
        !text::append(t->range, sizeof t->range, &n, "-") ||
        esp_http_client_set_header(h, "Range", t->range) != ESP_OK)
      return fail(t, ESP_ERR_INVALID_ARG);
  }
  if (req->body_len > (size_t)INT_MAX) return fail(t, ESP_ERR_INVALID_SIZE);
  const int body_len = (int)req->body_len;

  // esp_http_client_open() connects (TLS handshake included) and sends the
  // request line and headers, announcing body_len as Content-Length.
  esp_err_t err = esp_http_client_open(h, body_len);
  if (err != ESP_OK) {
    esp_http_client_get_and_clear_last_tls_error(h, &t->last_tls_error, &t->last_tls_flags);
    ESP_LOGW(kTag, "connect to %s failed: %s (tls error -0x%x, verify flags 0x%x)", t->cfg.base_url,
             esp_err_to_name(err), (unsigned)-t->last_tls_error, (unsigned)t->last_tls_flags);
    return fail(t, err);
  }
  for (int sent = 0; sent < body_len;) {
    int n = esp_http_client_write(h, reinterpret_cast<const char*>(req->body) + sent, body_len - sent);
    if (n <= 0) return fail(t, ESP_ERR_HTTP_WRITE_DATA);
    sent += n;
  }
  // esp_http_client.h: fetch_headers returns the Content-Length, 0 without
  // one (or when chunked), -1 on error, -ESP_ERR_HTTP_EAGAIN on a timeout.
  // esp_http_client treats a response without a positive Content-Length as
  // chunked, so such a length is reported as unknown (-1). ota-server always
  // sends Content-Length; a body that only ends by closing the connection is
  // not complete by is_complete_data_received() and counts as a cut.
  int64_t length = esp_http_client_fetch_headers(h);
  if (length < 0) return fail(t, ESP_ERR_HTTP_FETCH_HEADER);
  if (esp_http_client_is_chunked_response(h)) length = -1;
  const int status = esp_http_client_get_status_code(h);
  if (sink->begin && sink->begin(sink->ctx, status, length) != 0) return fail(t, ESP_ERR_INVALID_RESPONSE);
  for (;;) {
    // esp_http_client.h: -1 on errors, -ESP_ERR_HTTP_EAGAIN on a timeout,
    // 0 at the end of the body (or when the peer closed).
    int n = esp_http_client_read(h, reinterpret_cast<char*>(t->buf), (int)sizeof t->buf);
    if (n < 0) {
      ESP_LOGW(kTag, "reading the response failed (%d)", n);
      return fail(t, ESP_FAIL);
    }
    if (n == 0) break;
    if (sink->data && sink->data(sink->ctx, t->buf, (size_t)n) != 0) return fail(t, ESP_ERR_INVALID_RESPONSE);
  }
  // A connection closed before Content-Length bytes (or the last chunk) is
  // a cut: the agent resumes it with Range.
  if (!esp_http_client_is_complete_data_received(h)) {
    ESP_LOGW(kTag, "response cut short");
    return fail(t, ESP_ERR_INVALID_SIZE);
  }
  t->last_error = ESP_OK;
  return 0;
}

int t_request(void* ctx, const HttpRequest* req, const HttpSink* sink) {
  Transport* t = ctx_of(ctx);
  if (!req || !sink || !req->method || !req->path || (req->body_len > 0 && !req->body))
    return fail(t, ESP_ERR_INVALID_ARG);
  esp_http_client_method_t method;
  if (strcmp(req->method, "GET") == 0)
    method = HTTP_METHOD_GET;
  else if (strcmp(req->method, "POST") == 0)
    method = HTTP_METHOD_POST;
  else
    return fail(t, ESP_ERR_NOT_SUPPORTED);

  const char* base = t->cfg.base_url ? t->cfg.base_url : "";
  const bool https = text::starts_with(base, "https://");
  if (!https && !text::starts_with(base, "http://")) return fail(t, ESP_ERR_INVALID_ARG);
  if (https && (!t->cfg.ca_pem || !t->cfg.ca_pem[0])) return fail(t, ESP_ERR_INVALID_STATE);
  size_t n = 0;
  size_t base_len = strlen(base);
  const char* path = req->path;
  if (base_len > 0 && base[base_len - 1] == '/' && path[0] == '/') ++path;
  if (!text::append(t->url, sizeof t->url, &n, base) || !text::append(t->url, sizeof t->url, &n, path))
    return fail(t, ESP_ERR_INVALID_SIZE);

  esp_http_client_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.url = t->url;
  cfg.method = method;
  cfg.timeout_ms = t->cfg.timeout_ms > 0 ? t->cfg.timeout_ms : 15000;
  cfg.user_agent = t->cfg.user_agent ? t->cfg.user_agent : "ota-agent-esp32";
  cfg.disable_auto_redirect = true;  // the device API never redirects
  if (https) {
    // esp_http_client.h: "SSL server certification, PEM format as string";
    // cert_len 0 means NUL-terminated. The server name is checked against
    // the URL's host (skip_cert_common_name_check stays false).
    cfg.cert_pem = t->cfg.ca_pem;
    cfg.transport_type = HTTP_TRANSPORT_OVER_SSL;
  } else {
    cfg.transport_type = HTTP_TRANSPORT_OVER_TCP;
  }
  esp_http_client_handle_t h = esp_http_client_init(&cfg);
  if (!h) return fail(t, ESP_ERR_NO_MEM);
  t->last_tls_error = 0;
  t->last_tls_flags = 0;
  int rc = exchange(t, h, req, sink);
  esp_http_client_cleanup(h);  // closes the connection and frees the client
  return rc;
}

}  // namespace

void transport_init(Transport* t, const TransportConfig* cfg) {
  memset(t, 0, sizeof(*t));
  t->cfg = *cfg;
}

TransportPort transport_port(Transport* t) {
  TransportPort p;
  p.ctx = t;
  p.request = t_request;
  return p;
}

}  // namespace esp32
}  // namespace ota
