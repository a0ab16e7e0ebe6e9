#include "ota/server/checkin_service.h"

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
                               RolloutService* rollouts)
    : store_(store),
      artifacts_(artifacts),
      firmware_(firmware),
      patches_(patches),
      devices_(devices),
      updates_(updates),
      rollouts_(rollouts),
      signer_(signer),
      master_(master_key),
      clock_(clock ? std::move(clock) : Clock(now_seconds)) {}

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

CheckInService::Release CheckInService::release_for(const std::optional<FirmwareRecord>& base,
                                                    const FirmwareRecord& target, bool firmware_aware) {
  std::lock_guard lock(mutex_);
  Release r;
  r.name = ArtifactStore::release_name(target.product, base ? base->version : "", target.version, firmware_aware);
  auto meta_path = artifacts_.release_path(r.name, "json");
  if (auto meta = artifacts_.read(meta_path)) {
    auto j = nlohmann::json::parse(meta->begin(), meta->end());
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
  // A rollout's member starts its download here, unless the rollout's
  // download cap is reached: then it is told to come back later.
  if (rollouts_) {
    RolloutService::Gate gate = rollouts_->admit(device_id);
    if (!gate.admitted) {
      none.retry_after = gate.retry_after;
      return none;
    }
  }
  Answer ans = offer(device_id, report, running, *target, now);
  ans.image_known = none.image_known;
  ans.running_version = none.running_version;
  return ans;
}

CheckInService::Answer CheckInService::offer(const std::string& device_id, const Report& report,
                                             const std::optional<FirmwareRecord>& running,
                                             const FirmwareRecord& target_in, int64_t now) {
  const FirmwareRecord* target = &target_in;
  // A delta from the image it runs when that is of the same product and chip.
  std::optional<FirmwareRecord> base = running;
  if (base && (base->product != target->product || base->chip_id != target->chip_id)) base.reset();
  // The firmware-aware form when the device has the RAM for it (built once
  // per pair, on the first such check-in); the plain one otherwise.
  std::optional<Release> chosen;
  if (base && report.ram_budget >= PatchService::firmware_aware_min_ram()) {
    Release fa = release_for(base, *target, true);
    if (fa.ram <= report.ram_budget) chosen = std::move(fa);
  }
  if (!chosen) chosen = release_for(base, *target);
  Release& r = *chosen;

  Manifest m{};
  m.kind = kManifestUpdate;
  m.security_counter = target->security_counter;
  std::copy(report.nonce.begin(), report.nonce.end(), m.device_nonce);
  m.issued_at = static_cast<uint64_t>(now);
  set_text(m.product, target->product);
  m.chip_id = target->chip_id;
  set_text(m.device_id, device_id);
  if (base) {
    set_text(m.from_version, base->version);
    Bytes from = unhex(base->sha256_hex);
    std::copy(from.begin(), from.end(), m.from_sha256);
  }
  set_text(m.to_version, target->version);
  Bytes to = unhex(target->sha256_hex);
  std::copy(to.begin(), to.end(), m.to_sha256);
  m.to_size = static_cast<uint32_t>(target->size);
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
  ans.target_version = target->version;
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
