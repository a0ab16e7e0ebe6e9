// The server's database: one code path for SQLite (default) and PostgreSQL
// through SOCI, versioned schema migrations applied at open, and small
// typed repositories. Knows nothing of HTTP or files; the artifact bytes
// live in the ArtifactStore, the database holds their metadata.
#ifndef OTA_SERVER_STORE_H
#define OTA_SERVER_STORE_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ota::server {

struct FirmwareRecord {
  std::string version;         // validated by the caller ([A-Za-z0-9._+-], 1..32)
  std::string product;         // project name from the image, or as uploaded
  uint16_t chip_id = 0;
  uint64_t size = 0;
  std::string sha256_hex;      // lowercase
  std::string app_version;     // esp_app_desc_t.version
  uint32_t security_counter = 0;
  int64_t created_at = 0;      // Unix seconds
};

struct PatchRecord {
  std::string old_version, new_version;
  uint64_t size = 0;
  std::string sha256_hex;
  uint8_t codec = 0;
  uint32_t device_ram = 0;
  int64_t created_at = 0;
};

struct DeviceRecord {
  std::string device_id;
  std::string product;
  std::string sealed_key_hex;  // device key sealed under the master key
  std::string token_hash_hex;  // SHA-256 of the device's API token
  bool enabled = true;
  int64_t created_at = 0;
  std::optional<int64_t> last_seen;
  std::string running_version;
  std::string running_sha256_hex;
  uint32_t security_counter = 0;
};

// The target a device is told to run (one per device; assigning again
// replaces it). old_version is what the admin named (original API) or empty.
struct UpdateAssignment {
  std::string device_id;
  std::string old_version;
  std::string new_version;
  int64_t created_at = 0;
};

struct StatusEvent {
  std::string device_id;
  int64_t at = 0;
  std::string state;   // downloading, applying, rebooting, confirmed, rolled_back, failed, ...
  std::string detail;  // e.g. failure reason
};

struct AuditEvent {
  int64_t at = 0;
  std::string actor;   // "admin" or a token label
  std::string action;  // e.g. "firmware.upload"
  std::string detail;
};

// Thrown for database failures (connection, constraint other than the
// ones reported through return values, migration errors).
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thread-safe: the HTTP server calls it from several threads.
class Store {
 public:
  // url: "sqlite3://PATH", a plain PATH (SQLite), or "postgresql://..."
  // (SOCI connection string). Applies pending migrations before returning.
  static std::unique_ptr<Store> open(const std::string& url);
  virtual ~Store() = default;

  virtual int schema_version() = 0;

  // Firmware. insert returns false if the version already exists.
  virtual bool insert_firmware(const FirmwareRecord& f) = 0;
  virtual std::optional<FirmwareRecord> firmware(const std::string& version) = 0;
  virtual std::vector<FirmwareRecord> list_firmware() = 0;  // oldest first
  // Deletes a version no assignment or patch refers to; false otherwise.
  virtual bool delete_firmware(const std::string& version) = 0;
  virtual std::optional<FirmwareRecord> firmware_by_sha256(const std::string& sha256_hex) = 0;

  // Patches (metadata of made patches; replaced on re-insert).
  virtual void put_patch(const PatchRecord& p) = 0;
  virtual std::optional<PatchRecord> patch(const std::string& old_version,
                                           const std::string& new_version) = 0;
  virtual std::vector<PatchRecord> list_patches() = 0;

  // Devices. insert returns false if the id exists.
  virtual bool insert_device(const DeviceRecord& d) = 0;
  virtual std::optional<DeviceRecord> device(const std::string& device_id) = 0;
  virtual std::vector<DeviceRecord> list_devices() = 0;
  virtual bool set_device_enabled(const std::string& device_id, bool enabled) = 0;
  // Records a check-in: last_seen, running version and image digest.
  virtual bool touch_device(const std::string& device_id, int64_t at,
                            const std::string& running_version,
                            const std::string& running_sha256_hex) = 0;
  virtual bool set_device_security_counter(const std::string& device_id, uint32_t counter) = 0;

  // Update queue: one assignment per device.
  virtual void assign_update(const UpdateAssignment& a) = 0;
  virtual std::optional<UpdateAssignment> assignment(const std::string& device_id) = 0;
  virtual bool clear_assignment(const std::string& device_id) = 0;

  // History, newest last.
  virtual void add_status(const StatusEvent& e) = 0;
  virtual std::vector<StatusEvent> status_history(const std::string& device_id) = 0;
  virtual void add_audit(const AuditEvent& e) = 0;
  virtual std::vector<AuditEvent> audit_log(size_t limit) = 0;  // newest last, at most limit
};

}  // namespace ota::server

#endif  // OTA_SERVER_STORE_H
