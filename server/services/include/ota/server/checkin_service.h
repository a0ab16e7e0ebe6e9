// The versioned device check-in (docs/protocol.md): a device authenticated
// by its token reports the image it runs and a fresh nonce; if it has a
// target version, it gets a signed manifest bound to that nonce, for a delta
// from the image it really runs when the server has that image, otherwise
// the full image. The payload is a release: encrypted once with a random
// content key (sealed under the master key at rest) and served to every
// device, the content key wrapped per device in its manifest.
#ifndef OTA_SERVER_CHECKIN_SERVICE_H
#define OTA_SERVER_CHECKIN_SERVICE_H

#include <array>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

#include "ota/server/artifacts.h"
#include "ota/server/crypto.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/patch_service.h"
#include "ota/server/service_error.h"
#include "ota/server/store.h"
#include "ota/server/update_service.h"

namespace ota::server {

class CheckInService {
 public:
  using Clock = std::function<int64_t()>;
  CheckInService(Store& store, ArtifactStore& artifacts, FirmwareService& firmware, PatchService& patches,
                 DeviceService& devices, UpdateService& updates, const SigningKey& signer,
                 const Bytes& master_key, Clock clock = {}, RolloutService* rollouts = nullptr);

  // "Bearer <device token>" for this device; throws 401 unauthorized, 403
  // device_disabled, 404 device_not_found. Constant-time comparison.
  void authenticate(const std::string& device_id, std::string_view authorization);

  struct Report {
    // The device's version label (e.g. its app descriptor's "esp-idf: v4.4.5
    // ac5d805d0e"): informational, recorded as reported_version() makes it,
    // never a reason to refuse a check-in. The server knows the image by
    // its digest.
    std::string version;
    std::string image_sha256_hex;        // 64 lowercase hex
    std::array<uint8_t, 16> nonce{};
    // Decoder RAM the device gives a patch (sizeof(PatchDecoder) + its
    // workspace); 0 when it did not say. A delta whose firmware-aware form
    // fits is sent in that form, else the plain one (at most 32 KiB).
    uint32_t ram_budget = 0;
  };
  struct Answer {
    // Whether the server knows the image the device runs (a firmware of the
    // device's product with its digest), and that firmware's version.
    bool image_known = false;
    std::string running_version;
    bool update = false;
    int64_t retry_after = 0;  // a rollout's download cap is reached: come back then
    Bytes manifest;          // signed manifest (docs/protocol.md §2)
    std::string release;     // download name
    uint32_t stream_size = 0;
    std::string target_version;
    bool delta = false;
    bool firmware_aware = false;  // the delta is firmware-aware (docs/reloc.md)
  };
  // May make a patch and a release (seconds of CPU): call off the I/O
  // threads. An assignment the device could never install (see
  // UpdateService::refusal) is refused here once, with a status event, and
  // the device told there is nothing to do. Throws 400 invalid_sha256.
  // REQUIRES: authenticate() passed.
  Answer check_in(const std::string& device_id, const Report& report);

  // A release's record stream (404 release_not_found). Any authenticated
  // device may fetch any release: the bytes are useless without a content
  // key, which only manifests for its recipients carry (the CDN model).
  Bytes release_stream(const std::string& device_id, const std::string& release);

  // The payload size of a pair's delta release (plain or firmware-aware)
  // once it is built, or nullopt: what the console shows beside the full
  // image. Reads metadata only.
  std::optional<uint64_t> delta_release_size(const std::string& product, const std::string& old_version,
                                             const std::string& new_version, bool firmware_aware);
  // Builds that release ahead of any check-in (seconds of CPU: off the I/O
  // threads) and returns its payload size; 404 firmware_not_found.
  uint64_t prepare_delta_release(const std::string& product, const std::string& old_version,
                                 const std::string& new_version, bool firmware_aware);

 private:
  struct Release;
  Release release_for(const std::optional<FirmwareRecord>& base, const FirmwareRecord& target,
                      bool firmware_aware = false);
  // The signed manifest and release for a target the device can install.
  Answer offer(const std::string& device_id, const Report& report,
               const std::optional<FirmwareRecord>& running, const FirmwareRecord& target, int64_t now);

  Store& store_;
  ArtifactStore& artifacts_;
  FirmwareService& firmware_;
  PatchService& patches_;
  DeviceService& devices_;
  UpdateService& updates_;
  RolloutService* rollouts_;
  const SigningKey& signer_;
  Bytes master_;
  Clock clock_;
  std::mutex mutex_;  // one release built at a time
};

}  // namespace ota::server

#endif  // OTA_SERVER_CHECKIN_SERVICE_H
