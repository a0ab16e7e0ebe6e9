// The update queue as the original endpoints see it: an admin instructs a
// device to move from one version to another; the device's check answers
// with the patch and signature URLs while its version is the old one.
#ifndef OTA_SERVER_UPDATE_SERVICE_H
#define OTA_SERVER_UPDATE_SERVICE_H

#include <functional>
#include <optional>
#include <string>

#include "ota/server/service_error.h"
#include "ota/server/store.h"

namespace ota::server {

class UpdateService {
 public:
  using Clock = std::function<int64_t()>;
  explicit UpdateService(Store& store, Clock clock = {});

  // 400 invalid_version / invalid_device_id, 404 device_not_found /
  // firmware_not_found (the new version must be registered).
  void instruct(const std::string& device_id, const std::string& old_version,
                const std::string& new_version, const std::string& actor);

  // Versioned API: the device should run `version`, whatever it runs now
  // (the check-in picks a delta from the image it reports). Same errors.
  void assign(const std::string& device_id, const std::string& version, const std::string& actor);
  std::optional<UpdateAssignment> assignment(const std::string& device_id);
  // A group: every enabled device of `product`. Returns how many were assigned.
  size_t assign_product(const std::string& product, const std::string& version, const std::string& actor);

  // Device status reports, kept as history. States: downloading, applying,
  // rebooting, confirmed, rolled_back, failed (detail: the reason). A
  // "confirmed" report for the assigned version completes the assignment
  // and raises the device's security counter to that release's.
  // 400 invalid_state / invalid_version.
  void report_status(const std::string& device_id, const std::string& state, const std::string& version,
                     const std::string& detail);
  std::vector<StatusEvent> history(const std::string& device_id);

  struct Check {
    bool available = false;
    std::string old_version, new_version;
  };
  // Unknown devices simply get "nothing to do" (the original's answer);
  // known ones have their last-seen time and version recorded.
  Check check(const std::string& device_id, const std::string& version);

 private:
  Store& store_;
  Clock clock_;
};

}  // namespace ota::server

#endif  // OTA_SERVER_UPDATE_SERVICE_H
