// The provisioning bundle (docs/protocol.md §1) turned into the agent's
// configuration, on the device: device.json, device.key, device.token and
// server_pub.pem as the firmware read them (from LittleFS, or compiled in
// from ota_device_config.h). Portable C++17, no heap; the ESP32 examples
// share it so that a bundle is checked the same way everywhere.
#ifndef OTA_ESP32_PROVISIONING_H
#define OTA_ESP32_PROVISIONING_H

#include <stddef.h>
#include <stdint.h>

#include "ota/agent.h"
#include "ota/status.h"

namespace ota {
namespace esp32 {

struct Provisioning {
  char device_id[65];          // [A-Za-z0-9._-]{1,64}
  char product[33];            // [A-Za-z0-9._-]{1,32}
  char server_url[160];        // "https://host:port" as otactl wrote it
  char token[65];              // device.token: hex, for the versioned API
  uint8_t device_key[32];      // device.key
  uint8_t server_public_key[kPublicKeySize];  // server_pub.pem, uncompressed P-256 point
  uint8_t have;                // kHave* bits of the parts set so far
};

enum : uint8_t {
  kHaveDeviceJson = 1,
  kHaveDeviceKey = 2,
  kHaveToken = 4,
  kHaveServerKey = 8,
  kHaveAll = 15,
};

void provisioning_init(Provisioning* p);

// device.json: {"device_id": ..., "server_url": ..., "product": ...}.
// kStatusOk, or kStatusBadResponse when a member is missing, too long or
// (ids) has characters outside [A-Za-z0-9._-].
Status provisioning_set_device_json(Provisioning* p, const char* json, size_t len);

// The same three values given directly (ota_device_config.h's OTA_DEVICE_ID,
// OTA_PRODUCT, OTA_SERVER_URL), with the same checks.
Status provisioning_set_identity(Provisioning* p, const char* device_id, const char* product,
                                 const char* server_url);

// device.key: exactly 32 raw bytes. kStatusOk or kStatusBadArgument.
Status provisioning_set_device_key(Provisioning* p, const uint8_t* key, size_t len);

// device.token: 1..64 hex digits; trailing CR/LF/spaces are ignored.
// kStatusOk or kStatusBadArgument.
Status provisioning_set_token(Provisioning* p, const char* token, size_t len);

// server_pub.pem (ota/pem.h rules). kStatusOk or kStatusBadArgument.
Status provisioning_set_server_pem(Provisioning* p, const char* pem, size_t len);

// Points cfg's identity fields at p (which must outlive the agent) and
// copies the keys: device_id, product, token (null when none was set),
// device_key, server_public_key. Other fields are left as they are.
void provisioning_apply(const Provisioning* p, AgentConfig* cfg);

}  // namespace esp32
}  // namespace ota

#endif  // OTA_ESP32_PROVISIONING_H
