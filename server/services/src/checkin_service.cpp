#include "ota/server/checkin_service.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "ota/patch_decoder.h"
#include "ota/server/envelope.h"
#include "ota/server/rollout_service.h"
#include "service_util.h"

namespace ota::server {

struct CheckInService::Release {
  std::string name;
  uint8_t payload_type = 0;
  uint32_t payload_size = 0;
  std::string payload_sha256_hex;
  uint8_t codec = 0;
  uint32_t ram = 0;
  bool firmware_aware = false;  // the payload's header names a transform
  RecordStream stream;  // bytes left empty: only the geometry is needed here
  uint32_t stream_size = 0;
  Bytes content_key;
};

CheckInService::CheckInService(Store& store, ArtifactStore& artifacts, FirmwareService& firmware,
                               PatchService& patches, DeviceService& devices, UpdateService& updates,
                               const SigningKey& signer, const Bytes& master_key, Clock clock,
                               RolloutService* rollouts, BuildQueue* builds)
    : store_(store),
      artifacts_(artifacts),
      firmware_(firmware),
      patches_(patches),
      devices_(devices),
      updates_(updates),
      rollouts_(rollouts),
      signer_(signer),
      master_(master_key),
      clock_(clock ? std::move(clock) : Clock(now_seconds)),
      builds_(builds) {}

void CheckInService::authenticate(const std::string& device_id, std::string_view authorization) {
  constexpr std::string_view kBearer = "Bearer ";
  DeviceRecord d = devices_.get(device_id);
  if (authorization.substr(0, kBearer.size()) != kBearer)
    throw ServiceError(401, "unauthorized", "device endpoint: send Authorization: Bearer <device token>");
  std::string_view token = authorization.substr(kBearer.size());
  std::string got = hex(sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(token.data()), token.size())));
  uint8_t diff = got.size() == d.token_hash_hex.size() ? 0 : 1;
  for (size_t i = 0; i < got.size() && i < d.token_hash_hex.size(); ++i)
    diff |= static_cast<uint8_t>(got[i] ^ d.token_hash_hex[i]);
  if (diff != 0 || d.token_hash_hex.empty())
    throw ServiceError(401, "unauthorized", "wrong device token");
  if (!d.enabled) throw ServiceError(403, "device_disabled", "device " + device_id + " is disabled");
}

std::optional<uint64_t> CheckInService::delta_release_size(const std::string& product,
                                                          const std::string& old_version,
                                                          const std::string& new_version, bool firmware_aware) {
  if (!valid_version(old_version) || !valid_version(new_version)) return std::nullopt;
  const std::string name = ArtifactStore::release_name(product, old_version, new_version, firmware_aware);
  auto meta = artifacts_.read(artifacts_.release_path(name, "json"));
  if (!meta) return std::nullopt;
  auto j = nlohmann::json::parse(meta->begin(), meta->end(), nullptr, false);
  if (j.is_discarded() || !j.contains("payload_size") || !j["payload_size"].is_number_unsigned()) return std::nullopt;
  return j["payload_size"].get<uint64_t>();
}

uint64_t CheckInService::prepare_delta_release(const std::string& product, const std::string& old_version,
                                               const std::string& new_version, bool firmware_aware) {
  FirmwareRecord base = firmware_.get(product, old_version);
  FirmwareRecord target = firmware_.get(product, new_version);
  return release_for(base, target, firmware_aware).payload_size;
}

struct CheckInService::Choice {
  std::optional<Release> release;      // what to offer; none: wait retry_after
  std::optional<FirmwareRecord> base;  // the release's base (none: the full image)
  int64_t retry_after = 0;
};

std::optional<CheckInService::Release> CheckInService::stored_release(const std::string& name) {
  auto meta = artifacts_.read(artifacts_.release_path(name, "json"));
  if (!meta) return std::nullopt;
  auto j = nlohmann::json::parse(meta->begin(), meta->end());
  Release r;
  r.name = name;
  r.payload_type = j["payload_type"];
  r.payload_size = j["payload_size"];
  r.payload_sha256_hex = j["payload_sha256"];
  r.codec = j["codec"];
  r.ram = j["ram"];
  r.firmware_aware = j.value("transform", 0) != kTransformNone;
  r.stream.chunk_size = j["chunk_size"];
  r.stream.record_count = j["record_count"];
  r.stream_size = j["stream_size"];
  Bytes prefix = unhex(j["nonce_prefix"].get<std::string>());
  std::copy(prefix.begin(), prefix.end(), r.stream.nonce_prefix.begin());
  Bytes first = unhex(j["first_record_sha256"].get<std::string>());
  std::copy(first.begin(), first.end(), r.stream.first_record_sha256.begin());
  auto key = open_device_key(master_, "release:" + r.name, unhex(j["content_key_sealed"].get<std::string>()));
  if (!key) throw ServiceError(500, "release_key_unavailable", "release key does not open with the master key");
  r.content_key = *key;
  return r;
}

CheckInService::Release CheckInService::release_for(const std::optional<FirmwareRecord>& base,
                                                    const FirmwareRecord& target, bool firmware_aware) {
  const std::string name =
      ArtifactStore::release_name(target.product, base ? base->version : "", target.version, firmware_aware);
  if (auto stored = stored_release(name)) return *stored;
  // One build per name: two streams of one name under different content
  // keys would break the downloads of whoever got the first manifest.
  std::shared_ptr<std::mutex> lock_of_name;
  {
    std::lock_guard lock(names_mutex_);
    auto& m = building_[name];
    if (!m) m = std::make_shared<std::mutex>();
    lock_of_name = m;
  }
  std::lock_guard lock(*lock_of_name);
  if (auto stored = stored_release(name)) return *stored;
  auto meta_path = artifacts_.release_path(name, "json");
  Release r;
  r.name = name;
  Bytes payload;
  uint8_t transform = kTransformNone;
  if (base && firmware_aware) {
    payload = patches_.make_firmware_aware(target.product, base->version, target.version);
  } else if (base) {
    patches_.make(target.product, base->version, target.version, "check-in");
    auto patch = artifacts_.read(artifacts_.patch_path(target.product, base->version, target.version));
    if (!patch) throw ServiceError(500, "storage_missing", "patch file missing");
    payload = std::move(*patch);
  }
  if (base) {
    PatchHeader h;
    if (payload.size() < kPatchHeaderSize || patch_header_parse(payload.data(), &h) != kStatusOk)
      throw ServiceError(500, "bad_patch", "stored patch does not parse");
    r.payload_type = kPayloadPatch;
    r.codec = h.codec;
    r.ram = patch_decoder_ram(h);
    transform = h.transform;
    r.firmware_aware = transform != kTransformNone;
  } else {
    payload = firmware_.read_image(target.product, target.version);
    r.payload_type = kPayloadFullImage;
  }
  r.payload_size = static_cast<uint32_t>(payload.size());
  r.payload_sha256_hex = hex(sha256(payload));
  r.content_key = random_bytes(32);
  std::array<uint8_t, 32> key{};
  std::copy(r.content_key.begin(), r.content_key.end(), key.begin());
  RecordStream stream = encrypt_records(payload, key, kDefaultChunkSize, make_nonce_prefix());
  r.stream_size = static_cast<uint32_t>(stream.bytes.size());
  artifacts_.write_atomic(artifacts_.release_path(r.name, "rec"), stream.bytes);
  nlohmann::json j = {{"payload_type", r.payload_type},
                      {"payload_size", r.payload_size},
                      {"payload_sha256", r.payload_sha256_hex},
                      {"codec", r.codec},
                      {"ram", r.ram},
                      {"transform", transform},
                      {"chunk_size", stream.chunk_size},
                      {"record_count", stream.record_count},
                      {"stream_size", r.stream_size},
                      {"nonce_prefix", hex(stream.nonce_prefix)},
                      {"first_record_sha256", hex(stream.first_record_sha256)},
                      {"content_key_sealed", hex(seal_device_key(master_, "release:" + r.name, r.content_key))}};
  std::string text = j.dump(2) + "\n";
  // The metadata last: a release exists only once its stream is complete.
  artifacts_.write_atomic(meta_path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  stream.bytes.clear();
  r.stream = std::move(stream);
  return r;
}

CheckInService::Answer CheckInService::check_in(const std::string& device_id, const Report& report) {
  if (report.image_sha256_hex.size() != 64 ||
      report.image_sha256_hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw ServiceError(400, "invalid_sha256", "image_sha256 must be 64 lowercase hex characters");
  const std::string label = reported_version(report.version);
  auto view = store_.check_in_view(device_id);
  if (!view) throw ServiceError(404, "device_not_found", "no device " + device_id);
  DeviceRecord& device = view->device;
  int64_t now = clock_();
  if (device.running_version != label || device.running_sha256_hex != report.image_sha256_hex ||
      !device.last_seen || *device.last_seen + 60 <= now)
    store_.touch_device(device_id, now, label, report.image_sha256_hex);
  // The image it runs, if the server knows it: then its chip is known too.
  std::optional<FirmwareRecord> running = store_.firmware_by_sha256(device.product, report.image_sha256_hex);
  if (running && device.chip_id != running->chip_id) {
    store_.set_device_chip(device_id, running->chip_id);
    device.chip_id = running->chip_id;
  }
  Answer none;
  none.image_known = running.has_value();
  if (running) none.running_version = running->version;
  const auto& a = view->assignment;
  if (!a) return none;
  auto target = store_.firmware(a->product, a->new_version);
  if (!target) return none;
  if (auto why = UpdateService::refusal(device, *target)) {
    updates_.refuse(*a, *why);
    return none;
  }
  if (target->sha256_hex == report.image_sha256_hex) return none;
  // The release first: a device whose delta is still being built is told
  // to come back before it takes one of its rollout's download places.
  Choice choice = choose(device_id, report, running, *target);
  if (!choice.release) {
    none.retry_after = choice.retry_after;
    none.retry_reason = "building";
    return none;
  }
  // A rollout's member starts its download here, unless the rollout's
  // download cap is reached: then it is told to come back later.
  if (rollouts_) {
    RolloutService::Gate gate = rollouts_->admit(device_id);
    if (!gate.admitted) {
      none.retry_after = gate.retry_after;
      none.retry_reason = "download_cap";
      return none;
    }
  }
  Answer ans = offer(device_id, report, *target, choice.base, *choice.release, now);
  ans.image_known = none.image_known;
  ans.running_version = none.running_version;
  return ans;
}

std::optional<BuildQueue::Job> CheckInService::queue_delta_release(const FirmwareRecord& base,
                                                                   const FirmwareRecord& target,
                                                                   bool firmware_aware, const std::string& asker) {
  if (!builds_) return std::nullopt;
  const std::string name = ArtifactStore::release_name(target.product, base.version, target.version, firmware_aware);
  const std::string label = target.product + " " + base.version + " -> " + target.version +
                            (firmware_aware ? " (firmware-aware)" : " (plain)");
  return builds_->request(name, label, asker, [this, base, target, firmware_aware] {
    release_for(base, target, firmware_aware);
  }, target.product);
}

size_t CheckInService::prebuild(const std::string& product, const std::string& version) {
  if (!builds_) return 0;
  auto target = store_.firmware(product, version);
  if (!target) return 0;
  std::map<std::string, std::vector<std::string>> by_image;  // running digest -> its devices
  for (const DeviceRecord& d : store_.list_devices())
    if (d.product == product && d.enabled && !d.running_sha256_hex.empty() &&
        d.running_sha256_hex != target->sha256_hex)
      by_image[d.running_sha256_hex].push_back(d.device_id);
  std::vector<std::pair<FirmwareRecord, const std::vector<std::string>*>> bases;
  for (const auto& [sha, ids] : by_image) {
    auto base = store_.firmware_by_sha256(product, sha);
    if (base && base->chip_id == target->chip_id) bases.emplace_back(*base, &ids);
  }
  // Most devices first: among equal demand the queue goes by first asked.
  std::stable_sort(bases.begin(), bases.end(),
                   [](const auto& a, const auto& b) { return a.second->size() > b.second->size(); });
  size_t queued = 0;
  auto missing = [&](const FirmwareRecord& base, bool firmware_aware) {
    return !std::filesystem::exists(artifacts_.release_path(
        ArtifactStore::release_name(product, base.version, target->version, firmware_aware), "json"));
  };
  for (const auto& [base, ids] : bases) {
    if (!missing(base, true)) continue;
    for (const std::string& id : *ids) queue_delta_release(base, *target, true, id);
    ++queued;
  }
  for (const auto& [base, ids] : bases) {
    if (!missing(base, false)) continue;
    queue_delta_release(base, *target, false, "");
    ++queued;
  }
  return queued;
}

CheckInService::Choice CheckInService::choose(const std::string& device_id, const Report& report,
                                              const std::optional<FirmwareRecord>& running,
                                              const FirmwareRecord& target) {
  Choice c;
  // A delta from the image it runs when that is of the same product and chip.
  std::optional<FirmwareRecord> base = running;
  if (base && (base->product != target.product || base->chip_id != target.chip_id)) base.reset();
  if (base && !builds_) {
    // Built here: the firmware-aware form when the device has the RAM for
    // it (once per pair), the plain one otherwise.
    if (report.ram_budget >= PatchService::firmware_aware_min_ram()) {
      Release fa = release_for(base, target, true);
      if (fa.ram <= report.ram_budget) c.release = std::move(fa);
    }
    if (!c.release) c.release = release_for(base, target);
    c.base = base;
    return c;
  }
  if (base) {
    auto name = [&](bool firmware_aware) {
      return ArtifactStore::release_name(target.product, base->version, target.version, firmware_aware);
    };
    auto waiting = [&](const std::optional<BuildQueue::Job>& job, bool firmware_aware) {
      if (!job || job->state == BuildQueue::State::kFailed) return false;
      c.retry_after = builds_->retry_after(name(firmware_aware));
      return true;
    };
    if (report.ram_budget >= PatchService::firmware_aware_min_ram()) {
      auto fa = stored_release(name(true));
      if (fa && fa->ram <= report.ram_budget) {
        c.release = std::move(fa);
        c.base = base;
        return c;
      }
      // Not built: wait for it, unless its build failed for good (then
      // the plain form). Built but too big for this device: the plain form.
      if (!fa && waiting(queue_delta_release(*base, target, true, device_id), true)) return c;
    }
    if (auto plain = stored_release(name(false))) {
      c.release = std::move(plain);
      c.base = base;
      return c;
    }
    if (waiting(queue_delta_release(*base, target, false, device_id), false)) return c;
    // No delta can be built: the full image.
  }
  c.release = release_for(std::nullopt, target);
  return c;
}

CheckInService::Answer CheckInService::offer(const std::string& device_id, const Report& report,
                                             const FirmwareRecord& target,
                                             const std::optional<FirmwareRecord>& base, const Release& r,
                                             int64_t now) {
  Manifest m{};
  m.kind = kManifestUpdate;
  m.security_counter = target.security_counter;
  std::copy(report.nonce.begin(), report.nonce.end(), m.device_nonce);
  m.issued_at = static_cast<uint64_t>(now);
  set_text(m.product, target.product);
  m.chip_id = target.chip_id;
  set_text(m.device_id, device_id);
  if (base) {
    set_text(m.from_version, base->version);
    Bytes from = unhex(base->sha256_hex);
    std::copy(from.begin(), from.end(), m.from_sha256);
  }
  set_text(m.to_version, target.version);
  Bytes to = unhex(target.sha256_hex);
  std::copy(to.begin(), to.end(), m.to_sha256);
  m.to_size = static_cast<uint32_t>(target.size);
  m.payload_type = r.payload_type;
  Bytes psha = unhex(r.payload_sha256_hex);
  std::copy(psha.begin(), psha.end(), m.payload_sha256);
  m.payload_codec = r.codec;
  m.payload_ram = r.ram;
  m.encryption = kEncryptionWrappedKey;
  m.chunk_size = r.stream.chunk_size;
  m.record_count = r.stream.record_count;
  m.stream_size = r.stream_size;
  m.payload_size = r.payload_size;
  std::copy(r.stream.nonce_prefix.begin(), r.stream.nonce_prefix.end(), m.nonce_prefix);
  std::copy(r.stream.first_record_sha256.begin(), r.stream.first_record_sha256.end(), m.first_record_sha256);
  Bytes device_key = devices_.device_key(device_id);
  auto wrapped = wrap_content_key(std::span<const uint8_t, 32>(device_key.data(), 32),
                                  std::span<const uint8_t, 32>(r.content_key.data(), 32));
  std::copy(wrapped.begin(), wrapped.end(), m.wrapped_key);

  Answer ans;
  ans.update = true;
  ans.manifest = sign_manifest(m, signer_);
  ans.release = r.name;
  ans.stream_size = r.stream_size;
  ans.target_version = target.version;
  ans.delta = base.has_value();
  ans.firmware_aware = r.firmware_aware;
  return ans;
}

Bytes CheckInService::release_stream(const std::string& device_id, const std::string& release) {
  devices_.get(device_id);
  if (!ArtifactStore::valid_release_name(release))
    throw ServiceError(400, "invalid_release", "invalid release name");
  // The metadata is written last: without it the stream may be incomplete.
  if (!std::filesystem::exists(artifacts_.release_path(release, "json")))
    throw ServiceError(404, "release_not_found", "no release " + release);
  auto bytes = artifacts_.read(artifacts_.release_path(release, "rec"));
  if (!bytes) throw ServiceError(404, "release_not_found", "no release " + release);
  return *bytes;
}

}  // namespace ota::server
