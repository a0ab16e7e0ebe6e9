// The server's database: one code path for SQLite (default) and PostgreSQL
// through SOCI, versioned schema migrations applied at open, and small
// typed repositories. Knows nothing of HTTP or files; the artifact bytes
// live in the ArtifactStore, the database holds their metadata.
#ifndef OTA_SERVER_STORE_H
#define OTA_SERVER_STORE_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "ota/server/rollout_records.h"

namespace ota::server {

// The product the original endpoints (DESIGN.md §2) work in, which every
// database has: /upload_firmware/ stores there, and a device registered
// without a product belongs to it.
inline constexpr const char* kDefaultProduct = "default";

// A product: what a fleet's firmware and devices belong to (names are
// validated by the caller: [A-Za-z0-9._-], 1..32). Firmware versions are
// unique within a product; two products may each have a version "1.0.0".
struct ProductRecord {
  std::string name;
  int64_t created_at = 0;  // Unix seconds
};

// A product with what it holds, for listings.
struct ProductSummary {
  std::string name;
  int64_t created_at = 0;
  std::vector<uint16_t> chips;  // the chip ids of its firmware, ascending
  uint64_t firmware = 0;        // firmware versions
  uint64_t devices = 0;         // registered devices
};

struct FirmwareRecord {
  std::string product;         // as uploaded (the default product when none is named)
  std::string version;         // validated by the caller ([A-Za-z0-9._+-], 1..32)
  uint16_t chip_id = 0;        // esp_image_header_t.chip_id, validated
  uint64_t size = 0;
  std::string sha256_hex;      // lowercase
  std::string app_version;     // esp_app_desc_t.version (informational; may be any text)
  uint32_t security_counter = 0;
  int64_t created_at = 0;      // Unix seconds
};

// A patch between two firmware versions of one product.
struct PatchRecord {
  std::string product;
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
  std::optional<uint16_t> chip_id;  // declared at registration or learnt from its image; none: unknown
  std::string sealed_key_hex;  // device key sealed under the master key
  std::string token_hash_hex;  // SHA-256 of the device's API token
  bool enabled = true;
  int64_t created_at = 0;
  std::optional<int64_t> last_seen;
  // What the device last reported: its version label (informational text,
  // e.g. an app descriptor's "esp-idf: v4.4.5 ac5d805d0e") and the SHA-256
  // of the image it runs, by which the server knows the image.
  std::string running_version;
  std::string running_sha256_hex;
  uint32_t security_counter = 0;
};

// The target a device is told to run (one per device; assigning again
// replaces it): firmware (product, new_version). old_version is what the
// admin named (original API) or empty.
struct UpdateAssignment {
  std::string device_id;
  std::string product;
  std::string old_version;
  std::string new_version;
  int64_t created_at = 0;
};

// What a device check-in reads (Store::check_in_view): the device and its
// assignment, if any, as of one moment.
struct CheckInView {
  DeviceRecord device;
  std::optional<UpdateAssignment> assignment;
};

struct StatusEvent {
  std::string device_id;
  int64_t at = 0;
  std::string state;   // downloading, applying, rebooting, confirmed, rolled_back, failed, refused, ...
  std::string detail;  // e.g. failure reason
};

struct AuditEvent {
  int64_t at = 0;
  std::string actor;   // "admin" or a token label
  std::string action;  // e.g. "firmware.upload"
  std::string detail;
};

// A device's tag: `key`=`value`, from an admin ("admin") or reported by the
// device at check-in ("device"). Where both name a key the admin's wins.
struct DeviceTag {
  std::string device_id;
  std::string source;
  std::string key, value;
};

// A device group: static (no filter; its members are listed) or dynamic
// (a filter over device attributes, services' device_filter.h; no members).
struct GroupRecord {
  std::string name;
  std::optional<std::string> filter;
  int64_t created_at = 0;
};

// One step of a rollout as the service writes it (see write_rollout_step).
struct RolloutWrite {
  RolloutRecord rollout;             // the record after the step
  int64_t expected_revision = 0;     // its revision as read
  std::vector<WaveRecord> waves;     // changed waves
  std::vector<MemberRecord> members; // changed members, each with its revision as read
  std::vector<std::string> assign;   // devices given the rollout's assignment
  std::vector<std::string> unassign; // devices whose rollout assignment goes
  std::vector<AuditEvent> audit;
};

// What admit_rollout_download decided.
enum class Admission { kAdmitted, kCapReached, kNotAssigned };

// What a device downloaded of its releases (Store::count_download).
struct DownloadCounts {
  uint64_t requests = 0;  // release requests answered with bytes
  uint64_t bytes = 0;     // payload bytes sent
  uint64_t resumes = 0;   // requests that resumed with a Range not from byte 0
};

// A console session (services' session_service.h): the database keeps
// the SHA-256 of its id, never the id itself.
struct SessionRecord {
  std::string id_sha256_hex;
  std::string csrf_token;
  std::string actor;
  int64_t created_at = 0, expires_at = 0;
};

// The fleet as /metrics shows it, counted by the database (grouped rows,
// never one row per device).
struct FleetStats {
  struct Devices {                   // per (product, enabled, seen, assigned)
    std::string product;
    bool enabled = true, seen = false, assigned = false;
    uint64_t n = 0;
  };
  struct Named {                     // per (product, name)
    std::string product, name;
    uint64_t n = 0;
  };
  struct Members {                   // per (rollout, wave, member state)
    int64_t rollout = 0;
    int wave = 0;
    std::string state;
    uint64_t n = 0;
  };
  struct Wave {
    int64_t rollout = 0;
    int wave = 0;
    bool started = false, done = false;
  };
  std::vector<Devices> devices;
  std::vector<Named> last_status;    // name: the state of each device's latest status event
  std::vector<Named> running;        // name: the version of the image it runs ("" when unknown)
  std::vector<Named> firmware;       // name: "" (per product)
  std::vector<std::pair<std::string, uint64_t>> rollouts;  // per state
  // Of the rollouts that are active or changed at or after `recent_since`:
  std::vector<RolloutRecord> recent;  // by id
  std::vector<Wave> waves;
  std::vector<Members> members;
};

// Thrown for database failures (connection, constraint other than the
// ones reported through return values, migration errors), and for writes
// that name a device or firmware version that does not exist. what() reads
// "store: <operation>: <reason>": the database's own error line, or e.g.
// "unknown device 'X'"; never SQL text nor the statement's bound values.
// A database whose schema is newer than this code is refused with
// "database schema version N is newer than this server (M)".
struct StoreError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Thread-safe: the HTTP server calls it from several threads. Each call
// uses one connection for its duration: SQLite has one (calls take turns),
// PostgreSQL a pool of four. The hot reads and writes (device, assignment,
// check_in_view, firmware, firmware_by_sha256, touch_device) run statements
// each connection prepares once, on first use, and keeps until it
// reconnects. Several Store objects, in one process or in several servers,
// may share one database.
class Store {
 public:
  // url: "sqlite3://PATH" or a plain PATH (SQLite; the parent directory is
  // created; WAL journal, foreign keys on, 5 s busy timeout), or
  // "postgresql://..." / "postgres://...": after the scheme either SOCI's
  // keyword form ("postgresql://dbname=ota user=ota host=db") or a libpq URI
  // ("postgresql://ota:pw@db:5432/ota?sslmode=require").
  // Applies pending migrations, in one transaction, before returning.
  // Throws StoreError.
  static std::unique_ptr<Store> open(const std::string& url);
  // The connections (both backends; SQLite's read at once in WAL mode and
  // take turns to write, each waiting at most 5 s for the write lock; an
  // in-memory SQLite database has exactly one) and PostgreSQL's statement
  // timeout (refused with SQLite: StoreError "... is for PostgreSQL").
  struct Options {
    std::optional<size_t> pool_size;               // 1..256; default 4
    std::optional<int64_t> statement_timeout_ms;   // 0: none; default 30,000
  };
  static std::unique_ptr<Store> open(const std::string& url, const Options& options);
  static constexpr size_t kDefaultPostgresPool = 4;
  static constexpr size_t kDefaultSqlitePool = 4;
  static constexpr int64_t kDefaultStatementTimeoutMs = 30'000;
  virtual ~Store() = default;

  // The database's schema version (that of this code after open()).
  virtual int schema_version() = 0;

  // Products. ensure_product creates it (at `created_at`) unless it exists;
  // true when it was created.
  virtual bool ensure_product(const std::string& name, int64_t created_at) = 0;
  virtual std::optional<ProductRecord> product(const std::string& name) = 0;
  virtual std::vector<ProductSummary> list_products() = 0;  // oldest first

  // Firmware, keyed by (product, version). insert returns false if the
  // product has that version already (the stored record is left as it
  // was); it throws StoreError for an unknown product.
  virtual bool insert_firmware(const FirmwareRecord& f) = 0;
  virtual std::optional<FirmwareRecord> firmware(const std::string& product,
                                                 const std::string& version) = 0;
  // All firmware, or one product's; oldest first.
  virtual std::vector<FirmwareRecord> list_firmware(
      const std::optional<std::string>& product = std::nullopt) = 0;
  // Deletes a version no assignment (as old or new version) or patch of its
  // product refers to; false otherwise, and false if there is no such version.
  virtual bool delete_firmware(const std::string& product, const std::string& version) = 0;
  // The product's oldest version with this image digest (compared as
  // stored: lowercase): how the server knows what a device runs.
  virtual std::optional<FirmwareRecord> firmware_by_sha256(const std::string& product,
                                                           const std::string& sha256_hex) = 0;
  // The highest security counter of the product's firmware (0 for none).
  virtual uint32_t max_security_counter(const std::string& product) = 0;

  // Patches (metadata of made patches; replaced on re-insert). put_patch
  // throws StoreError if either version is not a stored firmware of p.product.
  virtual void put_patch(const PatchRecord& p) = 0;
  virtual std::optional<PatchRecord> patch(const std::string& product, const std::string& old_version,
                                           const std::string& new_version) = 0;
  virtual std::vector<PatchRecord> list_patches(
      const std::optional<std::string>& product = std::nullopt) = 0;  // oldest first

  // Devices. insert returns false if the id exists; it throws StoreError
  // for an unknown product.
  virtual bool insert_device(const DeviceRecord& d) = 0;
  virtual std::optional<DeviceRecord> device(const std::string& device_id) = 0;
  virtual std::vector<DeviceRecord> list_devices() = 0;  // oldest first
  // These return false if there is no such device.
  virtual bool set_device_enabled(const std::string& device_id, bool enabled) = 0;
  // Records a check-in: last_seen, the reported version label and image digest.
  virtual bool touch_device(const std::string& device_id, int64_t at,
                            const std::string& running_version,
                            const std::string& running_sha256_hex) = 0;
  virtual bool set_device_security_counter(const std::string& device_id, uint32_t counter) = 0;
  virtual bool set_device_chip(const std::string& device_id, uint16_t chip_id) = 0;

  // Update queue: one assignment per device. assign_update throws
  // StoreError if the device does not exist, if a.product is not the
  // device's product, or if (a.product, a.new_version) is not a stored
  // firmware (old_version is kept as named: it may be an image the registry
  // never stored). clear_assignment returns false if the device had none.
  virtual void assign_update(const UpdateAssignment& a) = 0;
  virtual std::optional<UpdateAssignment> assignment(const std::string& device_id) = 0;
  virtual bool clear_assignment(const std::string& device_id) = 0;

  // The check-in read: device(device_id) and assignment(device_id) in one
  // query (devices LEFT JOIN assignments), hence one consistent snapshot.
  // nullopt if there is no such device (whether or not it is enabled, the
  // record is returned; the caller decides). Same errors as device().
  virtual std::optional<CheckInView> check_in_view(const std::string& device_id) = 0;

  // Tags. set_device_tag sets one (nullopt removes it); replace_device_tags
  // makes `tags` the whole set of `source`. Both throw StoreError for an
  // unknown device and write nothing when nothing changes.
  virtual void set_device_tag(const std::string& device_id, const std::string& source,
                              const std::string& key, const std::optional<std::string>& value) = 0;
  virtual void replace_device_tags(const std::string& device_id, const std::string& source,
                                   const std::map<std::string, std::string>& tags) = 0;
  virtual std::vector<DeviceTag> device_tags(const std::string& device_id) = 0;  // by source, key
  virtual std::vector<DeviceTag> all_device_tags() = 0;                           // by device, source, key

  // Groups. create_group returns false if the name exists; delete_group
  // removes its members too (false if there is no such group).
  // add_group_member throws StoreError for an unknown group or device, or a
  // dynamic group; adding a member twice is no error.
  virtual bool create_group(const GroupRecord& g) = 0;
  virtual std::optional<GroupRecord> group(const std::string& name) = 0;
  virtual std::vector<GroupRecord> list_groups() = 0;  // oldest first
  virtual bool delete_group(const std::string& name) = 0;
  virtual void add_group_member(const std::string& group, const std::string& device_id) = 0;
  virtual bool remove_group_member(const std::string& group, const std::string& device_id) = 0;
  virtual std::vector<std::string> group_members(const std::string& group) = 0;  // by device id
  // Every (group, device) membership, by group then device.
  virtual std::vector<std::pair<std::string, std::string>> all_group_members() = 0;

  // Rollouts. create_rollout writes the rollout (its id and revision 1 are
  // given here), its waves and members, and makes its members the
  // rollout's, in one transaction; nullopt (and nothing written) when a
  // member is in another active rollout already.
  virtual std::optional<int64_t> create_rollout(const RolloutSnapshot& s, const AuditEvent& audit) = 0;
  virtual std::optional<RolloutSnapshot> rollout(int64_t id) = 0;  // members by position
  // The rollout and its waves without its members (cheap), and one member.
  virtual std::optional<RolloutSnapshot> rollout_header(int64_t id) = 0;
  virtual std::optional<MemberRecord> rollout_member(int64_t id, const std::string& device_id) = 0;
  virtual std::vector<RolloutRecord> list_rollouts() = 0;         // oldest first
  virtual std::vector<int64_t> active_rollouts() = 0;
  // The active rollout a device is in, if any.
  virtual std::optional<int64_t> rollout_of_device(const std::string& device_id) = 0;
  // The rollouts a device was ever in, newest first, with its record in each.
  virtual std::vector<std::pair<int64_t, MemberRecord>> device_rollouts(const std::string& device_id) = 0;
  // One engine step, in one transaction, only if nothing changed since it
  // was read: the rollout's revision and each changed member's revision
  // must be as read (both are bumped by the write). Gives and takes back
  // the assignments (only the rollout's own: same product and version),
  // writes the audit events, and frees the members of a rollout that is
  // over. False: something moved on; read again and take the step again.
  virtual bool write_rollout_step(const RolloutWrite& w) = 0;
  // One member, written alone: only if its revision is still `expected`.
  virtual bool update_rollout_member(int64_t rollout_id, const MemberRecord& m, int64_t expected) = 0;
  // A device that joined the target set while the rollout runs; false if
  // it is in another active rollout.
  virtual bool add_rollout_member(int64_t rollout_id, const MemberRecord& m) = 0;
  // A check-in of a member: an assigned member starts downloading (state
  // downloading, started_at = now) unless `max_in_progress` members are
  // downloading, applying or rebooting already (0: no cap); one started
  // already is admitted again. Serialised per rollout (its row is locked).
  virtual Admission admit_rollout_download(int64_t rollout_id, const std::string& device_id,
                                           uint32_t max_in_progress, int64_t now) = 0;

  // Console sessions. insert_session is false when the id exists;
  // delete_expired_sessions removes those whose expires_at is `now` or
  // earlier and returns how many.
  virtual bool insert_session(const SessionRecord& s) = 0;
  virtual std::optional<SessionRecord> session(const std::string& id_sha256_hex) = 0;
  virtual bool delete_session(const std::string& id_sha256_hex) = 0;
  virtual size_t delete_expired_sessions(int64_t now) = 0;

  // The counts of FleetStats; `recent_since`: Unix seconds.
  virtual FleetStats fleet_stats(int64_t recent_since) = 0;

  // History, newest last: ordered by `at`, then by insertion (events in
  // the same second keep their order). add_status throws StoreError for an
  // unknown device; status_history of an unknown device is empty.
  virtual void add_status(const StatusEvent& e) = 0;
  virtual std::vector<StatusEvent> status_history(const std::string& device_id) = 0;
  // The newest status events whose state is failed, rolled_back or
  // refused, fleet-wide, newest first, at most `limit`.
  virtual std::vector<StatusEvent> recent_failures(size_t limit) = 0;
  // The state of each device's latest status event (the newest inserted),
  // by device id; a device with no events is absent.
  virtual std::map<std::string, std::string> latest_states() = 0;
  // The same for one device (nullopt: none yet, or no such device).
  virtual std::optional<std::string> latest_state(const std::string& device_id) = 0;
  // Adds one answered release request of `bytes` (a resume when `resumed`)
  // to the device's counts; 0 for a device never counted.
  virtual void count_download(const std::string& device_id, uint64_t bytes, bool resumed) = 0;
  virtual DownloadCounts download_counts(const std::string& device_id) = 0;
  virtual void add_audit(const AuditEvent& e) = 0;
  virtual std::vector<AuditEvent> audit_log(size_t limit) = 0;  // newest last, at most limit
};

}  // namespace ota::server

#endif  // OTA_SERVER_STORE_H
