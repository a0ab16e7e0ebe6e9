#include "ota/server/update_service.h"

#include <algorithm>

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

size_t UpdateService::assign_product(const std::string& product, const std::string& version,
                                     const std::string& actor) {
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  auto target = store_.firmware(version);
  if (!target) throw ServiceError(404, "firmware_not_found", "no firmware version " + version);
  if (target->product != product)
    throw ServiceError(409, "product_mismatch", "firmware " + version + " is for product '" + target->product + "'");
  size_t n = 0;
  int64_t now = clock_();
  for (const DeviceRecord& d : store_.list_devices()) {
    if (d.product != product || !d.enabled) continue;
    store_.assign_update({d.device_id, "", version, now});
    ++n;
  }
  store_.add_audit({now, actor, "update.assign_group",
                    "product=" + product + " version=" + version + " devices=" + std::to_string(n)});
  return n;
}

void UpdateService::report_status(const std::string& device_id, const std::string& state,
                                  const std::string& version, const std::string& detail) {
  static const char* const kStates[] = {"downloading", "applying",    "rebooting",
                                        "confirmed",   "rolled_back", "failed"};
  if (std::find(std::begin(kStates), std::end(kStates), state) == std::end(kStates))
    throw ServiceError(400, "invalid_state",
                       "state must be downloading, applying, rebooting, confirmed, rolled_back or failed");
  if (!version.empty() && !valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  if (detail.size() > 512) throw ServiceError(400, "detail_too_long", "detail is limited to 512 characters");
  int64_t now = clock_();
  std::string text = version.empty() ? detail : "version=" + version + (detail.empty() ? "" : " " + detail);
  store_.add_status({device_id, now, state, text});
  if (state == "rolled_back") {
    // The release failed on this device (its self-test, or it never
    // confirmed itself): stop offering it, so the device does not loop
    // between installing and rolling back. An admin may assign it again.
    auto a = store_.assignment(device_id);
    if (a && a->new_version == version) {
      store_.clear_assignment(device_id);
      store_.add_audit({now, "device:" + device_id, "update.rolled_back",
                        "device=" + device_id + " version=" + version + " " + detail});
    }
    return;
  }
  if (state != "confirmed") return;
  auto a = store_.assignment(device_id);
  auto target = store_.firmware(version);
  if (a && target && a->new_version == version) {
    store_.set_device_security_counter(device_id, target->security_counter);
    store_.clear_assignment(device_id);
  }
}

std::vector<StatusEvent> UpdateService::history(const std::string& device_id) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!store_.device(device_id)) throw ServiceError(404, "device_not_found", "no device " + device_id);
  return store_.status_history(device_id);
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
