// Patches between stored firmware versions of one product: made once (concurrent requests
// for the same pair wait for the same work), verified with the device
// core's own decoder before they are published, signed (the original
// detached signature), and encrypted per device as the record stream of
// docs/protocol.md, kept so that every download is byte-identical.
#ifndef OTA_SERVER_PATCH_SERVICE_H
#define OTA_SERVER_PATCH_SERVICE_H

#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include "ota/patch_format.h"
#include "ota/server/artifacts.h"
#include "ota/server/crypto.h"
#include "ota/server/firmware_service.h"
#include "ota/server/metrics.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class PatchService {
 public:
  using Clock = std::function<int64_t()>;
  PatchService(Store& store, ArtifactStore& artifacts, FirmwareService& firmware,
               const SigningKey& signer, Clock clock = {});

  struct Made {
    PatchRecord record;
    std::string patch;      // "storage/patches/patch_{old}_to_{new}.bsdiff" (default product)
    std::string signature;  // "storage/signatures/patch_{old}_to_{new}.sig"
  };
  // Makes (or returns the already made) patch between two versions of
  // `product`. CPU-heavy: call it off the I/O threads. Throws 400
  // invalid_product / invalid_version / same_version, 404 firmware_not_found,
  // 500 patch_verification_failed.
  Made make(const std::string& product, const std::string& old_version, const std::string& new_version,
            const std::string& actor);

  // The firmware-aware patch of the pair (docs/reloc.md): what `ota-delta
  // diff` writes by default, the smaller of plain and firmware-aware, checked
  // with the device's own decoder before it is returned. Not stored: the
  // check-in keeps it as a release. CPU-heavy (seconds); 404
  // firmware_not_found, 500 patch_verification_failed.
  Bytes make_firmware_aware(const std::string& product, const std::string& old_version,
                            const std::string& new_version);
  // The least decoder RAM any firmware-aware patch at the default settings
  // needs (one 16-region map unit): a device reporting less gets plain
  // patches without the server building a firmware-aware one.
  static uint32_t firmware_aware_min_ram();

  // 404 patch_not_found when make() has not run for the pair.
  Bytes signature(const std::string& product, const std::string& old_version, const std::string& new_version);
  // The patch as record stream under `device_key` (encryption 2, original
  // path), made on first request and then served from storage.
  Bytes encrypted_for_device(const std::string& product, const std::string& old_version,
                             const std::string& new_version, const std::string& device_id,
                             std::span<const uint8_t> device_key);
  std::vector<PatchRecord> list(const std::optional<std::string>& product = std::nullopt);

  // Counts each build and its duration there (optional; set before serving).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }

 private:
  // Runs `build` (make and verify a patch), counted as `form`.
  template <typename Build>
  PatchHeader timed_build(const char* form, Build build);
  Made build(const std::string& product, const std::string& old_version, const std::string& new_version,
             const std::string& actor);
  Made describe(const PatchRecord& r) const;
  void check_names(const std::string& product, const std::string& old_version,
                   const std::string& new_version) const;

  Store& store_;
  ArtifactStore& artifacts_;
  FirmwareService& firmware_;
  const SigningKey& signer_;
  Clock clock_;
  std::mutex mutex_;  // guards in_flight_ and per-device stream creation
  // By (product, old, new).
  std::map<std::tuple<std::string, std::string, std::string>, std::shared_future<Made>> in_flight_;
  Metrics* metrics_ = nullptr;
};

}  // namespace ota::server

#endif  // OTA_SERVER_PATCH_SERVICE_H
