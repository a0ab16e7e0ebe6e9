// SPDX-License-Identifier: Apache-2.0
#include "ota/server/rollout_engine.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "ota/server/service_error.h"

namespace ota::server {

namespace {

constexpr size_t kMaxWaves = 20;
constexpr size_t kMaxHaltedBy = 20;  // devices named as the cause of a halt

// Devices needed for `t` of `size` (a share rounds up).
uint64_t needed(const Threshold& t, uint64_t size) {
  if (!t.percent) return std::min<uint64_t>(t.value, size);
  return (static_cast<uint64_t>(t.value) * size + 9999) / 10000;
}

std::string share(uint64_t part, uint64_t whole) {
  return Threshold{true, static_cast<uint32_t>(whole ? part * 10000 / whole : 0)}.text();
}

}  // namespace

Threshold parse_threshold(const std::string& text, const char* what, const char* code) {
  auto bad = [&]() -> Threshold {
    throw ServiceError(400, code,
                       std::string(what) + " '" + text + "': a share such as 95% or 2.5%, or a count such as 3");
  };
  if (text.empty() || text.size() > 12) return bad();
  Threshold t;
  std::string digits = text;
  t.percent = digits.back() == '%';
  if (t.percent) digits.pop_back();
  size_t dot = digits.find('.');
  std::string whole = digits.substr(0, dot), frac = dot == std::string::npos ? "" : digits.substr(dot + 1);
  if (whole.empty() || whole.size() > 9 || (!t.percent && dot != std::string::npos) || frac.size() > 2 ||
      (dot != std::string::npos && frac.empty()))
    return bad();
  for (char c : whole + frac)
    if (!std::isdigit(static_cast<unsigned char>(c))) return bad();
  uint64_t v = std::stoull(whole);
  if (t.percent) {
    while (frac.size() < 2) frac += '0';
    v = v * 100 + std::stoull(frac);
    if (v > 10000) return bad();
  }
  t.value = static_cast<uint32_t>(v);
  return t;
}

std::vector<Threshold> parse_waves(const std::string& text) {
  std::vector<Threshold> out;
  size_t at = 0;
  while (at <= text.size()) {
    size_t comma = text.find(',', at);
    std::string part = text.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    while (!part.empty() && part.front() == ' ') part.erase(part.begin());
    while (!part.empty() && part.back() == ' ') part.pop_back();
    out.push_back(parse_threshold(part, "wave", "invalid_waves"));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  if (out.size() > kMaxWaves) throw ServiceError(400, "invalid_waves", "at most 20 waves");
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].value == 0) throw ServiceError(400, "invalid_waves", "wave " + std::to_string(i + 1) + " is empty");
    if (i > 0 && out[i].percent == out[i - 1].percent && out[i].value < out[i - 1].value)
      throw ServiceError(400, "invalid_waves",
                         "waves are cumulative: wave " + std::to_string(i + 1) + " (" + out[i].text() +
                             ") is smaller than wave " + std::to_string(i) + " (" + out[i - 1].text() + ")");
  }
  return out;
}

std::vector<uint64_t> wave_sizes(const std::vector<Threshold>& waves, uint64_t n) {
  std::vector<uint64_t> out;
  uint64_t prev = 0;
  for (const Threshold& w : waves) {
    uint64_t c = std::max(prev, needed(w, n));  // cumulative, never shrinking
    out.push_back(c);
    prev = c;
  }
  return out;
}

WaveCounts count_wave(const RolloutSnapshot& s, int wave, uint32_t retries) {
  WaveCounts c;
  for (const MemberRecord& m : s.members) {
    if (m.wave != wave) continue;
    ++c.size;
    if (m.state == MemberState::kConfirmed) ++c.confirmed;
    else if (member_failed(m.state) && m.excused) ++c.excused;
    else if (member_failed(m.state) && m.attempts > retries) ++c.failed;
    else if (member_failed(m.state) || (m.state == MemberState::kWaiting && m.next_attempt_at > 0)) ++c.retrying;
    else if (member_in_progress(m.state)) ++c.in_progress;
    else if (m.state == MemberState::kAssigned) ++c.assigned;
    else ++c.waiting;
  }
  return c;
}

RolloutStep rollout_step(const RolloutSnapshot& s, int64_t now) {
  RolloutStep out;
  out.rollout = s.rollout;
  RolloutRecord& r = out.rollout;
  RolloutSnapshot work = s;  // members and waves as they become
  std::vector<bool> member_changed(work.members.size(), false), wave_changed(work.waves.size(), false);
  auto event = [&](const std::string& e) { out.events.push_back("rollout " + std::to_string(r.id) + ": " + e); };
  auto start_wave = [&](int w) {
    if (w >= static_cast<int>(work.waves.size())) return;
    work.waves[w].started = true;
    work.waves[w].started_at = now;
    wave_changed[w] = true;
    r.current_wave = w;
    event("wave " + std::to_string(w + 1) + " (" + work.waves[w].spec + ") started");
  };
  const RolloutState before = r.state;

  if (r.state == RolloutState::kScheduled && now >= r.start_at) {
    r.state = RolloutState::kRunning;
    event("started");
    start_wave(0);
  }

  // Each member's own clock: timeouts, and retries after a backoff.
  for (size_t i = 0; i < work.members.size(); ++i) {
    MemberRecord& m = work.members[i];
    if (member_in_progress(m.state) && r.confirm_within > 0 && m.started_at > 0 &&
        now >= m.started_at + r.confirm_within && rollout_active(r.state)) {
      m.state = MemberState::kTimedOut;
      m.detail = "not confirmed within " + std::to_string(r.confirm_within) + " s of starting";
      m.updated_at = now;
      member_changed[i] = true;
      event("device " + m.device_id + " timed out");
    }
    if (r.state == RolloutState::kRunning && member_failed(m.state) && m.attempts > 0 &&
        m.attempts <= r.retries) {
      const int shift = static_cast<int>(std::min<uint32_t>(m.attempts - 1, 20));
      m.next_attempt_at = now + std::max<int64_t>(r.retry_backoff, 1) * (int64_t{1} << shift);
      event("device " + m.device_id + " " + member_state_name(m.state) + ": retry " + std::to_string(m.attempts) +
            " of " + std::to_string(r.retries) + " at " + std::to_string(m.next_attempt_at));
      m.state = MemberState::kWaiting;
      m.updated_at = now;
      member_changed[i] = true;
    }
  }

  // The thresholds of the current wave; a done wave starts the next.
  while (r.state == RolloutState::kRunning && !work.waves.empty()) {
    const int w = r.current_wave;
    WaveCounts c = count_wave(work, w, r.retries);
    uint64_t failures_total = 0;
    for (size_t i = 0; i < work.waves.size(); ++i) failures_total += count_wave(work, static_cast<int>(i), r.retries).failed;
    const bool over = r.max_failures.percent
                          ? c.failed * 10000 > static_cast<uint64_t>(r.max_failures.value) * (c.size - c.excused)
                          : failures_total > r.max_failures.value;
    if (over) {
      r.state = RolloutState::kHalted;
      r.reason = r.max_failures.percent
                     ? "wave " + std::to_string(w + 1) + ": " + std::to_string(c.failed) + " of " +
                           std::to_string(c.size - c.excused) + " devices failed (" +
                           share(c.failed, c.size - c.excused) +
                           "), above the " + r.max_failures.text() + " error threshold"
                     : std::to_string(failures_total) + " devices failed, above the error threshold of " +
                           r.max_failures.text();
      r.halted_by.clear();
      for (const MemberRecord& m : work.members)
        if ((r.max_failures.percent ? m.wave == w : true) && member_failed(m.state) && !m.excused &&
            m.attempts > r.retries && r.halted_by.size() < kMaxHaltedBy)
          r.halted_by.push_back(m.device_id);
      event("halted: " + r.reason);
      break;
    }
    // Failures an admin accepted (resuming a halted rollout) count neither
    // way: the thresholds are shares of the others.
    const uint64_t need = needed(r.success, c.size - c.excused);
    if (c.confirmed >= need) {
      work.waves[w].done = true;
      work.waves[w].done_at = now;
      wave_changed[w] = true;
      event("wave " + std::to_string(w + 1) + " done: " + std::to_string(c.confirmed) + " of " +
            std::to_string(c.size) + " confirmed");
      if (w + 1 >= static_cast<int>(work.waves.size())) {
        r.state = RolloutState::kCompleted;
        event("completed");
      } else if (r.approval) {
        r.state = RolloutState::kWaitingApproval;
        event("waiting for approval of wave " + std::to_string(w + 2));
      } else {
        start_wave(w + 1);
        continue;
      }
      break;
    }
    if (c.size - c.excused - c.failed < need) {
      r.state = RolloutState::kHalted;
      r.reason = "wave " + std::to_string(w + 1) + " can no longer reach its " + r.success.text() + " success threshold (" +
                 std::to_string(c.failed) + " of " + std::to_string(c.size) + " failed)";
      r.halted_by.clear();
      for (const MemberRecord& m : work.members)
        if (m.wave == w && member_failed(m.state) && !m.excused && r.halted_by.size() < kMaxHaltedBy)
          r.halted_by.push_back(m.device_id);
      event("halted: " + r.reason);
    }
    break;
  }

  // Members of started waves that wait (and whose retry is due) are assigned.
  if (r.state == RolloutState::kRunning || r.state == RolloutState::kWaitingApproval) {
    for (size_t i = 0; i < work.members.size(); ++i) {
      MemberRecord& m = work.members[i];
      if (m.state != MemberState::kWaiting || m.wave >= static_cast<int>(work.waves.size()) ||
          !work.waves[m.wave].started || now < m.next_attempt_at)
        continue;
      m.state = MemberState::kAssigned;
      m.attempts += 1;
      m.started_at = 0;
      m.next_attempt_at = 0;
      m.updated_at = now;
      member_changed[i] = true;
    }
  }

  // Who holds the rollout's assignment: while it runs or waits for
  // approval, every assigned or started member of a started wave; while
  // paused, the started ones finish; halted or aborted, none (new downloads
  // stop at once); completed, those still on their way keep it.
  for (size_t i = 0; i < work.members.size(); ++i) {
    MemberRecord& m = work.members[i];
    const bool started_wave = m.wave < static_cast<int>(work.waves.size()) && work.waves[m.wave].started;
    bool want = false;
    switch (r.state) {
      case RolloutState::kRunning:
      case RolloutState::kWaitingApproval:
      case RolloutState::kCompleted:
        want = started_wave && (m.state == MemberState::kAssigned || member_in_progress(m.state));
        break;
      case RolloutState::kPaused:
        want = started_wave && member_in_progress(m.state);
        break;
      default:
        want = false;
    }
    if (want == m.holds) continue;
    (want ? out.assign : out.unassign).push_back(m.device_id);
    m.holds = want;
    member_changed[i] = true;
  }

  for (size_t i = 0; i < work.members.size(); ++i)
    if (member_changed[i]) out.members.push_back(work.members[i]);
  for (size_t i = 0; i < work.waves.size(); ++i)
    if (wave_changed[i]) out.waves.push_back(work.waves[i]);
  out.changed = !out.members.empty() || !out.waves.empty() || r.state != before ||
                r.current_wave != s.rollout.current_wave;
  if (out.changed) r.updated_at = now;
  return out;
}

RolloutSnapshot apply_step(RolloutSnapshot s, const RolloutStep& step) {
  s.rollout = step.rollout;
  for (const WaveRecord& w : step.waves)
    if (w.index >= 0 && w.index < static_cast<int>(s.waves.size())) s.waves[w.index] = w;
  std::map<std::string, const MemberRecord*> changed;
  for (const MemberRecord& m : step.members) changed[m.device_id] = &m;
  for (MemberRecord& m : s.members)
    if (auto it = changed.find(m.device_id); it != changed.end()) m = *it->second;
  return s;
}

RolloutSnapshot rollout_action(const RolloutSnapshot& s, RolloutAction action, int64_t now) {
  RolloutSnapshot out = s;
  RolloutRecord& r = out.rollout;
  const std::string was = rollout_state_name(r.state);
  auto refuse = [&](const std::string& why) -> RolloutSnapshot {
    throw ServiceError(409, "invalid_transition", "rollout " + std::to_string(r.id) + " is " + was + ": " + why);
  };
  switch (action) {
    case RolloutAction::kPause:
      if (r.state != RolloutState::kRunning && r.state != RolloutState::kWaitingApproval &&
          r.state != RolloutState::kScheduled)
        return refuse("only a scheduled, running or waiting rollout pauses");
      r.state = RolloutState::kPaused;
      break;
    case RolloutAction::kResume:
      if (r.state != RolloutState::kPaused && r.state != RolloutState::kHalted)
        return refuse("only a paused or halted rollout resumes");
      if (r.state == RolloutState::kHalted) {
        // Resuming a halt accepts the failures so far: they count neither way.
        for (MemberRecord& m : out.members)
          if (member_failed(m.state) && m.attempts > r.retries) m.excused = true;
        r.reason.clear();
        r.halted_by.clear();
      }
      r.state = out.waves.empty() || !out.waves[0].started ? RolloutState::kScheduled : RolloutState::kRunning;
      break;
    case RolloutAction::kApprove:
      if (r.state != RolloutState::kWaitingApproval) return refuse("nothing waits for approval");
      r.state = RolloutState::kRunning;
      if (r.current_wave + 1 < static_cast<int>(out.waves.size())) {
        r.current_wave += 1;
        out.waves[r.current_wave].started = true;
        out.waves[r.current_wave].started_at = now;
      }
      break;
    case RolloutAction::kAbort:
      if (!rollout_active(r.state)) return refuse("it is over already");
      r.state = RolloutState::kAborted;
      r.reason = "aborted by an admin";
      break;
  }
  r.updated_at = now;
  return out;
}

const char* rollout_action_name(RolloutAction a) {
  switch (a) {
    case RolloutAction::kPause: return "pause";
    case RolloutAction::kResume: return "resume";
    case RolloutAction::kApprove: return "approve";
    case RolloutAction::kAbort: return "abort";
  }
  return "?";
}

}  // namespace ota::server
