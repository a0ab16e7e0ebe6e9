#include "ota/server/firmware_service.h"

#include "ota/server/crypto.h"
#include "ota/server/esp_image.h"
#include "service_util.h"

namespace ota::server {

FirmwareService::FirmwareService(Store& store, ArtifactStore& artifacts, Clock clock)
    : store_(store), artifacts_(artifacts), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

FirmwareService::Uploaded FirmwareService::upload(const std::optional<std::string>& version_in,
                                                  std::span<const uint8_t> image,
                                                  const std::string& actor) {
  if (version_in && !valid_version(*version_in))
    throw ServiceError(400, "invalid_version",
                       "version must be 1-32 characters of [A-Za-z0-9._+-], not starting with '.' "
                       "or '-' and without '..'");
  if (image.empty()) throw ServiceError(400, "empty_file", "the uploaded file is empty");
  EspImageResult inspected = inspect_esp_app_image(image);
  if (!inspected.ok()) throw ServiceError(422, "invalid_image", inspected.error().reason);
  const EspAppInfo& info = inspected.info();
  std::string version = version_in ? *version_in : info.version;
  if (!valid_version(version))
    throw ServiceError(400, "invalid_version",
                       "no version given and the image's own version '" + info.version +
                           "' is not a valid version string");

  std::string digest = hex(sha256(image));
  std::string stored = "storage/firmware/firmware_" + version + ".bin";
  if (auto existing = store_.firmware(version)) {
    if (existing->sha256_hex == digest) return {*existing, stored, false};
    throw ServiceError(409, "version_exists",
                       "version " + version + " already exists with different content");
  }

  FirmwareRecord f;
  f.version = version;
  f.product = info.project_name;
  f.chip_id = info.chip_id;
  f.size = image.size();
  f.sha256_hex = digest;
  f.app_version = info.version;
  uint32_t counter = 0;
  for (const FirmwareRecord& r : store_.list_firmware()) counter = std::max(counter, r.security_counter);
  f.security_counter = counter + 1;
  f.created_at = clock_();
  // The file first, then the row: a crash in between leaves an unlisted
  // file that the next upload of this version overwrites; never a row
  // without its file.
  artifacts_.write_atomic(artifacts_.firmware_path(version), image);
  if (!store_.insert_firmware(f)) {
    // Lost a race with a concurrent upload of the same version.
    auto winner = store_.firmware(version);
    if (winner && winner->sha256_hex == digest) return {*winner, stored, false};
    throw ServiceError(409, "version_exists", "version " + version + " was uploaded concurrently");
  }
  store_.add_audit({f.created_at, actor, "firmware.upload",
                    "version=" + version + " sha256=" + digest + " size=" + std::to_string(f.size)});
  return {f, stored, true};
}

std::vector<FirmwareRecord> FirmwareService::list() { return store_.list_firmware(); }

FirmwareRecord FirmwareService::get(const std::string& version) {
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  auto f = store_.firmware(version);
  if (!f) throw ServiceError(404, "firmware_not_found", "no firmware version " + version);
  return *f;
}

std::vector<uint8_t> FirmwareService::read_image(const std::string& version) {
  get(version);
  auto bytes = artifacts_.read(artifacts_.firmware_path(version));
  if (!bytes) throw ServiceError(500, "storage_missing", "firmware file of " + version + " is missing");
  return *bytes;
}

void FirmwareService::remove(const std::string& version, const std::string& actor) {
  get(version);
  if (!store_.delete_firmware(version))
    throw ServiceError(409, "firmware_in_use",
                       "version " + version + " is used by a patch or an update assignment");
  artifacts_.remove(artifacts_.firmware_path(version));
  store_.add_audit({clock_(), actor, "firmware.delete", "version=" + version});
}

}  // namespace ota::server
