#include "ota/server/update_service.h"

#include "ota/server/artifacts.h"
#include "service_util.h"

namespace ota::server {

UpdateService::UpdateService(Store& store, Clock clock)
    : store_(store), clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

void UpdateService::instruct(const std::string& device_id, const std::string& old_version,
                             const std::string& new_version, const std::string& actor) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
  if (!store_.device(device_id))
    throw ServiceError(404, "device_not_found", "no device " + device_id + " (register it first)");
  if (!store_.firmware(new_version))
    throw ServiceError(404, "firmware_not_found", "no firmware version " + new_version);
  int64_t now = clock_();
  store_.assign_update({device_id, old_version, new_version, now});
  store_.add_audit({now, actor, "update.assign",
                    "device=" + device_id + " old=" + old_version + " new=" + new_version});
}

void UpdateService::assign(const std::string& device_id, const std::string& version,
                           const std::string& actor) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  if (!store_.device(device_id))
    throw ServiceError(404, "device_not_found", "no device " + device_id + " (register it first)");
  if (!store_.firmware(version)) throw ServiceError(404, "firmware_not_found", "no firmware version " + version);
  int64_t now = clock_();
  store_.assign_update({device_id, "", version, now});
  store_.add_audit({now, actor, "update.assign", "device=" + device_id + " version=" + version});
}

std::optional<UpdateAssignment> UpdateService::assignment(const std::string& device_id) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  return store_.assignment(device_id);
}

UpdateService::Check UpdateService::check(const std::string& device_id, const std::string& version) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  // One read: the device and its assignment together.
  auto view = store_.check_in_view(device_id);
  if (!view || !view->device.enabled) return {};
  const DeviceRecord& device = view->device;
  // A check-in is a read; the database is written (one fsync) only when the
  // device reports a new version or was last recorded a minute ago or more.
  int64_t now = clock_();
  if (device.running_version != version || !device.last_seen || *device.last_seen + 60 <= now)
    store_.touch_device(device_id, now, version, device.running_sha256_hex);
  const auto& a = view->assignment;
  if (!a || a->old_version != version) return {};
  return {true, a->old_version, a->new_version};
}

}  // namespace ota::server
