#include "ota/server/patch_service.h"

#include <chrono>

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

void PatchService::check_names(const std::string& product, const std::string& old_version,
                               const std::string& new_version) const {
  if (!valid_product(product)) throw ServiceError(400, "invalid_product", "invalid product name");
  if (!valid_version(old_version) || !valid_version(new_version))
    throw ServiceError(400, "invalid_version", "invalid version string");
}

PatchService::Made PatchService::describe(const PatchRecord& r) const {
  auto rel = [&](const std::filesystem::path& p) {
    return "storage/" + p.lexically_relative(artifacts_.root()).string();
  };
  return {r, rel(artifacts_.patch_path(r.product, r.old_version, r.new_version)),
          rel(artifacts_.signature_path(r.product, r.old_version, r.new_version))};
}

PatchService::Made PatchService::make(const std::string& product, const std::string& old_version,
                                      const std::string& new_version, const std::string& actor) {
  check_names(product, old_version, new_version);
  if (old_version == new_version)
    throw ServiceError(400, "same_version", "old and new version are the same");
  if (auto existing = store_.patch(product, old_version, new_version);
      existing && std::filesystem::exists(artifacts_.patch_path(product, old_version, new_version)) &&
      std::filesystem::exists(artifacts_.signature_path(product, old_version, new_version)))
    return describe(*existing);

  // One build per pair: later callers wait for the first one's result.
  std::shared_future<Made> future;
  std::promise<Made> promise;
  bool owner = false;
  const auto key = std::make_tuple(product, old_version, new_version);
  {
    std::lock_guard lock(mutex_);
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
      promise.set_value(build(product, old_version, new_version, actor));
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
    std::lock_guard lock(mutex_);
    in_flight_.erase(key);
  }
  return future.get();
}

template <typename Build>
PatchHeader PatchService::timed_build(const char* form, Build build) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  try {
    PatchHeader h = build();
    if (metrics_) metrics_->patch_build(form, true, seconds());
    return h;
  } catch (...) {
    if (metrics_) metrics_->patch_build(form, false, seconds());
    throw;
  }
}

PatchService::Made PatchService::build(const std::string& product, const std::string& old_version,
                                       const std::string& new_version, const std::string& actor) {
  Bytes old_image = firmware_.read_image(product, old_version);
  Bytes new_image = firmware_.read_image(product, new_version);
  Bytes patch;
  PatchHeader header = timed_build("plain", [&] {
    patch = delta::make_patch(old_image, new_image);
    return verified(old_image, patch, new_image, "the patch");
  });
  Bytes sig = signer_.sign_digest(sha256(patch));
  artifacts_.write_atomic(artifacts_.patch_path(product, old_version, new_version), patch);
  artifacts_.write_atomic(artifacts_.signature_path(product, old_version, new_version), sig);
  PatchRecord r;
  r.product = product;
  r.old_version = old_version;
  r.new_version = new_version;
  r.size = patch.size();
  r.sha256_hex = hex(sha256(patch));
  r.codec = header.codec;
  r.device_ram = patch_decoder_ram(header);
  r.created_at = clock_();
  store_.put_patch(r);
  store_.add_audit({r.created_at, actor, "patch.make",
                    "product=" + product + " old=" + old_version + " new=" + new_version +
                        " size=" + std::to_string(r.size)});
  return describe(r);
}

Bytes PatchService::make_firmware_aware(const std::string& product, const std::string& old_version,
                                        const std::string& new_version) {
  Bytes old_image = firmware_.read_image(product, old_version);
  Bytes new_image = firmware_.read_image(product, new_version);
  Bytes patch;
  timed_build("firmware_aware", [&] {
    patch = delta::make_patch_auto(old_image, new_image);
    return verified(old_image, patch, new_image, "the firmware-aware patch");
  });
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

Bytes PatchService::signature(const std::string& product, const std::string& old_version,
                              const std::string& new_version) {
  check_names(product, old_version, new_version);
  auto sig = artifacts_.read(artifacts_.signature_path(product, old_version, new_version));
  if (!sig || !store_.patch(product, old_version, new_version))
    throw ServiceError(404, "patch_not_found",
                       "no patch " + old_version + " -> " + new_version + " (POST /make_patch/ first)");
  return *sig;
}

Bytes PatchService::encrypted_for_device(const std::string& product, const std::string& old_version,
                                         const std::string& new_version, const std::string& device_id,
                                         std::span<const uint8_t> device_key) {
  check_names(product, old_version, new_version);
  auto path = artifacts_.encrypted_patch_path(product, old_version, new_version, device_id);
  std::lock_guard lock(mutex_);  // one stream per device and pair, even under concurrent requests
  if (auto cached = artifacts_.read(path)) return *cached;
  auto patch = artifacts_.read(artifacts_.patch_path(product, old_version, new_version));
  if (!patch || !store_.patch(product, old_version, new_version))
    throw ServiceError(404, "patch_not_found",
                       "no patch " + old_version + " -> " + new_version + " (POST /make_patch/ first)");
  std::array<uint8_t, 32> key{};
  std::copy(device_key.begin(), device_key.end(), key.begin());
  RecordStream stream = encrypt_records(*patch, key, chunk_size_for(kEncryptionDeviceKey, patch->size()),
                                        make_nonce_prefix());
  artifacts_.write_atomic(path, stream.bytes);
  return stream.bytes;
}

std::vector<PatchRecord> PatchService::list(const std::optional<std::string>& product) {
  if (product && !valid_product(*product)) throw ServiceError(400, "invalid_product", "invalid product name");
  return store_.list_patches(product);
}

}  // namespace ota::server
