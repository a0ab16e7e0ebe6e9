// See ota/esp32/provisioning.h.
#include "ota/esp32/provisioning.h"

#include <string.h>

#include "ota/json_scan.h"
#include "ota/pem.h"

namespace ota {
namespace esp32 {

namespace {

bool is_id(const char* s) {
  if (!*s) return false;
  for (; *s; ++s) {
    char c = *s;
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

void provisioning_init(Provisioning* p) { memset(p, 0, sizeof(*p)); }

Status provisioning_set_device_json(Provisioning* p, const char* json, size_t len) {
  if (!p || !json) return kStatusBadArgument;
  Provisioning tmp;
  memset(&tmp, 0, sizeof tmp);
  if (json_get_string(json, len, "device_id", tmp.device_id, sizeof tmp.device_id, nullptr) != kStatusOk ||
      json_get_string(json, len, "product", tmp.product, sizeof tmp.product, nullptr) != kStatusOk ||
      json_get_string(json, len, "server_url", tmp.server_url, sizeof tmp.server_url, nullptr) != kStatusOk ||
      !is_id(tmp.device_id) || !is_id(tmp.product) || !tmp.server_url[0])
    return kStatusBadResponse;
  memcpy(p->device_id, tmp.device_id, sizeof p->device_id);
  memcpy(p->product, tmp.product, sizeof p->product);
  memcpy(p->server_url, tmp.server_url, sizeof p->server_url);
  p->have |= kHaveDeviceJson;
  return kStatusOk;
}

Status provisioning_set_identity(Provisioning* p, const char* device_id, const char* product,
                                 const char* server_url) {
  if (!p || !device_id || !product || !server_url) return kStatusBadArgument;
  size_t id_len = strlen(device_id);
  size_t product_len = strlen(product);
  size_t url_len = strlen(server_url);
  if (id_len >= sizeof p->device_id || product_len >= sizeof p->product || url_len >= sizeof p->server_url ||
      !is_id(device_id) || !is_id(product) || url_len == 0)
    return kStatusBadResponse;
  memcpy(p->device_id, device_id, id_len + 1);
  memcpy(p->product, product, product_len + 1);
  memcpy(p->server_url, server_url, url_len + 1);
  p->have |= kHaveDeviceJson;
  return kStatusOk;
}

Status provisioning_set_device_key(Provisioning* p, const uint8_t* key, size_t len) {
  if (!p || !key || len != sizeof p->device_key) return kStatusBadArgument;
  memcpy(p->device_key, key, sizeof p->device_key);
  p->have |= kHaveDeviceKey;
  return kStatusOk;
}

Status provisioning_set_token(Provisioning* p, const char* token, size_t len) {
  if (!p || !token) return kStatusBadArgument;
  while (len > 0 && (token[len - 1] == '\n' || token[len - 1] == '\r' || token[len - 1] == ' ')) --len;
  if (len == 0 || len >= sizeof p->token) return kStatusBadArgument;
  for (size_t i = 0; i < len; ++i)
    if (!is_hex(token[i])) return kStatusBadArgument;
  memcpy(p->token, token, len);
  p->token[len] = 0;
  p->have |= kHaveToken;
  return kStatusOk;
}

Status provisioning_set_server_pem(Provisioning* p, const char* pem, size_t len) {
  if (!p || !pem) return kStatusBadArgument;
  uint8_t point[kPublicKeySize];
  Status s = pem_p256_public_key(pem, len, point);
  if (s != kStatusOk) return s;
  memcpy(p->server_public_key, point, sizeof point);
  p->have |= kHaveServerKey;
  return kStatusOk;
}

void provisioning_apply(const Provisioning* p, AgentConfig* cfg) {
  cfg->device_id = p->device_id;
  cfg->product = p->product;
  cfg->token = (p->have & kHaveToken) ? p->token : nullptr;
  memcpy(cfg->device_key, p->device_key, sizeof cfg->device_key);
  memcpy(cfg->server_public_key, p->server_public_key, sizeof cfg->server_public_key);
}

}  // namespace esp32
}  // namespace ota
