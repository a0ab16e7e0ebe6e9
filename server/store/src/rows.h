// Private to ota_store: the columns of each table as SOCI variables, the
// statements each pooled connection prepares once (the hot calls: device,
// assignment, check_in_view, firmware, firmware_by_sha256, touch_device),
// and their holder.
#ifndef OTA_SERVER_STORE_ROWS_H
#define OTA_SERVER_STORE_ROWS_H

#include <memory>
#include <string>

#include "sql.h"

namespace ota::server::store_detail {

struct FirmwareRow {
#define OTA_FIRMWARE_COLUMNS \
  "product, version, chip_id, size, sha256_hex, app_version, security_counter, created_at"
  static constexpr const char* kSelect = "SELECT " OTA_FIRMWARE_COLUMNS " FROM firmware ";
  std::string product, version, sha256_hex, app_version;
  int chip_id = 0;
  long long size = 0, security_counter = 0, created_at = 0;

  Query& bind(Query& q) {
    return q.into(product).into(version).into(chip_id).into(size).into(sha256_hex)
        .into(app_version).into(security_counter).into(created_at);
  }
  FirmwareRecord record() const {
    FirmwareRecord f;
    f.product = product;
    f.version = version;
    f.chip_id = from_db<uint16_t>(chip_id, "firmware.chip_id");
    f.size = from_db<uint64_t>(size, "firmware.size");
    f.sha256_hex = sha256_hex;
    f.app_version = app_version;
    f.security_counter = from_db<uint32_t>(security_counter, "firmware.security_counter");
    f.created_at = created_at;
    return f;
  }
};

struct PatchRow {
  static constexpr const char* kSelect =
      "SELECT product, old_version, new_version, size, sha256_hex, codec, device_ram, created_at"
      " FROM patches ";
  std::string product, old_version, new_version, sha256_hex;
  int codec = 0;
  long long size = 0, device_ram = 0, created_at = 0;

  Query& bind(Query& q) {
    return q.into(product).into(old_version).into(new_version).into(size).into(sha256_hex)
        .into(codec).into(device_ram).into(created_at);
  }
  PatchRecord record() const {
    PatchRecord p;
    p.product = product;
    p.old_version = old_version;
    p.new_version = new_version;
    p.size = from_db<uint64_t>(size, "patches.size");
    p.sha256_hex = sha256_hex;
    p.codec = from_db<uint8_t>(codec, "patches.codec");
    p.device_ram = from_db<uint32_t>(device_ram, "patches.device_ram");
    p.created_at = created_at;
    return p;
  }
};

struct DeviceRow {
#define OTA_DEVICE_COLUMNS(d)                                                                \
  d "device_id, " d "product, " d "chip_id, " d "sealed_key_hex, " d "token_hash_hex, " d     \
    "enabled, " d "created_at, " d "last_seen, " d "running_version, " d                      \
    "running_sha256_hex, " d "security_counter"
  static constexpr const char* kSelect = "SELECT " OTA_DEVICE_COLUMNS("") " FROM devices ";
  std::string device_id, product, sealed_key_hex, token_hash_hex, running_version,
      running_sha256_hex;
  int enabled = 0, chip_id = 0;
  long long created_at = 0, last_seen = 0, security_counter = 0;
  soci::indicator chip_ind = soci::i_null, last_seen_ind = soci::i_null;

  Query& bind(Query& q) {
    return q.into(device_id).into(product).into(chip_id, chip_ind).into(sealed_key_hex)
        .into(token_hash_hex).into(enabled).into(created_at).into(last_seen, last_seen_ind)
        .into(running_version).into(running_sha256_hex).into(security_counter);
  }
  DeviceRecord record() const {
    DeviceRecord d;
    d.device_id = device_id;
    d.product = product;
    if (chip_ind == soci::i_ok) d.chip_id = from_db<uint16_t>(chip_id, "devices.chip_id");
    d.sealed_key_hex = sealed_key_hex;
    d.token_hash_hex = token_hash_hex;
    d.enabled = enabled != 0;
    d.created_at = created_at;
    if (last_seen_ind == soci::i_ok) d.last_seen = last_seen;
    d.running_version = running_version;
    d.running_sha256_hex = running_sha256_hex;
    d.security_counter = from_db<uint32_t>(security_counter, "devices.security_counter");
    return d;
  }
};

struct AssignmentRow {
  static constexpr const char* kSelect =
      "SELECT device_id, product, old_version, new_version, created_at FROM assignments ";
  std::string device_id, product, old_version, new_version;
  long long created_at = 0;

  Query& bind(Query& q) {
    return q.into(device_id).into(product).into(old_version).into(new_version).into(created_at);
  }
  UpdateAssignment record() const { return {device_id, product, old_version, new_version, created_at}; }
};

// --- the statements prepared once per connection ---

struct FirmwareByVersion {
  static constexpr const char* kText =
      "SELECT " OTA_FIRMWARE_COLUMNS " FROM firmware WHERE product = :p AND version = :v";
  FirmwareRow row;
  std::string product, version;
  void bind(Query& q) { row.bind(q).use(product, "p").use(version, "v"); }
};

// The oldest firmware of a product with an image digest: which firmware a
// device runs (every check-in asks).
struct FirmwareBySha256 {
  static constexpr const char* kText =
      "SELECT " OTA_FIRMWARE_COLUMNS " FROM firmware WHERE product = :p AND sha256_hex = :h"
      " ORDER BY created_at, seq LIMIT 1";
  FirmwareRow row;
  std::string product, sha256_hex;
  void bind(Query& q) { row.bind(q).use(product, "p").use(sha256_hex, "h"); }
};

struct DeviceById {
  static constexpr const char* kText =
      "SELECT " OTA_DEVICE_COLUMNS("") " FROM devices WHERE device_id = :d";
  DeviceRow row;
  std::string device_id;
  void bind(Query& q) { row.bind(q).use(device_id, "d"); }
};

struct AssignmentByDevice {
  static constexpr const char* kText =
      "SELECT device_id, product, old_version, new_version, created_at FROM assignments"
      " WHERE device_id = :d";
  AssignmentRow row;
  std::string device_id;
  void bind(Query& q) { row.bind(q).use(device_id, "d"); }
};

// A device and its assignment's columns (NULL when it has none).
struct CheckInById {
  static constexpr const char* kText =
      "SELECT " OTA_DEVICE_COLUMNS("d.") ", a.product, a.old_version, a.new_version, a.created_at"
      " FROM devices d LEFT JOIN assignments a ON a.device_id = d.device_id"
      " WHERE d.device_id = :d";
  DeviceRow row;
  std::string product, old_version, new_version;
  long long assigned_at = 0;
  soci::indicator product_ind = soci::i_null, old_ind = soci::i_null, new_ind = soci::i_null,
                  at_ind = soci::i_null;
  std::string device_id;
  void bind(Query& q) {
    row.bind(q).into(product, product_ind).into(old_version, old_ind).into(new_version, new_ind)
        .into(assigned_at, at_ind).use(device_id, "d");
  }
  CheckInView view() const {
    CheckInView v;
    v.device = row.record();
    // The assignment columns are NOT NULL: all NULL means no assignment.
    if (new_ind == soci::i_ok) {
      if (product_ind != soci::i_ok || old_ind != soci::i_ok || at_ind != soci::i_ok)
        throw StoreError("store: corrupt database: assignments row with NULL columns");
      v.assignment = UpdateAssignment{v.device.device_id, product, old_version, new_version, assigned_at};
    }
    return v;
  }
};

struct TouchDevice {
  static constexpr const char* kText =
      "UPDATE devices SET last_seen = :at, running_version = :rv,"
      " running_sha256_hex = :rsha WHERE device_id = :d";
  long long seen = 0;
  std::string running_version, running_sha256_hex, device_id;
  void bind(Query& q) {
    q.use(seen, "at").use(running_version, "rv").use(running_sha256_hex, "rsha")
        .use(device_id, "d");
  }
};

#undef OTA_FIRMWARE_COLUMNS
#undef OTA_DEVICE_COLUMNS

// The prepared statements of one connection, each made on first use.
class Statements {
 public:
  explicit Statements(soci::session& sql) : sql_(sql) {}

  Prepared<FirmwareByVersion>& firmware() { return get(firmware_); }
  Prepared<FirmwareBySha256>& firmware_by_sha256() { return get(firmware_by_sha256_); }
  Prepared<DeviceById>& device() { return get(device_); }
  Prepared<AssignmentByDevice>& assignment() { return get(assignment_); }
  Prepared<CheckInById>& check_in() { return get(check_in_); }
  Prepared<TouchDevice>& touch_device() { return get(touch_device_); }

 private:
  template <class Vars>
  Prepared<Vars>& get(std::unique_ptr<Prepared<Vars>>& p) {
    if (!p) p = std::make_unique<Prepared<Vars>>(sql_);
    return *p;
  }

  soci::session& sql_;
  std::unique_ptr<Prepared<FirmwareByVersion>> firmware_;
  std::unique_ptr<Prepared<FirmwareBySha256>> firmware_by_sha256_;
  std::unique_ptr<Prepared<DeviceById>> device_;
  std::unique_ptr<Prepared<AssignmentByDevice>> assignment_;
  std::unique_ptr<Prepared<CheckInById>> check_in_;
  std::unique_ptr<Prepared<TouchDevice>> touch_device_;
};

}  // namespace ota::server::store_detail

#endif  // OTA_SERVER_STORE_ROWS_H
