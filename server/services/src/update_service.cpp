#include "ota/server/update_service.h"

#include <algorithm>

#include "ota/server/artifacts.h"
#include "ota/server/esp_image.h"
#include "ota/server/rollout_service.h"
#include "service_util.h"

namespace ota::server {

std::string reported_version(const std::string& label) {
  std::string out;
  for (char c : label.substr(0, 64)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

UpdateService::UpdateService(Store& store, Clock clock, RolloutService* rollouts)
    : store_(store), clock_(clock ? std::move(clock) : Clock(now_seconds)), rollouts_(rollouts) {}

std::optional<ServiceError> UpdateService::refusal(const DeviceRecord& device, const FirmwareRecord& target) {
  if (target.product != device.product)
    return ServiceError(409, "product_mismatch",
                        "firmware " + target.version + " is for product '" + target.product + "', device " +
                            device.device_id + " is in product '" + device.product + "'");
  if (device.chip_id && *device.chip_id != target.chip_id)
    return ServiceError(409, "chip_mismatch",
                        "firmware " + target.version + " is built for " + esp_chip_name(target.chip_id) +
                            ", device " + device.device_id + " is an " + esp_chip_name(*device.chip_id));
  if (target.security_counter < device.security_counter)
    return ServiceError(409, "downgrade",
                        "firmware " + target.version + " has security counter " +
                            std::to_string(target.security_counter) + ", below the " +
                            std::to_string(device.security_counter) + " device " + device.device_id +
                            " has confirmed: it would refuse it (anti-rollback)");
  return std::nullopt;
}

DeviceRecord UpdateService::device_or_404(const std::string& device_id) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  auto d = store_.device(device_id);
  if (!d) throw ServiceError(404, "device_not_found", "no device " + device_id + " (register it first)");
  return *d;
}

FirmwareRecord UpdateService::firmware_or_404(const std::string& product, const std::string& version) {
  if (!valid_version(version)) throw ServiceError(400, "invalid_version", "invalid version string");
  if (auto f = store_.firmware(product, version)) return *f;
  std::string elsewhere;
  for (const FirmwareRecord& f : store_.list_firmware())
    if (f.version == version) elsewhere += (elsewhere.empty() ? "" : ", ") + f.product;
  throw ServiceError(404, "firmware_not_found",
                     "no firmware version " + version + " in product " + product +
                         (elsewhere.empty() ? "" : " (only in product " + elsewhere +
                                                       "; a device gets only its own product's firmware)"));
}

void UpdateService::instruct(const std::string& device_id, const std::string& old_version,
                             const std::string& new_version, const std::string& actor) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
  DeviceRecord device = device_or_404(device_id);
  FirmwareRecord target = firmware_or_404(device.product, new_version);
  if (auto why = refusal(device, target)) throw *why;
  if (rollouts_) rollouts_->check_not_in_rollout(device_id);
  int64_t now = clock_();
  store_.assign_update({device_id, device.product, old_version, new_version, now});
  store_.add_audit({now, actor, "update.assign",
                    "device=" + device_id + " product=" + device.product + " old=" + old_version +
                        " new=" + new_version});
}

void UpdateService::assign(const std::string& device_id, const std::string& version, const std::string& actor) {
  DeviceRecord device = device_or_404(device_id);
  FirmwareRecord target = firmware_or_404(device.product, version);
  if (auto why = refusal(device, target)) throw *why;
  if (rollouts_) rollouts_->check_not_in_rollout(device_id);
  int64_t now = clock_();
  store_.assign_update({device_id, device.product, "", version, now});
  store_.add_audit({now, actor, "update.assign",
                    "device=" + device_id + " product=" + device.product + " version=" + version});
}

std::optional<UpdateAssignment> UpdateService::assignment(const std::string& device_id) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  return store_.assignment(device_id);
}

size_t UpdateService::assign_product(const std::string& product, const std::string& version,
                                     const std::string& actor) {
  if (!valid_product(product)) throw ServiceError(400, "invalid_product", "invalid product name");
  if (!store_.product(product)) throw ServiceError(404, "product_not_found", "no product " + product);
  FirmwareRecord target = firmware_or_404(product, version);
  std::vector<DeviceRecord> members;
  std::string refused;
  size_t n_refused = 0;
  for (const DeviceRecord& d : store_.list_devices()) {
    if (d.product != product || !d.enabled) continue;
    std::optional<ServiceError> why = refusal(d, target);
    if (!why && rollouts_) {
      try {
        rollouts_->check_not_in_rollout(d.device_id);
      } catch (const ServiceError& e) {
        why = e;
      }
    }
    if (why) {
      if (++n_refused <= 5) refused += std::string(refused.empty() ? "" : "; ") + why->what();
      continue;
    }
    members.push_back(d);
  }
  if (n_refused > 0)
    throw ServiceError(409, "devices_cannot_accept",
                       std::to_string(n_refused) + " device(s) of product " + product + " could not install " +
                           version + ", so none was assigned: " + refused + (n_refused > 5 ? "; ..." : ""));
  int64_t now = clock_();
  for (const DeviceRecord& d : members) store_.assign_update({d.device_id, product, "", version, now});
  store_.add_audit({now, actor, "update.assign_group",
                    "product=" + product + " version=" + version + " devices=" + std::to_string(members.size())});
  return members.size();
}

void UpdateService::refuse(const UpdateAssignment& a, const ServiceError& why) {
  int64_t now = clock_();
  store_.clear_assignment(a.device_id);
  std::string detail = std::string(why.code) + ": " + why.what();
  store_.add_status({a.device_id, now, "refused", "version=" + a.new_version + " " + detail});
  store_.add_audit({now, "server", "update.refused",
                    "device=" + a.device_id + " product=" + a.product + " version=" + a.new_version + " " + detail});
  if (rollouts_) rollouts_->on_report(a.device_id, "refused", a.new_version, detail);
}

void UpdateService::report_status(const std::string& device_id, const std::string& state,
                                  const std::string& version_in, const std::string& detail) {
  static const char* const kStates[] = {"downloading", "applying",    "rebooting",
                                        "confirmed",   "rolled_back", "failed"};
  if (std::find(std::begin(kStates), std::end(kStates), state) == std::end(kStates))
    throw ServiceError(400, "invalid_state",
                       "state must be downloading, applying, rebooting, confirmed, rolled_back or failed");
  if (detail.size() > 512) throw ServiceError(400, "detail_too_long", "detail is limited to 512 characters");
  const std::string version = reported_version(version_in);
  int64_t now = clock_();
  std::string text = version.empty() ? detail : "version=" + version + (detail.empty() ? "" : " " + detail);
  store_.add_status({device_id, now, state, text});
  // The rollout's view of the device first: the assignment may go below.
  if (rollouts_) rollouts_->on_report(device_id, state, version, detail);
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
  if (!a || a->new_version != version) return;
  if (auto target = store_.firmware(a->product, version)) {
    store_.set_device_security_counter(device_id, target->security_counter);
    store_.clear_assignment(device_id);
  }
}

std::vector<StatusEvent> UpdateService::history(const std::string& device_id) {
  device_or_404(device_id);
  return store_.status_history(device_id);
}

UpdateService::Check UpdateService::check(const std::string& device_id, const std::string& version_in) {
  if (!valid_device_id(device_id)) throw ServiceError(400, "invalid_device_id", "invalid device id");
  const std::string version = reported_version(version_in);
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
  if (!a || a->old_version != version || a->product != device.product) return {};
  return {true, a->old_version, a->new_version};
}

}  // namespace ota::server
