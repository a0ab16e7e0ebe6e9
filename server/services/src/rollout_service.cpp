// SPDX-License-Identifier: Apache-2.0
#include "ota/server/rollout_service.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>

#include "ota/server/artifacts.h"
#include "ota/server/firmware_service.h"
#include "ota/server/fleet_view.h"
#include "ota/server/update_service.h"
#include "service_util.h"

namespace ota::server {

namespace {

constexpr int kWriteAttempts = 20;

bool same_member(const MemberRecord& a, const MemberRecord& b) {
  return a.wave == b.wave && a.state == b.state && a.holds == b.holds && a.attempts == b.attempts &&
         a.started_at == b.started_at && a.next_attempt_at == b.next_attempt_at && a.updated_at == b.updated_at &&
         a.detail == b.detail && a.excused == b.excused;
}

bool same_wave(const WaveRecord& a, const WaveRecord& b) {
  return a.started == b.started && a.done == b.done && a.started_at == b.started_at && a.done_at == b.done_at;
}

std::string named(const std::vector<std::string>& why, size_t total) {
  std::string out;
  for (const std::string& w : why) out += (out.empty() ? "" : "; ") + w;
  if (total > why.size()) out += "; and " + std::to_string(total - why.size()) + " more";
  return out;
}

// The enabled devices of `product` the target names, oldest first.
std::vector<DeviceRecord> target_devices(Store& store, const FleetView& fleet, const RolloutRecord& r, int64_t now) {
  std::vector<DeviceRecord> out;
  if (r.target_kind == "group") {
    auto g = store.group(r.target);
    if (!g) throw ServiceError(404, "group_not_found", "no group " + r.target);
    if (g->filter) {
      out = fleet.matching(DeviceFilter::parse(*g->filter), now);
    } else {
      std::set<std::string> members;
      for (const std::string& id : store.group_members(r.target)) members.insert(id);
      for (const DeviceRecord& d : fleet.devices())
        if (members.count(d.device_id)) out.push_back(d);
    }
  } else {
    out = fleet.matching(DeviceFilter::parse(r.target), now);
  }
  out.erase(std::remove_if(out.begin(), out.end(),
                           [&](const DeviceRecord& d) { return d.product != r.product || !d.enabled; }),
            out.end());
  return out;
}

}  // namespace

RolloutService::RolloutService(Store& store, Clock clock) : RolloutService(store, std::move(clock), Options()) {}

RolloutService::RolloutService(Store& store, Clock clock, Options options)
    : store_(store), clock_(clock ? std::move(clock) : Clock(now_seconds)), options_(options) {}

RolloutSnapshot RolloutService::create(const Plan& plan, const std::string& actor) {
  const std::string product = product_or_default(plan.product);
  if (!valid_product(product)) throw ServiceError(400, "invalid_product", "invalid product name");
  if (!valid_version(plan.version)) throw ServiceError(400, "invalid_version", "invalid version string");
  auto target = store_.firmware(product, plan.version);
  if (!target)
    throw ServiceError(404, "firmware_not_found", "no firmware version " + plan.version + " in product " + product);
  if (plan.group.has_value() == plan.filter.has_value())
    throw ServiceError(400, "missing_field", "a rollout targets a group or a filter (one of them)");
  const int64_t now = clock_();
  RolloutSnapshot s;
  RolloutRecord& r = s.rollout;
  r.product = product;
  r.version = plan.version;
  r.target_kind = plan.group ? "group" : "filter";
  r.target = plan.group ? *plan.group : *plan.filter;
  const std::vector<Threshold> waves = parse_waves(plan.waves);
  r.waves = plan.waves;
  r.success = parse_threshold(plan.success, "success threshold", "invalid_threshold");
  r.max_failures = parse_threshold(plan.max_failures, "error threshold", "invalid_threshold");
  if (plan.confirm_within < 0 || plan.retry_backoff < 0 || plan.start_at < 0)
    throw ServiceError(400, "invalid_threshold", "times are not negative");
  r.confirm_within = plan.confirm_within;
  r.approval = plan.approval;
  r.start_at = std::max(plan.start_at, now);
  r.max_downloads = plan.max_downloads;
  r.retries = plan.retries;
  r.retry_backoff = plan.retry_backoff;
  r.state = RolloutState::kScheduled;
  r.created_at = r.updated_at = now;

  // The target set, each device checked now, not when it gets stuck.
  FleetView fleet(store_);
  std::vector<DeviceRecord> devices = target_devices(store_, fleet, r, now);
  if (devices.empty())
    throw ServiceError(409, "empty_target",
                       "no enabled device of product " + product + " in " + r.target_kind + " " + r.target);
  std::vector<std::string> cannot, busy;
  size_t n_cannot = 0, n_busy = 0;
  for (const DeviceRecord& d : devices) {
    if (auto why = UpdateService::refusal(d, *target)) {
      if (++n_cannot <= 5) cannot.push_back(why->what());
    } else if (auto other = store_.rollout_of_device(d.device_id)) {
      if (++n_busy <= 5) busy.push_back(d.device_id + " is in rollout " + std::to_string(*other));
    }
  }
  if (n_cannot)
    throw ServiceError(409, "devices_cannot_accept",
                       std::to_string(n_cannot) + " device(s) of the target could never install " + plan.version +
                           ": " + named(cannot, n_cannot));
  if (n_busy)
    throw ServiceError(409, "device_in_rollout",
                       std::to_string(n_busy) + " device(s) of the target are in another active rollout: " +
                           named(busy, n_busy));

  // The order: the admin's, or random (creation order would put the oldest
  // devices first); the rest of an explicit list's target follows at random.
  std::vector<std::string> ids;
  for (const DeviceRecord& d : devices) ids.push_back(d.device_id);
  const uint64_t seed = plan.seed ? *plan.seed : std::random_device{}();
  std::mt19937_64 rng(seed);
  std::vector<std::string> ordered;
  if (!plan.order.empty()) {
    std::set<std::string> in_target(ids.begin(), ids.end()), seen;
    for (const std::string& id : plan.order) {
      if (!in_target.count(id))
        throw ServiceError(400, "invalid_order", "device " + id + " of the order is not in the target");
      if (!seen.insert(id).second) throw ServiceError(400, "invalid_order", "device " + id + " is twice in the order");
      ordered.push_back(id);
    }
    ids.erase(std::remove_if(ids.begin(), ids.end(), [&](const std::string& id) { return seen.count(id) > 0; }),
              ids.end());
  }
  std::shuffle(ids.begin(), ids.end(), rng);
  ordered.insert(ordered.end(), ids.begin(), ids.end());
  r.order = plan.order.empty() ? "random:" + std::to_string(seed) : "explicit";

  const std::vector<uint64_t> sizes = wave_sizes(waves, ordered.size());
  // A wave's own devices (the sizes are cumulative).
  for (size_t i = 0; i < waves.size(); ++i)
    s.waves.push_back({static_cast<int>(i), waves[i].text(), sizes[i] - (i ? sizes[i - 1] : 0)});
  for (size_t i = 0; i < ordered.size(); ++i) {
    MemberRecord m;
    m.device_id = ordered[i];
    m.position = static_cast<int64_t>(i);
    while (m.wave + 1 < static_cast<int>(sizes.size()) && i >= sizes[m.wave]) ++m.wave;
    m.updated_at = now;
    s.members.push_back(m);
  }
  auto id = store_.create_rollout(
      s, {now, actor, "rollout.create",
          "product=" + product + " version=" + plan.version + " " + r.target_kind + "=" + r.target +
              " devices=" + std::to_string(ordered.size()) + " waves=" + plan.waves + " success=" + r.success.text() +
              " max_failures=" + r.max_failures.text()});
  if (!id) throw ServiceError(409, "device_in_rollout", "a device of the target joined another rollout meanwhile");
  advance(*id, std::nullopt, actor);
  return *store_.rollout(*id);
}

std::vector<RolloutRecord> RolloutService::list() { return store_.list_rollouts(); }

RolloutService::View RolloutService::get(int64_t id) {
  auto s = store_.rollout(id);
  if (!s) throw ServiceError(404, "rollout_not_found", "no rollout " + std::to_string(id));
  View v;
  v.snapshot = std::move(*s);
  v.states.resize(v.snapshot.waves.size());
  for (const MemberRecord& m : v.snapshot.members)
    if (m.wave < static_cast<int>(v.states.size())) ++v.states[m.wave][member_state_name(m.state)];
  return v;
}

RolloutRecord RolloutService::act(int64_t id, RolloutAction action, const std::string& actor) {
  if (!store_.rollout_header(id)) throw ServiceError(404, "rollout_not_found", "no rollout " + std::to_string(id));
  advance(id, action, actor);
  return store_.rollout_header(id)->rollout;
}

bool RolloutService::advance(int64_t id, std::optional<RolloutAction> action, const std::string& actor) {
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    const int64_t now = clock_();
    auto read = store_.rollout(id);
    if (!read) throw ServiceError(404, "rollout_not_found", "no rollout " + std::to_string(id));
    RolloutSnapshot cur = action ? rollout_action(*read, *action, now) : *read;
    RolloutStep step = rollout_step(cur, now);
    if (!action && !step.changed) return false;
    RolloutSnapshot after = apply_step(cur, step);
    RolloutWrite w;
    w.rollout = after.rollout;
    w.expected_revision = read->rollout.revision;
    for (size_t i = 0; i < after.waves.size(); ++i)
      if (!same_wave(after.waves[i], read->waves[i])) w.waves.push_back(after.waves[i]);
    for (size_t i = 0; i < after.members.size(); ++i)
      if (!same_member(after.members[i], read->members[i])) {
        w.members.push_back(after.members[i]);
        w.members.back().revision = read->members[i].revision;
      }
    w.assign = step.assign;
    w.unassign = step.unassign;
    if (action)
      w.audit.push_back({now, actor, std::string("rollout.") + rollout_action_name(*action),
                         "rollout=" + std::to_string(id) + " " + rollout_state_name(read->rollout.state) + " -> " +
                             rollout_state_name(cur.rollout.state)});
    for (const std::string& e : step.events) w.audit.push_back({now, action ? actor : "server", "rollout.step", e});
    if (store_.write_rollout_step(w)) return true;
  }
  throw ServiceError(503, "busy", "rollout " + std::to_string(id) + " kept changing; try again");
}

size_t RolloutService::place_late_joiners(const RolloutSnapshot& s, int64_t now) {
  const RolloutRecord& r = s.rollout;
  if (r.state == RolloutState::kHalted || !rollout_active(r.state) || s.waves.empty()) return 0;
  auto target = store_.firmware(r.product, r.version);
  if (!target) return 0;
  std::set<std::string> known;
  int64_t position = 0;
  for (const MemberRecord& m : s.members) {
    known.insert(m.device_id);
    position = std::max(position, m.position + 1);
  }
  FleetView fleet(store_);
  size_t added = 0;
  for (const DeviceRecord& d : target_devices(store_, fleet, r, now)) {
    if (known.count(d.device_id) || UpdateService::refusal(d, *target) || store_.rollout_of_device(d.device_id))
      continue;
    MemberRecord m;
    m.device_id = d.device_id;
    m.position = position++;
    // The current wave while it runs, else the next one (the last at most).
    const int last = static_cast<int>(s.waves.size()) - 1;
    m.wave = r.state == RolloutState::kRunning && !s.waves[r.current_wave].done ? r.current_wave
                                                                                 : std::min(r.current_wave + 1, last);
    m.updated_at = now;
    if (!store_.add_rollout_member(r.id, m)) continue;
    store_.add_audit({now, "server", "rollout.join",
                      "rollout=" + std::to_string(r.id) + " device=" + d.device_id + " wave=" + std::to_string(m.wave + 1)});
    ++added;
  }
  return added;
}

size_t RolloutService::tick() {
  size_t written = 0;
  for (int64_t id : store_.active_rollouts()) {
    try {
      const int64_t now = clock_();
      bool scan = false;
      {
        std::lock_guard lock(mu_);
        auto it = last_scan_.find(id);
        scan = it == last_scan_.end() || now - it->second >= options_.scan_interval;
        if (scan) last_scan_[id] = now;
      }
      if (scan)
        if (auto s = store_.rollout(id)) place_late_joiners(*s, now);
      if (advance(id, std::nullopt, "server")) ++written;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ota-server: rollout %lld: %s\n", static_cast<long long>(id), e.what());
    }
  }
  return written;
}

void RolloutService::on_report(const std::string& device_id, const std::string& state, const std::string& version,
                               const std::string& detail) {
  // Its active rollout; else one that completed while the device was
  // still on its way (it keeps the assignment, and its truth is recorded).
  std::optional<int64_t> id = store_.rollout_of_device(device_id);
  if (!id)
    for (const auto& [rollout, member] : store_.device_rollouts(device_id))
      if (member.holds) {
        id = rollout;
        break;
      }
  if (!id) return;
  auto header = store_.rollout_header(*id);
  if (!header || header->rollout.version != version) return;
  const bool completed = header->rollout.state == RolloutState::kCompleted;
  if (!completed && !rollout_active(header->rollout.state)) return;
  auto wanted = member_state_from(state);
  if (!wanted) return;
  bool failure = false;
  for (int attempt = 0; attempt < kWriteAttempts; ++attempt) {
    auto m = store_.rollout_member(*id, device_id);
    if (!m) return;
    MemberRecord next = *m;
    const MemberState now_state = m->state;
    switch (*wanted) {
      case MemberState::kDownloading:
      case MemberState::kApplying:
      case MemberState::kRebooting:
        // Forward only, and never over an outcome.
        if (now_state == MemberState::kAssigned || (member_in_progress(now_state) && *wanted > now_state))
          next.state = *wanted;
        break;
      case MemberState::kConfirmed:
        // A device that rolled back is never a success, whatever it says;
        // one that timed out and confirms after all did update.
        if (!member_failed(now_state) || now_state == MemberState::kTimedOut) next.state = *wanted;
        break;
      case MemberState::kRolledBack:
        next.state = *wanted;  // over a confirmation too: the bootloader has the last word
        break;
      case MemberState::kFailed:
      case MemberState::kRefused:
        if (now_state != MemberState::kConfirmed && !member_failed(now_state)) next.state = *wanted;
        break;
      default:
        break;
    }
    if (next.state == now_state) return;
    const int64_t now = clock_();
    if (member_in_progress(next.state) && next.started_at == 0) next.started_at = now;
    next.detail = detail.substr(0, 200);
    next.updated_at = now;
    // After the rollout completed, nobody steps it: the member lets go of
    // the assignment itself once it has an outcome (the update service
    // clears a confirmed or rolled back device's assignment).
    if (completed && (next.state == MemberState::kConfirmed || next.state == MemberState::kRolledBack))
      next.holds = false;
    if (store_.update_rollout_member(*id, next, m->revision)) {
      failure = member_failed(next.state);
      break;
    }
  }
  // A failure may halt the rollout: decide now, not at the next tick.
  if (failure && !completed) advance(*id, std::nullopt, "server");
}

RolloutService::Gate RolloutService::admit(const std::string& device_id) {
  auto id = store_.rollout_of_device(device_id);
  if (!id) return {};
  auto header = store_.rollout_header(*id);
  if (!header) return {};
  switch (store_.admit_rollout_download(*id, device_id, header->rollout.max_downloads, clock_())) {
    case Admission::kAdmitted: return {};
    case Admission::kCapReached:
    case Admission::kNotAssigned: break;
  }
  return {false, options_.retry_after};
}

void RolloutService::check_not_in_rollout(const std::string& device_id) {
  if (auto id = store_.rollout_of_device(device_id))
    throw ServiceError(409, "device_in_rollout",
                       "device " + device_id + " is in rollout " + std::to_string(*id) +
                           " (abort it or let it finish: a paused rollout still holds its devices)");
}

}  // namespace ota::server
