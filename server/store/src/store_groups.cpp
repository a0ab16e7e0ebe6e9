// Device tags and groups (see soci_store.h).
#include "soci_store.h"

namespace ota::server::store_detail {

namespace {

std::vector<DeviceTag> select_tags(soci::session& sql, const std::string& tail,
                                   const std::string* device_id) {
  std::vector<DeviceTag> out;
  DeviceTag t;
  Query q(sql);
  q.into(t.device_id).into(t.source).into(t.key).into(t.value);
  if (device_id) q.use(*device_id, "d");
  for (bool more = q.run("SELECT device_id, source, tag_key, tag_value FROM device_tags " + tail); more;
       more = q.next())
    out.push_back(t);
  return out;
}

}  // namespace

void SociStore::set_device_tag(const std::string& device_id, const std::string& source, const std::string& key,
                               const std::optional<std::string>& value) {
  run("set_device_tag", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    require_device(sql, "set_device_tag", device_id);
    Query(sql).use(device_id, "d").use(source, "s").use(key, "k")
        .run("DELETE FROM device_tags WHERE device_id = :d AND source = :s AND tag_key = :k");
    if (value)
      Query(sql).use(device_id, "d").use(source, "s").use(key, "k").use(*value, "v")
          .run("INSERT INTO device_tags (device_id, source, tag_key, tag_value) VALUES (:d, :s, :k, :v)");
    tr.commit();
  });
}

void SociStore::replace_device_tags(const std::string& device_id, const std::string& source,
                                    const std::map<std::string, std::string>& tags) {
  run("replace_device_tags", [&](soci::session& sql) {
    // Unchanged (the usual check-in): a read, no write.
    std::map<std::string, std::string> now;
    for (const DeviceTag& t : select_tags(sql, "WHERE device_id = :d ORDER BY source, tag_key", &device_id))
      if (t.source == source) now[t.key] = t.value;
    if (now == tags) {
      if (tags.empty()) require_device(sql, "replace_device_tags", device_id);
      return;
    }
    WriteTransaction tr(sql);
    require_device(sql, "replace_device_tags", device_id);
    Query(sql).use(device_id, "d").use(source, "s")
        .run("DELETE FROM device_tags WHERE device_id = :d AND source = :s");
    for (const auto& [key, value] : tags)
      Query(sql).use(device_id, "d").use(source, "s").use(key, "k").use(value, "v")
          .run("INSERT INTO device_tags (device_id, source, tag_key, tag_value) VALUES (:d, :s, :k, :v)");
    tr.commit();
  });
}

std::vector<DeviceTag> SociStore::device_tags(const std::string& device_id) {
  return run("device_tags", [&](soci::session& sql) {
    return select_tags(sql, "WHERE device_id = :d ORDER BY source, tag_key", &device_id);
  });
}

std::vector<DeviceTag> SociStore::all_device_tags() {
  return run("all_device_tags",
             [&](soci::session& sql) { return select_tags(sql, "ORDER BY device_id, source, tag_key", nullptr); });
}

// --- groups ---

namespace {

struct GroupRow {
  std::string name, filter;
  soci::indicator filter_ind = soci::i_null;
  long long created_at = 0;
  Query& bind(Query& q) { return q.into(name).into(filter, filter_ind).into(created_at); }
  GroupRecord record() const {
    GroupRecord g;
    g.name = name;
    if (filter_ind == soci::i_ok) g.filter = filter;
    g.created_at = created_at;
    return g;
  }
};

}  // namespace

bool SociStore::create_group(const GroupRecord& g) {
  const std::string filter = g.filter.value_or("");
  soci::indicator filter_ind = g.filter ? soci::i_ok : soci::i_null;
  return run("create_group", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    const long long seq = next_seq(sql, "groups");
    Query q(sql);
    q.use(g.name, "n").use(filter, filter_ind, "f").use(g.created_at, "at").use(seq, "seq")
        .run("INSERT INTO device_groups (name, filter, created_at, seq) VALUES (:n, :f, :at, :seq)"
             " ON CONFLICT (name) DO NOTHING");
    if (q.affected_rows() == 0) return false;
    tr.commit();
    return true;
  });
}

std::optional<GroupRecord> SociStore::group(const std::string& name) {
  return run("group", [&](soci::session& sql) {
    return select_one<GroupRow>(sql, "SELECT name, filter, created_at FROM device_groups WHERE name = :n",
                                [&](Query& q) { q.use(name, "n"); });
  });
}

std::vector<GroupRecord> SociStore::list_groups() {
  return run("list_groups", [&](soci::session& sql) {
    return select_all<GroupRow>(sql, "SELECT name, filter, created_at FROM device_groups ORDER BY created_at, seq",
                                kNoParams);
  });
}

bool SociStore::delete_group(const std::string& name) {
  return run("delete_group", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    Query(sql).use(name, "n").run("DELETE FROM group_members WHERE group_name = :n");
    Query q(sql);
    q.use(name, "n").run("DELETE FROM device_groups WHERE name = :n");
    if (q.affected_rows() == 0) return false;
    tr.commit();
    return true;
  });
}

void SociStore::add_group_member(const std::string& group, const std::string& device_id) {
  run("add_group_member", [&](soci::session& sql) {
    WriteTransaction tr(sql);
    std::string filter;
    soci::indicator ind = soci::i_null;
    if (!Query(sql).into(filter, ind).use(group, "g").run("SELECT filter FROM device_groups WHERE name = :g"))
      throw StoreError("store: add_group_member: unknown group '" + group + "'");
    if (ind == soci::i_ok)
      throw StoreError("store: add_group_member: group '" + group + "' is dynamic (its filter decides)");
    require_device(sql, "add_group_member", device_id);
    Query(sql).use(group, "g").use(device_id, "d")
        .run("INSERT INTO group_members (group_name, device_id) VALUES (:g, :d)"
             " ON CONFLICT (group_name, device_id) DO NOTHING");
    tr.commit();
  });
}

bool SociStore::remove_group_member(const std::string& group, const std::string& device_id) {
  return run("remove_group_member", [&](soci::session& sql) {
    Query q(sql);
    q.use(group, "g").use(device_id, "d").run("DELETE FROM group_members WHERE group_name = :g AND device_id = :d");
    return q.affected_rows() > 0;
  });
}

std::vector<std::string> SociStore::group_members(const std::string& group) {
  return run("group_members", [&](soci::session& sql) {
    std::vector<std::string> out;
    std::string id;
    Query q(sql);
    q.into(id).use(group, "g");
    for (bool more = q.run("SELECT device_id FROM group_members WHERE group_name = :g ORDER BY device_id"); more;
         more = q.next())
      out.push_back(id);
    return out;
  });
}

std::vector<std::pair<std::string, std::string>> SociStore::all_group_members() {
  return run("all_group_members", [&](soci::session& sql) {
    std::vector<std::pair<std::string, std::string>> out;
    std::string g, d;
    Query q(sql);
    q.into(g).into(d);
    for (bool more = q.run("SELECT group_name, device_id FROM group_members ORDER BY group_name, device_id"); more;
         more = q.next())
      out.emplace_back(g, d);
    return out;
  });
}

}  // namespace ota::server::store_detail
