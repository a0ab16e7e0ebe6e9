// Firmware registry: validate an upload (product, version string, ESP32 app
// image), store the file (the original layout for the default product,
// products/{product}/ for the others) and its metadata in the database,
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

  // Stores `image` as `version` of `product` (the default product when
  // empty; made on its first upload). `version` defaults to the image's own
  // app version when absent. The product comes from the upload, never from
  // the image (every Arduino build calls itself "arduino-lib-builder").
  // Throws ServiceError: 400 invalid_product, 400 invalid_version, 400
  // empty_file, 422 invalid_image (with the validator's reason), 409
  // version_exists (same product and version, different bytes).
  Uploaded upload(const std::string& product, const std::optional<std::string>& version,
                  std::span<const uint8_t> image, const std::string& actor);

  // All firmware, or one product's (400 invalid_product, 404 product_not_found).
  std::vector<FirmwareRecord> list(const std::optional<std::string>& product = std::nullopt);
  std::vector<ProductSummary> products();
  // 400 invalid_product / invalid_version, 404 product_not_found /
  // firmware_not_found (naming the products that do have the version).
  FirmwareRecord get(const std::string& product, const std::string& version);
  std::vector<uint8_t> read_image(const std::string& product, const std::string& version);
  // Throws 404, or 409 firmware_in_use when a patch or assignment uses it.
  void remove(const std::string& product, const std::string& version, const std::string& actor);

  // Moves the images a version-1 database stored in the original layout
  // for a product other than the default (v1 had one layout for all) to
  // that product's folder; the file is checked against the recorded
  // digest first. Idempotent and safe to interrupt: run at every start.
  // Returns how many it moved.
  size_t relocate_v1_files();

 private:
  // 400 invalid_product unless `product` is a valid name.
  static void check_product(const std::string& product);

  Store& store_;
  ArtifactStore& artifacts_;
  Clock clock_;
};

// The product an API call names, or the default product when it names none.
inline std::string product_or_default(const std::optional<std::string>& product) {
  return product && !product->empty() ? *product : std::string(kDefaultProduct);
}

}  // namespace ota::server

#endif  // OTA_SERVER_FIRMWARE_SERVICE_H
