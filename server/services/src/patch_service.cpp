#include "ota/server/patch_service.h"

#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/reloc_encoder.h"
#include "ota/server/envelope.h"
#include "service_util.h"

namespace ota::server {

namespace {

// Publish only what the device's own decoder turns into exactly NEW: the
// applied patch's header, or 500 patch_verification_failed naming `what`.
PatchHeader verified(const Bytes& old_image, const Bytes& patch, const Bytes& new_image,
                     const std::string& what) {
  Bytes check;
  delta::ApplyResult applied = delta::apply_patch(old_image, patch, &check);
  if (applied.status != kStatusDone || check != new_image)
    throw ServiceError(500, "patch_verification_failed",
                       what + " does not verify: " + status_message(applied.status));
  return applied.header;
}

}  // namespace

PatchService::PatchService(Store& store, ArtifactStore& artifacts, FirmwareService& firmware,
                           const SigningKey& signer, Clock clock)
    : store_(store),
      artifacts_(artifacts),
      firmware_(firmware),
      signer_(signer),
      clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

PatchService::Made PatchService::describe(const PatchRecord& r) const {
  return {r, "storage/patches/patch_" + r.old_version + "_to_" + r.new_version + ".bsdiff",
          "storage/signatures/patch_" + r.old_version + "_to_" + r.new_version + ".sig"};
}

PatchService::Made PatchService::make(const std::string& old_version, const std::string& new_version,
                                      const std::string& actor) {
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
  if (old_version == new_version)
    throw ServiceError(400, "same_version", "old and new version are the same");
  if (auto existing = store_.patch(old_version, new_version);
      existing && std::filesystem::exists(artifacts_.patch_path(old_version, new_version)) &&
      std::filesystem::exists(artifacts_.signature_path(old_version, new_version)))
    return describe(*existing);

  // One build per pair: later callers wait for the first one's result.
  std::shared_future<Made> future;
  std::promise<Made> promise;
  bool owner = false;
  {
    std::lock_guard lock(mutex_);
    auto key = std::make_pair(old_version, new_version);
    auto it = in_flight_.find(key);
    if (it != in_flight_.end()) {
      future = it->second;
    } else {
      future = promise.get_future().share();
      in_flight_.emplace(key, future);
      owner = true;
    }
  }
  if (owner) {
    try {
      promise.set_value(build(old_version, new_version, actor));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    std::lock_guard lock(mutex_);
    in_flight_.erase({old_version, new_version});
  }
  return future.get();
}

PatchService::Made PatchService::build(const std::string& old_version, const std::string& new_version,
                                       const std::string& actor) {
  Bytes old_image = firmware_.read_image(old_version);
  Bytes new_image = firmware_.read_image(new_version);
  Bytes patch = delta::make_patch(old_image, new_image);
  PatchHeader header = verified(old_image, patch, new_image, "the patch");
  Bytes sig = signer_.sign_digest(sha256(patch));
  artifacts_.write_atomic(artifacts_.patch_path(old_version, new_version), patch);
  artifacts_.write_atomic(artifacts_.signature_path(old_version, new_version), sig);
  PatchRecord r;
  r.old_version = old_version;
  r.new_version = new_version;
  r.size = patch.size();
  r.sha256_hex = hex(sha256(patch));
  r.codec = header.codec;
  r.device_ram = patch_decoder_ram(header);
  r.created_at = clock_();
  store_.put_patch(r);
  store_.add_audit({r.created_at, actor, "patch.make",
                    "old=" + old_version + " new=" + new_version + " size=" + std::to_string(r.size)});
  return describe(r);
}

Bytes PatchService::make_firmware_aware(const std::string& old_version,
                                        const std::string& new_version) {
  Bytes old_image = firmware_.read_image(old_version);
  Bytes new_image = firmware_.read_image(new_version);
  Bytes patch = delta::make_patch_auto(old_image, new_image);
  verified(old_image, patch, new_image, "the firmware-aware patch");
  return patch;
}

uint32_t PatchService::firmware_aware_min_ram() {
  delta::EncodeOptions o;
  PatchHeader h{};
  h.codec = static_cast<uint8_t>(o.codec);
  h.lzma_lc = o.lc;
  h.lzma_lp = o.lp;
  h.lzma_pb = o.pb;
  h.dict_size = o.dict_size;
  h.transform = kTransformReloc;
  h.transform_version = kTransformRelocVersion;
  h.map_capacity = 1;
  return patch_decoder_ram(h);
}

Bytes PatchService::signature(const std::string& old_version, const std::string& new_version) {
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
  auto sig = artifacts_.read(artifacts_.signature_path(old_version, new_version));
  if (!sig || !store_.patch(old_version, new_version))
    throw ServiceError(404, "patch_not_found",
                       "no patch " + old_version + " -> " + new_version + " (POST /make_patch/ first)");
  return *sig;
}

Bytes PatchService::encrypted_for_device(const std::string& old_version, const std::string& new_version,
                                         const std::string& device_id, std::span<const uint8_t> device_key) {
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
  auto path = artifacts_.encrypted_patch_path(old_version, new_version, device_id);
  std::lock_guard lock(mutex_);  // one stream per device and pair, even under concurrent requests
  if (auto cached = artifacts_.read(path)) return *cached;
  auto patch = artifacts_.read(artifacts_.patch_path(old_version, new_version));
  if (!patch || !store_.patch(old_version, new_version))
    throw ServiceError(404, "patch_not_found",
                       "no patch " + old_version + " -> " + new_version + " (POST /make_patch/ first)");
  std::array<uint8_t, 32> key{};
  std::copy(device_key.begin(), device_key.end(), key.begin());
  RecordStream stream = encrypt_records(*patch, key, chunk_size_for(kEncryptionDeviceKey, patch->size()),
                                        make_nonce_prefix());
  artifacts_.write_atomic(path, stream.bytes);
  return stream.bytes;
}

}  // namespace ota::server
