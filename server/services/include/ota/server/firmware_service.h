// Firmware registry: validate an upload (version string, ESP32 app image),
// store the file in the original layout and its metadata in the database,
// audit it. No HTTP here.
#ifndef OTA_SERVER_FIRMWARE_SERVICE_H
#define OTA_SERVER_FIRMWARE_SERVICE_H

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ota/server/artifacts.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class FirmwareService {
 public:
  using Clock = std::function<int64_t()>;  // Unix seconds
  FirmwareService(Store& store, ArtifactStore& artifacts, Clock clock = {});

  struct Uploaded {
    FirmwareRecord record;
    std::string stored;  // "storage/firmware/firmware_{version}.bin", as the original answered
    bool created;        // false when the same bytes were already stored under this version
  };

  // `version` defaults to the image's own app version when absent.
  // Throws ServiceError: 400 invalid_version, 400 empty_file,
  // 422 invalid_image (with the validator's reason), 409 version_exists
  // (same version, different bytes).
  Uploaded upload(const std::optional<std::string>& version, std::span<const uint8_t> image,
                  const std::string& actor);

  std::vector<FirmwareRecord> list();
  // Throws ServiceError 400 invalid_version / 404 firmware_not_found.
  FirmwareRecord get(const std::string& version);
  std::vector<uint8_t> read_image(const std::string& version);
  // Throws 404, or 409 firmware_in_use when a patch or assignment uses it.
  void remove(const std::string& version, const std::string& actor);

 private:
  Store& store_;
  ArtifactStore& artifacts_;
  Clock clock_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_FIRMWARE_SERVICE_H
