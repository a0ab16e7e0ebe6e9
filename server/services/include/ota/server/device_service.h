// Device registry: ids, per-device AES keys made by the server and sealed
// under the master key at rest, enable/disable. No HTTP here.
#ifndef OTA_SERVER_DEVICE_SERVICE_H
#define OTA_SERVER_DEVICE_SERVICE_H

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/crypto.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class DeviceService {
 public:
  using Clock = std::function<int64_t()>;
  DeviceService(Store& store, const Bytes& master_key, Clock clock = {});

  struct Registered {
    DeviceRecord record;
    Bytes device_key;          // 32 bytes: returned once, for the provisioning bundle
    std::string device_token;  // the device's API token: returned once, stored as a hash
  };
  // Registers a device in `product` (the default product when empty; made
  // if new). `chip` is optional ("ESP32-C3", "esp32c3", ...): the server
  // learns it anyway from the first image the device runs that it knows,
  // but with it an assignment of another chip's image is refused from the
  // start. Throws 400 invalid_device_id / invalid_product / invalid_chip,
  // 409 device_exists.
  Registered register_device(const std::string& device_id, const std::string& product,
                             const std::optional<std::string>& chip, const std::string& actor);
  DeviceRecord get(const std::string& device_id);  // 400 / 404 device_not_found
  std::vector<DeviceRecord> list();
  void set_enabled(const std::string& device_id, bool enabled, const std::string& actor);
  // A release (or legacy patch) request answered with `count` bytes from
  // byte `first` (first > 0: a resumed download), for the device's page.
  void record_download(const std::string& device_id, uint64_t first, uint64_t count);
  DownloadCounts downloads(const std::string& device_id);
  // The device's key, unsealed; 404 unknown, 403 device_disabled.
  Bytes device_key(const std::string& device_id);

 private:
  Store& store_;
  Bytes master_;
  Clock clock_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_DEVICE_SERVICE_H
