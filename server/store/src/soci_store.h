// Private to ota_store: the Store on SOCI, one implementation for SQLite
// and PostgreSQL. Its calls are defined in store.cpp (opening, products),
// store_firmware.cpp (firmware, patches), store_devices.cpp (devices,
// the update queue, histories), store_groups.cpp (tags, groups) and
// store_rollouts.cpp (rollouts), store_stats.cpp (the counts of
// /metrics) and store_sessions.cpp (console sessions).
//
// Concurrency: a soci::connection_pool; each call leases one session for its
// duration (blocking while all are busy); four by default on either backend
// (an in-memory SQLite database: one). Calls never nest, so a thread never
// waits on itself. Between connections, of one server or of several on one
// database, SQLite readers run at once (WAL) and writers take the write
// lock up front (BEGIN IMMEDIATE; a lock wait retries after 20 us to 1 ms,
// 5 s at most), and PostgreSQL writers lock the counter rows they advance.
//
// Every multi-statement write runs in one transaction; every value is bound
// with soci::use (statement texts are constants).
//
// Prepared statements: SOCI does not cache them, and building, preparing
// (on PostgreSQL: PREPARE and DEALLOCATE round trips) and binding a
// statement costs more than running it. So the hot calls (device,
// assignment, check_in_view, firmware, firmware_by_sha256, touch_device) use statements that
// each pooled connection prepares once, on first use, with their bound
// variables next to them (Slot::statements). They are used only by the
// connection's lease holder, and dropped (before the session itself) when
// the connection reconnects or a call on it fails in the database layer.
// On SQLite a statement is reset after each use: one left mid-result would
// hold its read transaction open (a stale snapshot, and writes refused).
#ifndef OTA_SERVER_SOCI_STORE_H
#define OTA_SERVER_SOCI_STORE_H

#include <chrono>
#include <memory>
#include <type_traits>
#include <vector>

#include "rows.h"

namespace ota::server::store_detail {

// A pooled connection idle this long is checked before use.
inline constexpr std::chrono::seconds kIdleRecheck{30};

class SociStore final : public Store {
 public:
  SociStore(Target target, size_t pool_size)
      : target_(std::move(target)), pool_size_(pool_size), pool_(pool_size), slots_(pool_size) {}

  // Opens every pooled connection, then migrates.
  void start();

  int schema_version() override;

  bool ensure_product(const std::string& name, int64_t created_at) override;
  std::optional<ProductRecord> product(const std::string& name) override;
  std::vector<ProductSummary> list_products() override;

  bool insert_firmware(const FirmwareRecord& f) override;
  std::optional<FirmwareRecord> firmware(const std::string& product, const std::string& version) override;
  std::vector<FirmwareRecord> list_firmware(const std::optional<std::string>& product) override;
  bool delete_firmware(const std::string& product, const std::string& version) override;
  std::optional<FirmwareRecord> firmware_by_sha256(const std::string& product,
                                                   const std::string& sha256_hex) override;
  uint32_t max_security_counter(const std::string& product) override;

  void put_patch(const PatchRecord& p) override;
  std::optional<PatchRecord> patch(const std::string& product, const std::string& old_version,
                                   const std::string& new_version) override;
  std::vector<PatchRecord> list_patches(const std::optional<std::string>& product) override;

  bool insert_device(const DeviceRecord& d) override;
  std::optional<DeviceRecord> device(const std::string& device_id) override;
  std::vector<DeviceRecord> list_devices() override;
  bool set_device_enabled(const std::string& device_id, bool enabled) override;
  bool touch_device(const std::string& device_id, int64_t at, const std::string& running_version,
                    const std::string& running_sha256_hex) override;
  bool set_device_security_counter(const std::string& device_id, uint32_t counter) override;
  bool set_device_chip(const std::string& device_id, uint16_t chip_id) override;

  void assign_update(const UpdateAssignment& a) override;
  std::optional<UpdateAssignment> assignment(const std::string& device_id) override;
  bool clear_assignment(const std::string& device_id) override;
  std::optional<CheckInView> check_in_view(const std::string& device_id) override;

  void set_device_tag(const std::string& device_id, const std::string& source, const std::string& key,
                      const std::optional<std::string>& value) override;
  void replace_device_tags(const std::string& device_id, const std::string& source,
                           const std::map<std::string, std::string>& tags) override;
  std::vector<DeviceTag> device_tags(const std::string& device_id) override;
  std::vector<DeviceTag> all_device_tags() override;

  bool create_group(const GroupRecord& g) override;
  std::optional<GroupRecord> group(const std::string& name) override;
  std::vector<GroupRecord> list_groups() override;
  bool delete_group(const std::string& name) override;
  void add_group_member(const std::string& group, const std::string& device_id) override;
  bool remove_group_member(const std::string& group, const std::string& device_id) override;
  std::vector<std::string> group_members(const std::string& group) override;
  std::vector<std::pair<std::string, std::string>> all_group_members() override;

  std::optional<int64_t> create_rollout(const RolloutSnapshot& s, const AuditEvent& audit) override;
  std::optional<RolloutSnapshot> rollout(int64_t id) override;
  std::optional<RolloutSnapshot> rollout_header(int64_t id) override;
  std::optional<MemberRecord> rollout_member(int64_t id, const std::string& device_id) override;
  std::vector<RolloutRecord> list_rollouts() override;
  std::vector<int64_t> active_rollouts() override;
  std::optional<int64_t> rollout_of_device(const std::string& device_id) override;
  std::vector<std::pair<int64_t, MemberRecord>> device_rollouts(const std::string& device_id) override;
  FleetStats fleet_stats(int64_t recent_since) override;
  bool insert_session(const SessionRecord& s) override;
  std::optional<SessionRecord> session(const std::string& id_sha256_hex) override;
  bool delete_session(const std::string& id_sha256_hex) override;
  size_t delete_expired_sessions(int64_t now) override;
  bool write_rollout_step(const RolloutWrite& w) override;
  bool update_rollout_member(int64_t rollout_id, const MemberRecord& m, int64_t expected) override;
  bool add_rollout_member(int64_t rollout_id, const MemberRecord& m) override;
  Admission admit_rollout_download(int64_t rollout_id, const std::string& device_id, uint32_t max_in_progress,
                                   int64_t now) override;

  void add_status(const StatusEvent& e) override;
  std::vector<StatusEvent> status_history(const std::string& device_id) override;
  std::vector<StatusEvent> recent_failures(size_t limit) override;
  std::map<std::string, std::string> latest_states() override;
  std::optional<std::string> latest_state(const std::string& device_id) override;
  void count_download(const std::string& device_id, uint64_t bytes, bool resumed) override;
  DownloadCounts download_counts(const std::string& device_id) override;
  void add_audit(const AuditEvent& e) override;
  std::vector<AuditEvent> audit_log(size_t limit) override;

 private:
  // A pooled session, leased for one call.
  class Lease {
   public:
    explicit Lease(soci::connection_pool& pool) : pool_(pool), pos_(pool.lease()) {}
    ~Lease() { pool_.give_back(pos_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    soci::session& sql() { return pool_.at(pos_); }
    size_t pos() const { return pos_; }

   private:
    soci::connection_pool& pool_;
    size_t pos_;
  };

  // What we know of a pooled connection; touched only by its lease holder.
  struct Slot {
    std::chrono::steady_clock::time_point last_used = std::chrono::steady_clock::now();
    bool suspect = false;  // its last call failed in the database layer
    // Its prepared statements (made on first use); they refer to the
    // session's backend, so they go before it reconnects or closes.
    std::unique_ptr<Statements> statements;
  };

  // Runs f on a leased session; soci errors become StoreError("store: <op>: ...").
  // A connection that failed or sat idle is checked first (SOCI's
  // is_connected() costs PostgreSQL a round trip, so busy connections are
  // not) and reopened if the server dropped it: after a database restart a
  // call fails at most once per pooled connection. SQLite is always connected.
  // A failed call also drops the connection's prepared statements (one may
  // be left mid-execution; after a lost connection all are gone server-side).
  template <class F>
  auto run(const char* op, F&& f) -> std::invoke_result_t<F&, soci::session&> {
    return run_slot(op, [&](soci::session& sql, Slot&) { return f(sql); });
  }

  // run() for the calls on prepared statements: f(Statements&).
  template <class F>
  auto run_prepared(const char* op, F&& f) -> std::invoke_result_t<F&, Statements&> {
    return run_slot(op, [&](soci::session& sql, Slot& slot) {
      if (!slot.statements) slot.statements = std::make_unique<Statements>(sql);
      return f(*slot.statements);
    });
  }

  template <class F>
  auto run_slot(const char* op, F&& f) -> std::invoke_result_t<F&, soci::session&, Slot&> {
    using Result = std::invoke_result_t<F&, soci::session&, Slot&>;
    return guarded(op, [&]() -> Result {
      Lease lease(pool_);
      Slot& slot = slots_[lease.pos()];
      try {
        if (slot.suspect || std::chrono::steady_clock::now() - slot.last_used > kIdleRecheck) {
          if (!lease.sql().is_connected()) {
            slot.statements.reset();  // before the backend they refer to goes
            lease.sql().reconnect();
          }
          slot.suspect = false;
        }
        struct Touch {
          Slot& slot;
          ~Touch() { slot.last_used = std::chrono::steady_clock::now(); }
        } touch{slot};
        return f(lease.sql(), slot);
      } catch (const soci::soci_error&) {
        slot.suspect = true;
        slot.statements.reset();
        throw;
      }
    });
  }

  // Throw StoreError("store: <op>: unknown ...") unless the row exists.
  static void require_product(soci::session& sql, const char* op, const std::string& product);
  static void require_firmware(soci::session& sql, const char* op, const std::string& product,
                               const std::string& version);
  static void require_device(soci::session& sql, const char* op, const std::string& device_id);

  Target target_;
  size_t pool_size_;
  soci::connection_pool pool_;
  std::vector<Slot> slots_;  // by pool position; destroyed before pool_ (statements first)
};

}  // namespace ota::server::store_detail

#endif  // OTA_SERVER_SOCI_STORE_H
