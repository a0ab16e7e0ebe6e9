#include "ota/server/device_service.h"

#include "ota/server/artifacts.h"
#include "ota/server/esp_image.h"
#include "ota/server/firmware_service.h"
#include "ota/server/provisioning.h"
#include "service_util.h"

namespace ota::server {

DeviceService::DeviceService(Store& store, const Bytes& master_key, Clock clock)
    : store_(store), master_(master_key), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

DeviceService::Registered DeviceService::register_device(const std::string& device_id,
                                                         const std::string& product_in,
                                                         const std::optional<std::string>& chip,
                                                         const std::string& actor) {
  const std::string product = product_or_default(product_in);
  if (!valid_device_id(device_id))
    throw ServiceError(400, "invalid_device_id", "device id must be 1-64 characters of [A-Za-z0-9._-]");
  if (!valid_product(product))
    throw ServiceError(400, "invalid_product", "product must be 1-32 characters of [A-Za-z0-9._-]");
  std::optional<uint16_t> chip_id;
  if (chip && !chip->empty()) {
    chip_id = esp_chip_from_name(*chip);
    if (!chip_id)
      throw ServiceError(400, "invalid_chip",
                         "unknown chip '" + *chip + "' (ESP32, ESP32-S2, ESP32-S3, ESP32-C3, ESP32-C6, ...)");
  }
  Registered r;
  r.device_key = random_bytes(32);
  r.device_token = hex(random_bytes(32));
  DeviceRecord& d = r.record;
  d.device_id = device_id;
  d.product = product;
  d.chip_id = chip_id;
  d.sealed_key_hex = hex(seal_device_key(master_, device_id, r.device_key));
  d.token_hash_hex = hex(sha256(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(r.device_token.data()), r.device_token.size())));
  d.enabled = true;
  d.created_at = clock_();
  if (store_.device(device_id))
    throw ServiceError(409, "device_exists", "device " + device_id + " is already registered");
  if (store_.ensure_product(product, d.created_at))
    store_.add_audit({d.created_at, actor, "product.create", "product=" + product});
  if (!store_.insert_device(d))
    throw ServiceError(409, "device_exists", "device " + device_id + " is already registered");
  store_.add_audit({d.created_at, actor, "device.register", "device=" + device_id + " product=" + product +
                                                       (chip_id ? " chip=" + esp_chip_name(*chip_id) : "")});
  return r;
}

DeviceRecord DeviceService::get(const std::string& device_id) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  auto d = store_.device(device_id);
  if (!d) throw ServiceError(404, "device_not_found", "no device " + device_id);
  return *d;
}

std::vector<DeviceRecord> DeviceService::list() { return store_.list_devices(); }

void DeviceService::record_download(const std::string& device_id, uint64_t first, uint64_t count) {
  store_.count_download(device_id, count, first > 0);
}

DownloadCounts DeviceService::downloads(const std::string& device_id) { return store_.download_counts(device_id); }

void DeviceService::set_enabled(const std::string& device_id, bool enabled, const std::string& actor) {
  get(device_id);
  store_.set_device_enabled(device_id, enabled);
  store_.add_audit({clock_(), actor, enabled ? "device.enable" : "device.disable", "device=" + device_id});
}

Bytes DeviceService::device_key(const std::string& device_id) {
  DeviceRecord d = get(device_id);
  if (!d.enabled) throw ServiceError(403, "device_disabled", "device " + device_id + " is disabled");
  auto key = open_device_key(master_, device_id, unhex(d.sealed_key_hex));
  if (!key) throw ServiceError(500, "key_unavailable", "the device key does not open with the master key");
  return *key;
}

}  // namespace ota::server
