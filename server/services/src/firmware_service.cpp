#include "ota/server/firmware_service.h"

#include <string_view>

#include "ota/server/crypto.h"
#include "ota/server/esp_image.h"
#include "service_util.h"

namespace ota::server {

static_assert(std::string_view(kDefaultProduct) == kOriginalLayoutProduct,
              "the default product is the one that keeps the original layout");

namespace {

constexpr const char* kVersionRule =
    "version must be 1-32 characters of [A-Za-z0-9._+-], not starting with '.' or '-' and without '..'";

}  // namespace

FirmwareService::FirmwareService(Store& store, ArtifactStore& artifacts, Clock clock)
    : store_(store), artifacts_(artifacts), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

void FirmwareService::check_product(const std::string& product) {
  if (!valid_product(product))
    throw ServiceError(400, "invalid_product",
                       "product must be 1-32 characters of [A-Za-z0-9._-], not starting with '.' or '-'");
}

FirmwareService::Uploaded FirmwareService::upload(const std::string& product_in,
                                                  const std::optional<std::string>& version_in,
                                                  std::span<const uint8_t> image,
                                                  const std::string& actor) {
  const std::string product = product_or_default(product_in);
  check_product(product);
  if (version_in && !valid_version(*version_in)) throw ServiceError(400, "invalid_version", kVersionRule);
  if (image.empty()) throw ServiceError(400, "empty_file", "the uploaded file is empty");
  EspImageResult inspected = inspect_esp_app_image(image);
  if (!inspected.ok()) throw ServiceError(422, "invalid_image", inspected.error().reason);
  const EspAppInfo& info = inspected.info();
  std::string version = version_in ? *version_in : info.version;
  if (!valid_version(version))
    throw ServiceError(400, "invalid_version",
                       "no version given and the image's own version '" + info.version +
                           "' is not a valid version string: name one (" + kVersionRule + ")");

  std::string digest = hex(sha256(image));
  const auto path = artifacts_.firmware_path(product, version);
  std::string stored = "storage/" + path.lexically_relative(artifacts_.root()).string();
  if (auto existing = store_.firmware(product, version)) {
    if (existing->sha256_hex == digest) return {*existing, stored, false};
    throw ServiceError(409, "version_exists",
                       "version " + version + " of product " + product + " already exists with different content");
  }

  int64_t now = clock_();
  if (store_.ensure_product(product, now))
    store_.add_audit({now, actor, "product.create", "product=" + product});
  FirmwareRecord f;
  f.product = product;
  f.version = version;
  f.chip_id = info.chip_id;
  f.size = image.size();
  f.sha256_hex = digest;
  f.app_version = info.version;
  // Each upload raises the product's counter: a device never installs an
  // older release of its product over a newer one (anti-rollback).
  f.security_counter = store_.max_security_counter(product) + 1;
  f.created_at = now;
  // The file first, then the row: a crash in between leaves an unlisted
  // file that the next upload of this version overwrites; never a row
  // without its file.
  artifacts_.write_atomic(path, image);
  if (!store_.insert_firmware(f)) {
    // Lost a race with a concurrent upload of the same version.
    auto winner = store_.firmware(product, version);
    if (winner && winner->sha256_hex == digest) return {*winner, stored, false};
    throw ServiceError(409, "version_exists", "version " + version + " was uploaded concurrently");
  }
  store_.add_audit({f.created_at, actor, "firmware.upload",
                    "product=" + product + " version=" + version + " chip=" + esp_chip_name(f.chip_id) +
                        " sha256=" + digest + " size=" + std::to_string(f.size)});
  return {f, stored, true};
}

std::vector<FirmwareRecord> FirmwareService::list(const std::optional<std::string>& product) {
  if (product) {
    check_product(*product);
    if (!store_.product(*product)) throw ServiceError(404, "product_not_found", "no product " + *product);
  }
  return store_.list_firmware(product);
}

std::vector<ProductSummary> FirmwareService::products() { return store_.list_products(); }

FirmwareRecord FirmwareService::get(const std::string& product, const std::string& version) {
  check_product(product);
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  if (auto f = store_.firmware(product, version)) return *f;
  if (!store_.product(product)) throw ServiceError(404, "product_not_found", "no product " + product);
  // Say where the version is, if anywhere: the usual mistake is the product.
  std::string elsewhere;
  for (const FirmwareRecord& f : store_.list_firmware())
    if (f.version == version) elsewhere += (elsewhere.empty() ? "" : ", ") + f.product;
  throw ServiceError(404, "firmware_not_found",
                     "no firmware version " + version + " in product " + product +
                         (elsewhere.empty() ? "" : " (product " + elsewhere + " has it)"));
}

std::vector<uint8_t> FirmwareService::read_image(const std::string& product, const std::string& version) {
  get(product, version);
  auto bytes = artifacts_.read(artifacts_.firmware_path(product, version));
  if (!bytes)
    throw ServiceError(500, "storage_missing", "the file of " + product + " " + version + " is missing");
  return *bytes;
}

void FirmwareService::remove(const std::string& product, const std::string& version, const std::string& actor) {
  get(product, version);
  if (!store_.delete_firmware(product, version))
    throw ServiceError(409, "firmware_in_use",
                       "version " + version + " of " + product + " is used by a patch or an update assignment");
  artifacts_.remove(artifacts_.firmware_path(product, version));
  store_.add_audit({clock_(), actor, "firmware.delete", "product=" + product + " version=" + version});
}

size_t FirmwareService::relocate_v1_files() {
  size_t moved = 0;
  for (const FirmwareRecord& f : store_.list_firmware()) {
    if (f.product == kDefaultProduct || !valid_product(f.product) || !valid_version(f.version)) continue;
    const auto target = artifacts_.firmware_path(f.product, f.version);
    const auto legacy = artifacts_.firmware_path(kDefaultProduct, f.version);
    // The default product's own version of the same name owns that file.
    if (store_.firmware(kDefaultProduct, f.version)) continue;
    auto bytes = artifacts_.read(legacy);
    if (!bytes || hex(sha256(*bytes)) != f.sha256_hex) continue;
    if (!std::filesystem::exists(target)) {
      artifacts_.write_atomic(target, *bytes);
      ++moved;
    }
    artifacts_.remove(legacy);  // only once the product's copy is in place
  }
  if (moved > 0)
    store_.add_audit({clock_(), "server", "firmware.relocate",
                      "moved " + std::to_string(moved) + " version-1 image(s) to their product's folder"});
  return moved;
}

}  // namespace ota::server
