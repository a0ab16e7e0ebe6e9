// The update queue: an admin tells a device (or every device of a product)
// which firmware of its product to run; the original endpoints' instruct
// and check; the devices' status reports. An assignment a device could
// never accept (another product's image, another chip's, an older security
// counter than the device has confirmed) is refused when it is made, with
// the reason.
#ifndef OTA_SERVER_UPDATE_SERVICE_H
#define OTA_SERVER_UPDATE_SERVICE_H

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class RolloutService;

class UpdateService {
 public:
  using Clock = std::function<int64_t()>;
  // With `rollouts`, status reports reach the rollout a device is in, and a
  // device in an active rollout takes no assignment of its own (409
  // device_in_rollout).
  explicit UpdateService(Store& store, Clock clock = {}, RolloutService* rollouts = nullptr);

  // Why `device` could never install `target`, or nullopt: 409
  // product_mismatch, chip_mismatch (when the device's chip is known) or
  // downgrade (the target's security counter is below the one the device
  // has confirmed: its anti-rollback check refuses it).
  static std::optional<ServiceError> refusal(const DeviceRecord& device, const FirmwareRecord& target);

  // Original API: the device should go from old_version to new_version
  // (both of the device's product). 400 invalid_version / invalid_device_id,
  // 404 device_not_found / firmware_not_found, 409 as refusal().
  void instruct(const std::string& device_id, const std::string& old_version,
                const std::string& new_version, const std::string& actor);

  // Versioned API: the device should run `version` of its product, whatever
  // it runs now (the check-in picks a delta from the image it reports).
  // Same errors.
  void assign(const std::string& device_id, const std::string& version, const std::string& actor);
  std::optional<UpdateAssignment> assignment(const std::string& device_id);
  // A group: every enabled device of `product`. All or nothing: when any of
  // them could not accept the version, 409 names them and none is assigned.
  // Returns how many were assigned.
  size_t assign_product(const std::string& product, const std::string& version, const std::string& actor);

  // Device status reports, kept as history. States: downloading, applying,
  // rebooting, confirmed, rolled_back, failed (detail: the reason). A
  // "confirmed" report for the assigned version completes the assignment
  // and raises the device's security counter to that release's; a
  // "rolled_back" one ends it. The version is the device's own label:
  // informational text, kept as reported (control characters dropped, at
  // most 64 bytes). 400 invalid_state / detail_too_long.
  void report_status(const std::string& device_id, const std::string& state, const std::string& version,
                     const std::string& detail);
  std::vector<StatusEvent> history(const std::string& device_id);

  // The server's own refusal of an assignment it cannot send (found at
  // check-in, e.g. for an assignment a version-1 database let through):
  // the assignment ends, a "refused" status event says why, the audit log too.
  void refuse(const UpdateAssignment& a, const ServiceError& why);

  struct Check {
    bool available = false;
    std::string old_version, new_version;
  };
  // Unknown devices simply get "nothing to do" (the original's answer);
  // known ones have their last-seen time and reported version recorded.
  Check check(const std::string& device_id, const std::string& version);

 private:
  DeviceRecord device_or_404(const std::string& device_id);
  FirmwareRecord firmware_or_404(const std::string& product, const std::string& version);

  Store& store_;
  Clock clock_;
  RolloutService* rollouts_;
};

// A version label as a device reported it, made safe to store and show:
// printable ASCII only (anything else becomes '?'), at most 64 bytes.
std::string reported_version(const std::string& label);

}  // namespace ota::server

#endif  // OTA_SERVER_UPDATE_SERVICE_H
