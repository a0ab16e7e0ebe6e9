// See fake_idf.h.
#include "fake_idf.h"

#include <cstring>

#include "nvs.h"

namespace fake_idf {

namespace {

std::vector<Part> g_parts;
int g_running = 0;
long long g_left = -1;
long long g_bytes = 0;
OtaCalls g_ota;
std::map<std::string, std::vector<uint8_t>> g_nvs;
std::map<std::string, std::vector<uint8_t>> g_nvs_pending;
std::vector<std::string> g_namespaces;

Part* of(const esp_partition_t* p) {
  for (auto& q : g_parts)
    if (&q.info == p) return &q;
  return nullptr;
}

// How many of n bytes the power allows; false when it is (or goes) off.
bool draw(size_t n, size_t* granted) {
  if (g_left < 0) {
    *granted = n;
    g_bytes += (long long)n;
    return true;
  }
  *granted = (size_t)(g_left < (long long)n ? g_left : (long long)n);
  g_left -= (long long)*granted;
  g_bytes += (long long)*granted;
  return *granted == n && g_left > 0;
}

void add(const char* label, esp_partition_type_t type, int subtype, uint32_t address, uint32_t size) {
  Part p;
  std::memset(&p.info, 0, sizeof p.info);
  p.info.type = type;
  p.info.subtype = (esp_partition_subtype_t)subtype;
  p.info.address = address;
  p.info.size = size;
  p.info.erase_size = 4096;
  std::strncpy(p.info.label, label, sizeof p.info.label - 1);
  p.data.assign(size, 0xFF);
  g_parts.push_back(std::move(p));
}

}  // namespace

void reset(uint32_t otastate_size, int running_slot) {
  g_parts.clear();
  g_parts.reserve(3);  // pointers into it are handed out
  add("ota_0", ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_0, 0x10000, 0x10000);
  add("ota_1", ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_1, 0x20000, 0x10000);
  if (otastate_size) add("otastate", (esp_partition_type_t)0x40, 0, 0x30000, otastate_size);
  g_running = running_slot;
  g_left = -1;
  g_bytes = 0;
  g_ota = OtaCalls();
  g_nvs.clear();
  g_nvs_pending.clear();
  g_namespaces.clear();
}

Part* part(const char* label) {
  for (auto& p : g_parts)
    if (std::strcmp(p.info.label, label) == 0) return &p;
  return nullptr;
}

void cut_after(long long bytes) { g_left = bytes; }
void power_on() { g_left = -1; }
long long flash_bytes() { return g_bytes; }
OtaCalls& ota() { return g_ota; }
std::map<std::string, std::vector<uint8_t>>& nvs() { return g_nvs; }

}  // namespace fake_idf

using namespace fake_idf;

extern "C" {

const char* esp_err_to_name(esp_err_t) { return "ESP_ERR"; }

const esp_partition_t* esp_partition_find_first(esp_partition_type_t type, esp_partition_subtype_t subtype,
                                                const char* label) {
  for (auto& p : g_parts) {
    if (p.info.type != type) continue;
    if (subtype != ESP_PARTITION_SUBTYPE_ANY && p.info.subtype != subtype) continue;
    if (label && std::strcmp(label, p.info.label) != 0) continue;
    return &p.info;
  }
  return nullptr;
}

esp_err_t esp_partition_read(const esp_partition_t* partition, size_t off, void* dst, size_t size) {
  Part* p = of(partition);
  if (!p || g_left == 0) return ESP_FAIL;
  if (off > p->data.size() || size > p->data.size() - off) return ESP_ERR_INVALID_SIZE;
  std::memcpy(dst, p->data.data() + off, size);
  return ESP_OK;
}

esp_err_t esp_partition_write(const esp_partition_t* partition, size_t off, const void* src, size_t size) {
  Part* p = of(partition);
  if (!p || g_left == 0) return ESP_FAIL;
  if (off > p->data.size() || size > p->data.size() - off) return ESP_ERR_INVALID_SIZE;
  size_t granted;
  bool ok = draw(size, &granted);
  const uint8_t* s = static_cast<const uint8_t*>(src);
  for (size_t i = 0; i < granted; ++i) p->data[off + i] &= s[i];  // NOR: bits only clear
  return ok || granted == size ? ESP_OK : ESP_FAIL;
}

esp_err_t esp_partition_erase_range(const esp_partition_t* partition, size_t off, size_t size) {
  Part* p = of(partition);
  if (!p || g_left == 0) return ESP_FAIL;
  if (off % 4096 || size % 4096) return ESP_ERR_INVALID_ARG;
  if (off > p->data.size() || size > p->data.size() - off) return ESP_ERR_INVALID_SIZE;
  size_t granted;
  bool ok = draw(size, &granted);
  granted -= granted % 4096;  // a sector is erased whole or not at all
  std::memset(p->data.data() + off, 0xFF, granted);
  return ok || granted == size ? ESP_OK : ESP_FAIL;
}

esp_err_t esp_partition_mmap(const esp_partition_t* partition, size_t off, size_t, esp_partition_mmap_memory_t,
                             const void** out, esp_partition_mmap_handle_t* handle) {
  Part* p = of(partition);
  if (!p) return ESP_FAIL;
  *out = p->data.data() + off;
  *handle = 1;
  return ESP_OK;
}

const esp_partition_t* esp_ota_get_running_partition(void) {
  return esp_partition_find_first(ESP_PARTITION_TYPE_APP,
                                  g_running ? ESP_PARTITION_SUBTYPE_APP_OTA_1 : ESP_PARTITION_SUBTYPE_APP_OTA_0,
                                  nullptr);
}
esp_err_t esp_ota_set_boot_partition(const esp_partition_t* p) {
  g_ota.boot = p;
  return ESP_OK;
}
esp_err_t esp_ota_mark_app_valid_cancel_rollback(void) {
  ++g_ota.mark_valid;
  return ESP_OK;
}
esp_err_t esp_ota_mark_app_invalid_rollback_and_reboot(void) {
  ++g_ota.rollback;
  return ESP_ERR_NOT_FOUND;  // as when no other app can boot: it returns
}
esp_err_t esp_ota_get_state_partition(const esp_partition_t*, esp_ota_img_states_t* st) {
  if (!g_ota.running_state_found) return ESP_ERR_NOT_FOUND;
  *st = g_ota.running_state;
  return ESP_OK;
}

esp_err_t nvs_open(const char* name, nvs_open_mode_t, nvs_handle_t* out) {
  g_namespaces.push_back(name);
  *out = (nvs_handle_t)g_namespaces.size();
  return ESP_OK;
}
static std::string nvs_key(nvs_handle_t h, const char* key) { return g_namespaces.at(h - 1) + "/" + key; }
esp_err_t nvs_set_blob(nvs_handle_t h, const char* key, const void* value, size_t length) {
  if (g_left == 0) return ESP_FAIL;
  const uint8_t* v = static_cast<const uint8_t*>(value);
  g_nvs_pending[nvs_key(h, key)] = std::vector<uint8_t>(v, v + length);
  return ESP_OK;
}
esp_err_t nvs_get_blob(nvs_handle_t h, const char* key, void* out, size_t* length) {
  auto it = g_nvs.find(nvs_key(h, key));
  if (it == g_nvs.end()) return ESP_ERR_NVS_NOT_FOUND;
  if (!out) {
    *length = it->second.size();
    return ESP_OK;
  }
  if (*length < it->second.size()) return ESP_FAIL;
  std::memcpy(out, it->second.data(), it->second.size());
  *length = it->second.size();
  return ESP_OK;
}
esp_err_t nvs_erase_key(nvs_handle_t h, const char* key) {
  if (g_left == 0) return ESP_FAIL;
  const std::string k = nvs_key(h, key);
  g_nvs_pending.erase(k);
  return g_nvs.erase(k) ? ESP_OK : ESP_ERR_NVS_NOT_FOUND;
}
esp_err_t nvs_commit(nvs_handle_t) {
  if (g_left == 0) return ESP_FAIL;
  for (auto& kv : g_nvs_pending) g_nvs[kv.first] = kv.second;
  g_nvs_pending.clear();
  return ESP_OK;
}

}  // extern "C"
