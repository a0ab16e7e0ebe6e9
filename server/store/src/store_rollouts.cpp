// Rollouts: the rollout, its waves and members (see soci_store.h and
// services' rollout_engine.h for what they mean).
#include "soci_store.h"

namespace ota::server::store_detail {

namespace {

std::string join_ids(const std::vector<std::string>& ids) {
  std::string out;
  for (const std::string& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

std::vector<std::string> split_ids(const std::string& s) {
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    size_t comma = s.find(',', at);
    out.push_back(s.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

struct RolloutRow {
  static constexpr const char* kSelect =
      "SELECT id, product, version, target_kind, target, waves, success_percent, success_value,"
      " failures_percent, failures_value, confirm_within, approval, start_at, max_downloads, retries,"
      " retry_backoff, sort_order, state, current_wave, reason, halted_by, created_at, updated_at, revision"
      " FROM rollouts ";
  long long id = 0, success_value = 0, failures_value = 0, confirm_within = 0, start_at = 0, max_downloads = 0,
            retries = 0, retry_backoff = 0, created_at = 0, updated_at = 0, revision = 0;
  int success_percent = 0, failures_percent = 0, approval = 0, current_wave = 0;
  std::string product, version, target_kind, target, waves, order, state, reason, halted_by;

  Query& bind(Query& q) {
    return q.into(id).into(product).into(version).into(target_kind).into(target).into(waves)
        .into(success_percent).into(success_value).into(failures_percent).into(failures_value)
        .into(confirm_within).into(approval).into(start_at).into(max_downloads).into(retries)
        .into(retry_backoff).into(order).into(state).into(current_wave).into(reason).into(halted_by)
        .into(created_at).into(updated_at).into(revision);
  }
  RolloutRecord record() const {
    RolloutRecord r;
    r.id = id;
    r.product = product;
    r.version = version;
    r.target_kind = target_kind;
    r.target = target;
    r.waves = waves;
    r.success = {success_percent != 0, from_db<uint32_t>(success_value, "rollouts.success_value")};
    r.max_failures = {failures_percent != 0, from_db<uint32_t>(failures_value, "rollouts.failures_value")};
    r.confirm_within = confirm_within;
    r.approval = approval != 0;
    r.start_at = start_at;
    r.max_downloads = from_db<uint32_t>(max_downloads, "rollouts.max_downloads");
    r.retries = from_db<uint32_t>(retries, "rollouts.retries");
    r.retry_backoff = retry_backoff;
    r.order = order;
    auto st = rollout_state_from(state);
    if (!st) throw StoreError("store: corrupt database: rollouts.state '" + state + "'");
    r.state = *st;
    r.current_wave = current_wave;
    r.reason = reason;
    r.halted_by = split_ids(halted_by);
    r.created_at = created_at;
    r.updated_at = updated_at;
    r.revision = revision;
    return r;
  }
};

struct WaveRow {
  static constexpr const char* kSelect =
      "SELECT idx, spec, planned, started, done, started_at, done_at FROM rollout_waves ";
  int idx = 0, started = 0, done = 0;
  std::string spec;
  long long planned = 0, started_at = 0, done_at = 0;
  Query& bind(Query& q) {
    return q.into(idx).into(spec).into(planned).into(started).into(done).into(started_at).into(done_at);
  }
  WaveRecord record() const {
    return {idx, spec, from_db<uint64_t>(planned, "rollout_waves.planned"), started != 0, done != 0, started_at,
            done_at};
  }
};

struct MemberRow {
  static constexpr const char* kSelect =
      "SELECT rollout_id, device_id, wave, position, state, holds, attempts, started_at, next_attempt_at,"
      " updated_at, detail, excused, revision FROM rollout_devices ";
  long long rollout_id = 0, position = 0, attempts = 0, started_at = 0, next_attempt_at = 0, updated_at = 0,
            revision = 0;
  int wave = 0, holds = 0, excused = 0;
  std::string device_id, state, detail;
  Query& bind(Query& q) {
    return q.into(rollout_id).into(device_id).into(wave).into(position).into(state).into(holds).into(attempts)
        .into(started_at).into(next_attempt_at).into(updated_at).into(detail).into(excused).into(revision);
  }
  MemberRecord record() const {
    MemberRecord m;
    m.device_id = device_id;
    m.wave = wave;
    m.position = position;
    auto st = member_state_from(state);
    if (!st) throw StoreError("store: corrupt database: rollout_devices.state '" + state + "'");
    m.state = *st;
    m.holds = holds != 0;
    m.attempts = from_db<uint32_t>(attempts, "rollout_devices.attempts");
    m.started_at = started_at;
    m.next_attempt_at = next_attempt_at;
    m.updated_at = updated_at;
    m.detail = detail;
    m.excused = excused != 0;
    m.revision = revision;
    return m;
  }
};

// The rollout row's mutable columns and its revision, as of `r`.
void update_rollout_row(soci::session& sql, const RolloutRecord& r, int64_t expected, bool* moved) {
  const std::string state = rollout_state_name(r.state), halted = join_ids(r.halted_by);
  const int current = r.current_wave;
  const long long next = expected + 1;
  Query q(sql);
  q.use(state, "s").use(current, "w").use(r.reason, "why").use(halted, "by").use(r.updated_at, "at")
      .use(next, "rev").use(r.id, "id").use(expected, "old")
      .run("UPDATE rollouts SET state = :s, current_wave = :w, reason = :why, halted_by = :by,"
           " updated_at = :at, revision = :rev WHERE id = :id AND revision = :old");
  *moved = q.affected_rows() == 0;
}

void insert_member(soci::session& sql, int64_t rollout_id, const MemberRecord& m) {
  const std::string state = member_state_name(m.state);
  const int wave = m.wave, holds = m.holds ? 1 : 0, excused = m.excused ? 1 : 0;
  const long long attempts = m.attempts, position = m.position;
  Query(sql)
      .use(rollout_id, "r").use(m.device_id, "d").use(wave, "w").use(position, "p").use(state, "s")
      .use(holds, "h").use(attempts, "a").use(m.started_at, "st").use(m.next_attempt_at, "nx")
      .use(m.updated_at, "u").use(m.detail, "de").use(excused, "ex")
      .run("INSERT INTO rollout_devices (rollout_id, device_id, wave, position, state, holds, attempts,"
           " started_at, next_attempt_at, updated_at, detail, excused, revision)"
           " VALUES (:r, :d, :w, :p, :s, :h, :a, :st, :nx, :u, :de, :ex, 1)");
}

// Writes `m` over its row if the row's revision is still `expected`.
bool cas_member(soci::session& sql, int64_t rollout_id, const MemberRecord& m, int64_t expected) {
  const std::string state = member_state_name(m.state);
  const int wave = m.wave, holds = m.holds ? 1 : 0, excused = m.excused ? 1 : 0;
  const long long attempts = m.attempts, next = expected + 1;
  Query q(sql);
  q.use(wave, "w").use(state, "s").use(holds, "h").use(attempts, "a").use(m.started_at, "st")
      .use(m.next_attempt_at, "nx").use(m.updated_at, "u").use(m.detail, "de").use(excused, "ex")
      .use(next, "rev").use(rollout_id, "r").use(m.device_id, "d").use(expected, "old")
      .run("UPDATE rollout_devices SET wave = :w, state = :s, holds = :h, attempts = :a, started_at = :st,"
           " next_attempt_at = :nx, updated_at = :u, detail = :de, excused = :ex, revision = :rev"
           " WHERE rollout_id = :r AND device_id = :d AND revision = :old");
  return q.affected_rows() > 0;
}

void insert_audit(soci::session& sql, const AuditEvent& e) {
  const long long seq = next_seq(sql, "audit_events");
  Query(sql)
      .use(seq, "seq").use(e.at, "at").use(e.actor, "actor").use(e.action, "action").use(e.detail, "detail")
      .run("INSERT INTO audit_events (seq, at, actor, action, detail) VALUES (:seq, :at, :actor, :action, :detail)");
}

}  // namespace

std::optional<int64_t> SociStore::create_rollout(const RolloutSnapshot& s, const AuditEvent& audit) {
  const RolloutRecord& r = s.rollout;
  return run("create_rollout", [&](soci::session& sql) -> std::optional<int64_t> {
    WriteTransaction tr(sql);
    require_firmware(sql, "create_rollout", r.product, r.version);
    const long long id = next_seq(sql, "rollouts");
    const int sp = r.success.percent, fp = r.max_failures.percent, approval = r.approval, current = r.current_wave;
    const long long sv = r.success.value, fv = r.max_failures.value, maxd = r.max_downloads, retries = r.retries;
    const std::string state = rollout_state_name(r.state), halted = join_ids(r.halted_by);
    Query(sql)
        .use(id, "id").use(r.product, "p").use(r.version, "v").use(r.target_kind, "tk").use(r.target, "t")
        .use(r.waves, "w").use(sp, "sp").use(sv, "sv").use(fp, "fp").use(fv, "fv").use(r.confirm_within, "cw")
        .use(approval, "ap").use(r.start_at, "sa").use(maxd, "md").use(retries, "re").use(r.retry_backoff, "rb")
        .use(r.order, "o").use(state, "s").use(current, "cu").use(r.reason, "why").use(halted, "by")
        .use(r.created_at, "c").use(r.updated_at, "u")
        .run("INSERT INTO rollouts (id, product, version, target_kind, target, waves, success_percent,"
             " success_value, failures_percent, failures_value, confirm_within, approval, start_at,"
             " max_downloads, retries, retry_backoff, sort_order, state, current_wave, reason, halted_by,"
             " created_at, updated_at, revision) VALUES (:id, :p, :v, :tk, :t, :w, :sp, :sv, :fp, :fv, :cw,"
             " :ap, :sa, :md, :re, :rb, :o, :s, :cu, :why, :by, :c, :u, 1)");
    for (const WaveRecord& w : s.waves) {
      const int idx = w.index, started = w.started, done = w.done;
      const long long planned = to_db(w.planned, "wave size");
      Query(sql)
          .use(id, "r").use(idx, "i").use(w.spec, "s").use(planned, "p").use(started, "st").use(done, "d")
          .use(w.started_at, "sa").use(w.done_at, "da")
          .run("INSERT INTO rollout_waves (rollout_id, idx, spec, planned, started, done, started_at, done_at)"
               " VALUES (:r, :i, :s, :p, :st, :d, :sa, :da)");
    }
    for (const MemberRecord& m : s.members) {
      insert_member(sql, id, m);
      Query q(sql);
      q.use(m.device_id, "d").use(id, "r")
          .run("INSERT INTO rollout_members (device_id, rollout_id) VALUES (:d, :r) ON CONFLICT (device_id) DO NOTHING");
      if (q.affected_rows() == 0) return std::nullopt;  // in another rollout: the rollback undoes it all
    }
    AuditEvent e = audit;
    e.detail = "rollout=" + std::to_string(id) + " " + e.detail;
    insert_audit(sql, e);
    tr.commit();
    return id;
  });
}

namespace {

std::optional<RolloutSnapshot> read_header(soci::session& sql, int64_t id) {
  auto r = select_one<RolloutRow>(sql, std::string(RolloutRow::kSelect) + "WHERE id = :id",
                                  [&](Query& q) { q.use(id, "id"); });
  if (!r) return std::nullopt;
  RolloutSnapshot s;
  s.rollout = *r;
  s.waves = select_all<WaveRow>(sql, std::string(WaveRow::kSelect) + "WHERE rollout_id = :id ORDER BY idx",
                                [&](Query& q) { q.use(id, "id"); });
  return s;
}

}  // namespace

std::optional<RolloutSnapshot> SociStore::rollout(int64_t id) {
  return run("rollout", [&](soci::session& sql) -> std::optional<RolloutSnapshot> {
    auto s = read_header(sql, id);
    if (!s) return std::nullopt;
    s->members = select_all<MemberRow>(sql,
                                       std::string(MemberRow::kSelect) + "WHERE rollout_id = :id ORDER BY position",
                                       [&](Query& q) { q.use(id, "id"); });
    return s;
  });
}

std::optional<RolloutSnapshot> SociStore::rollout_header(int64_t id) {
  return run("rollout_header", [&](soci::session& sql) { return read_header(sql, id); });
}

std::optional<MemberRecord> SociStore::rollout_member(int64_t id, const std::string& device_id) {
  return run("rollout_member", [&](soci::session& sql) {
    return select_one<MemberRow>(sql, std::string(MemberRow::kSelect) + "WHERE rollout_id = :r AND device_id = :d",
                                 [&](Query& q) { q.use(id, "r").use(device_id, "d"); });
  });
}

std::vector<RolloutRecord> SociStore::list_rollouts() {
  return run("list_rollouts", [&](soci::session& sql) {
    return select_all<RolloutRow>(sql, std::string(RolloutRow::kSelect) + "ORDER BY id", kNoParams);
  });
}

std::vector<int64_t> SociStore::active_rollouts() {
  return run("active_rollouts", [&](soci::session& sql) {
    std::vector<int64_t> out;
    long long id = 0;
    Query q(sql);
    q.into(id);
    for (bool more = q.run("SELECT id FROM rollouts WHERE state NOT IN ('completed', 'aborted') ORDER BY id"); more;
         more = q.next())
      out.push_back(id);
    return out;
  });
}

std::optional<int64_t> SociStore::rollout_of_device(const std::string& device_id) {
  return run("rollout_of_device", [&](soci::session& sql) -> std::optional<int64_t> {
    long long id = 0;
    if (!Query(sql).into(id).use(device_id, "d").run("SELECT rollout_id FROM rollout_members WHERE device_id = :d"))
      return std::nullopt;
    return id;
  });
}

std::vector<std::pair<int64_t, MemberRecord>> SociStore::device_rollouts(const std::string& device_id) {
  return run("device_rollouts", [&](soci::session& sql) {
    std::vector<std::pair<int64_t, MemberRecord>> out;
    MemberRow row;
    Query q(sql);
    row.bind(q);
    q.use(device_id, "d");
    for (bool more = q.run(std::string(MemberRow::kSelect) + "WHERE device_id = :d ORDER BY rollout_id DESC"); more;
         more = q.next())
      out.emplace_back(row.rollout_id, row.record());
    return out;
  });
}

bool SociStore::write_rollout_step(const RolloutWrite& w) {
  const RolloutRecord& r = w.rollout;
  return run("write_rollout_step", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    bool moved = false;
    update_rollout_row(sql, r, w.expected_revision, &moved);
    if (moved) return false;
    fault_point("write_rollout_step:rollout");
    for (const WaveRecord& wave : w.waves) {
      const int idx = wave.index, started = wave.started, done = wave.done;
      Query(sql)
          .use(started, "st").use(done, "d").use(wave.started_at, "sa").use(wave.done_at, "da").use(r.id, "r")
          .use(idx, "i")
          .run("UPDATE rollout_waves SET started = :st, done = :d, started_at = :sa, done_at = :da"
               " WHERE rollout_id = :r AND idx = :i");
    }
    for (const MemberRecord& m : w.members)
      if (!cas_member(sql, r.id, m, m.revision)) return false;  // a report came in between
    for (const std::string& d : w.assign) {
      const std::string empty;
      Query(sql)
          .use(d, "d").use(r.product, "p").use(empty, "o").use(r.version, "n").use(r.updated_at, "at")
          .run("INSERT INTO assignments (device_id, product, old_version, new_version, created_at)"
               " VALUES (:d, :p, :o, :n, :at) ON CONFLICT (device_id) DO UPDATE SET"
               " product = excluded.product, old_version = excluded.old_version,"
               " new_version = excluded.new_version, created_at = excluded.created_at");
    }
    for (const std::string& d : w.unassign)
      Query(sql).use(d, "d").use(r.product, "p").use(r.version, "n")
          .run("DELETE FROM assignments WHERE device_id = :d AND product = :p AND new_version = :n");
    for (const AuditEvent& e : w.audit) insert_audit(sql, e);
    if (!rollout_active(r.state))
      Query(sql).use(r.id, "r").run("DELETE FROM rollout_members WHERE rollout_id = :r");
    fault_point("write_rollout_step:written");
    tr.commit();
    return true;
  });
}

bool SociStore::update_rollout_member(int64_t rollout_id, const MemberRecord& m, int64_t expected) {
  return run("update_rollout_member", [&](soci::session& sql) { return cas_member(sql, rollout_id, m, expected); });
}

bool SociStore::add_rollout_member(int64_t rollout_id, const MemberRecord& m) {
  return run("add_rollout_member", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    Query q(sql);
    q.use(m.device_id, "d").use(rollout_id, "r")
        .run("INSERT INTO rollout_members (device_id, rollout_id) VALUES (:d, :r) ON CONFLICT (device_id) DO NOTHING");
    if (q.affected_rows() == 0) return false;
    // A device can come back to a rollout it left (its record is kept).
    Query(sql).use(rollout_id, "r").use(m.device_id, "d")
        .run("DELETE FROM rollout_devices WHERE rollout_id = :r AND device_id = :d");
    insert_member(sql, rollout_id, m);
    tr.commit();
    return true;
  });
}

Admission SociStore::admit_rollout_download(int64_t rollout_id, const std::string& device_id,
                                            uint32_t max_in_progress, int64_t now) {
  return run("admit_rollout_download", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    // The rollout's row lock: admissions of one rollout take turns.
    Query(sql).use(rollout_id, "r").run("UPDATE rollouts SET revision = revision WHERE id = :r");
    auto m = select_one<MemberRow>(sql, std::string(MemberRow::kSelect) + "WHERE rollout_id = :r AND device_id = :d",
                                   [&](Query& q) { q.use(rollout_id, "r").use(device_id, "d"); });
    if (!m) return Admission::kNotAssigned;
    if (member_in_progress(m->state)) return Admission::kAdmitted;
    if (m->state != MemberState::kAssigned) return Admission::kNotAssigned;
    if (max_in_progress > 0) {
      long long busy = 0;
      Query(sql).into(busy).use(rollout_id, "r")
          .run("SELECT COUNT(*) FROM rollout_devices WHERE rollout_id = :r AND state IN"
               " ('downloading', 'applying', 'rebooting')");
      if (busy >= static_cast<long long>(max_in_progress)) return Admission::kCapReached;
    }
    MemberRecord started = *m;
    started.state = MemberState::kDownloading;
    started.started_at = now;
    started.updated_at = now;
    if (!cas_member(sql, rollout_id, started, started.revision)) return Admission::kNotAssigned;
    tr.commit();
    return Admission::kAdmitted;
  });
}

}  // namespace ota::server::store_detail
