/* Stand-in for ESP-IDF components/esp_http_client/include/esp_http_client.h
 * (written from ESP-IDF v5.5.x; the calls used are the same since v5.0,
 * where fetch_headers and get_content_length became int64_t). The config
 * struct lists the members the transport sets, in ESP-IDF's order, with
 * ESP-IDF's types (cert_pem is in the same anonymous union as cert_der);
 * the real struct has more members, all zero-initialised by the port. */
#ifndef OTA_STUB_ESP_HTTP_CLIENT_H
#define OTA_STUB_ESP_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct esp_http_client *esp_http_client_handle_t;

typedef enum {
    HTTP_TRANSPORT_UNKNOWN = 0x0,
    HTTP_TRANSPORT_OVER_TCP,
    HTTP_TRANSPORT_OVER_SSL,
} esp_http_client_transport_t;

typedef enum {
    HTTP_METHOD_GET = 0,
    HTTP_METHOD_POST,
    /* ... PUT, PATCH, DELETE, HEAD and more follow in ESP-IDF */
} esp_http_client_method_t;

typedef struct {
    const char                  *url;
    union {
        const char              *cert_pem;
        const char              *cert_der;
    };
    const char                  *user_agent;
    esp_http_client_method_t    method;
    int                         timeout_ms;
    bool                        disable_auto_redirect;
    esp_http_client_transport_t transport_type;
} esp_http_client_config_t;

#define ESP_ERR_HTTP_BASE               (0x7000)
#define ESP_ERR_HTTP_WRITE_DATA         (ESP_ERR_HTTP_BASE + 3)
#define ESP_ERR_HTTP_FETCH_HEADER       (ESP_ERR_HTTP_BASE + 4)

esp_http_client_handle_t esp_http_client_init(const esp_http_client_config_t *config);
esp_err_t esp_http_client_set_header(esp_http_client_handle_t client, const char *key, const char *value);
esp_err_t esp_http_client_open(esp_http_client_handle_t client, int write_len);
int esp_http_client_write(esp_http_client_handle_t client, const char *buffer, int len);
int64_t esp_http_client_fetch_headers(esp_http_client_handle_t client);
bool esp_http_client_is_chunked_response(esp_http_client_handle_t client);
int esp_http_client_read(esp_http_client_handle_t client, char *buffer, int len);
int esp_http_client_get_status_code(esp_http_client_handle_t client);
bool esp_http_client_is_complete_data_received(esp_http_client_handle_t client);
esp_err_t esp_http_client_get_and_clear_last_tls_error(esp_http_client_handle_t client, int *esp_tls_error_code, int *esp_tls_flags);
esp_err_t esp_http_client_cleanup(esp_http_client_handle_t client);

#ifdef __cplusplus
}
#endif

#endif
