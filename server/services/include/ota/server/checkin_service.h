// The versioned device check-in (docs/protocol.md): a device authenticated
// by its token reports the image it runs and a fresh nonce; if it has a
// target version, it gets a signed manifest bound to that nonce, for a delta
// from the image it really runs when the server has that image, otherwise
// the full image. The payload is a release: encrypted once with a random
// content key (sealed under the master key at rest) and served to every
// device, the content key wrapped per device in its manifest.
//
// Delta releases are built on a BuildQueue when one is given: a check-in
// whose delta is not built yet queues it and is told to come back
// (retry_after, retry_reason "building") instead of waiting; a delta whose
// build failed for good is replaced by the next form (firmware-aware ->
// plain -> the full image). Without a queue (tests of the manifest alone)
// the check-in builds what it needs itself.
#ifndef OTA_SERVER_CHECKIN_SERVICE_H
#define OTA_SERVER_CHECKIN_SERVICE_H

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <string_view>

#include "ota/server/artifacts.h"
#include "ota/server/build_queue.h"
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
                 const Bytes& master_key, Clock clock = {}, RolloutService* rollouts = nullptr,
                 BuildQueue* builds = nullptr);

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
    int64_t retry_after = 0;  // come back then: a rollout's download cap, or a build under way
    std::string retry_reason;  // "download_cap" or "building" with retry_after
    Bytes manifest;          // signed manifest (docs/protocol.md §2)
    std::string release;     // download name
    uint32_t stream_size = 0;
    std::string target_version;
    bool delta = false;
    bool firmware_aware = false;  // the delta is firmware-aware (docs/reloc.md)
  };
  // With a BuildQueue: never builds a delta (milliseconds: signing and the
  // database; the full image's release, when it is first needed, is
  // encrypted here). Without one it may make a patch and a release
  // (seconds of CPU). An assignment the device could never install (see
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

  // Queues the delta release from `base` to `target` on the BuildQueue
  // (no-op without one, or when it is built) for `asker` (a device id, or
  // empty), and returns the job's state. What pre-building for a release
  // and the check-in both call.
  // A version became a target of `product` (an assignment, a rollout):
  // queues the firmware-aware delta release from every base image enabled
  // devices of the product report running (by digest, a firmware the server
  // has, same chip), each counted with its devices so that the most-used
  // bases are built first, and the plain forms after them (asked for by the
  // server alone until a device with less RAM asks). Returns the number of
  // builds queued; 0 without a queue or when all are built. Reads every
  // device of the product: milliseconds per thousand.
  size_t prebuild(const std::string& product, const std::string& version);

  std::optional<BuildQueue::Job> queue_delta_release(const FirmwareRecord& base, const FirmwareRecord& target,
                                                     bool firmware_aware, const std::string& asker);

 private:
  struct Release;
  struct Choice;
  // Builds the release if it is not in storage yet (one build per name at
  // a time; a second caller waits for the first and reads its result).
  Release release_for(const std::optional<FirmwareRecord>& base, const FirmwareRecord& target,
                      bool firmware_aware = false);
  // The release in storage, or nullopt. Reads its metadata only.
  std::optional<Release> stored_release(const std::string& name);
  // The release to offer the device, or the seconds it should wait for a
  // build (with a queue); nothing is admitted or signed yet.
  Choice choose(const std::string& device_id, const Report& report, const std::optional<FirmwareRecord>& running,
                const FirmwareRecord& target);
  // The signed manifest for a chosen release.
  Answer offer(const std::string& device_id, const Report& report, const FirmwareRecord& target,
               const std::optional<FirmwareRecord>& base, const Release& r, int64_t now);

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
  BuildQueue* builds_;
  std::mutex names_mutex_;
  std::map<std::string, std::shared_ptr<std::mutex>> building_;  // release name -> its build's lock
};

}  // namespace ota::server

#endif  // OTA_SERVER_CHECKIN_SERVICE_H
