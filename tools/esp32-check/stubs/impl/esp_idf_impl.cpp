// No-op definitions of every ESP-IDF function the stand-in headers
// declare, so that tools/esp32-check can link the ESP32 glue, the core and
// the examples into host executables: an undefined symbol (a call to
// something no header declares, or a port function nobody defined) then
// fails the link. Never run on a device, and never run as a test.
#include "esp_err.h"
#include "esp_event.h"
#include "esp_http_client.h"
#include "esp_log.h"
#include "esp_netif.h"
#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "esp_system.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "esp_wifi_default.h"
#include "freertos/task.h"
#include "nvs.h"
#include "nvs_flash.h"

#include <stdlib.h>

extern "C" {

const char *esp_err_to_name(esp_err_t) { return "ESP_FAIL"; }

const esp_partition_t* esp_partition_find_first(esp_partition_type_t, esp_partition_subtype_t, const char*) { return nullptr; }
esp_err_t esp_partition_read(const esp_partition_t*, size_t, void*, size_t) { return ESP_FAIL; }
esp_err_t esp_partition_write(const esp_partition_t*, size_t, const void*, size_t) { return ESP_FAIL; }
esp_err_t esp_partition_erase_range(const esp_partition_t*, size_t, size_t) { return ESP_FAIL; }
esp_err_t esp_partition_mmap(const esp_partition_t*, size_t, size_t, esp_partition_mmap_memory_t, const void**,
                             esp_partition_mmap_handle_t*) { return ESP_FAIL; }

esp_err_t esp_ota_set_boot_partition(const esp_partition_t*) { return ESP_FAIL; }
const esp_partition_t* esp_ota_get_running_partition(void) { return nullptr; }
esp_err_t esp_ota_mark_app_valid_cancel_rollback(void) { return ESP_FAIL; }
esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void) { return ESP_FAIL; }
esp_err_t esp_ota_get_state_partition(const esp_partition_t*, esp_ota_img_states_t*) { return ESP_FAIL; }

esp_http_client_handle_t esp_http_client_init(const esp_http_client_config_t*) { return nullptr; }
esp_err_t esp_http_client_set_header(esp_http_client_handle_t, const char*, const char*) { return ESP_FAIL; }
esp_err_t esp_http_client_open(esp_http_client_handle_t, int) { return ESP_FAIL; }
int esp_http_client_write(esp_http_client_handle_t, const char*, int) { return -1; }
int64_t esp_http_client_fetch_headers(esp_http_client_handle_t) { return -1; }
bool esp_http_client_is_chunked_response(esp_http_client_handle_t) { return false; }
int esp_http_client_read(esp_http_client_handle_t, char*, int) { return -1; }
int esp_http_client_get_status_code(esp_http_client_handle_t) { return 0; }
bool esp_http_client_is_complete_data_received(esp_http_client_handle_t) { return false; }
esp_err_t esp_http_client_get_and_clear_last_tls_error(esp_http_client_handle_t, int*, int*) { return ESP_FAIL; }
esp_err_t esp_http_client_cleanup(esp_http_client_handle_t) { return ESP_OK; }

esp_err_t nvs_open(const char*, nvs_open_mode_t, nvs_handle_t*) { return ESP_FAIL; }
esp_err_t nvs_set_blob(nvs_handle_t, const char*, const void*, size_t) { return ESP_FAIL; }
esp_err_t nvs_get_blob(nvs_handle_t, const char*, void*, size_t*) { return ESP_FAIL; }
esp_err_t nvs_erase_key(nvs_handle_t, const char*) { return ESP_FAIL; }
esp_err_t nvs_commit(nvs_handle_t) { return ESP_FAIL; }
esp_err_t nvs_flash_init(void) { return ESP_FAIL; }
esp_err_t nvs_flash_erase(void) { return ESP_FAIL; }

void esp_fill_random(void*, size_t) {}
void esp_restart(void) { abort(); }
int64_t esp_timer_get_time(void) { return 0; }
void vTaskDelay(const TickType_t) {}
void esp_log_write(esp_log_level_t, const char*, const char*, ...) {}

esp_event_base_t const WIFI_EVENT = "WIFI_EVENT";
esp_event_base_t const IP_EVENT = "IP_EVENT";
esp_err_t esp_event_loop_create_default(void) { return ESP_FAIL; }
esp_err_t esp_event_handler_register(esp_event_base_t, int32_t, esp_event_handler_t, void*) { return ESP_FAIL; }
esp_err_t esp_netif_init(void) { return ESP_FAIL; }
esp_netif_t* esp_netif_create_default_wifi_sta(void) { return nullptr; }
esp_err_t esp_wifi_init(const wifi_init_config_t*) { return ESP_FAIL; }
esp_err_t esp_wifi_set_mode(wifi_mode_t) { return ESP_FAIL; }
esp_err_t esp_wifi_set_config(wifi_interface_t, wifi_config_t*) { return ESP_FAIL; }
esp_err_t esp_wifi_start(void) { return ESP_FAIL; }
esp_err_t esp_wifi_connect(void) { return ESP_FAIL; }

}  // extern "C"
