// SPDX-License-Identifier: Apache-2.0
#include "rollout_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <sstream>
#include <thread>

namespace otactl {

namespace {

const char kCreateUsage[] =
    "rollout create --version V (--group G | --filter EXPR) [--product P] [--waves 5%,25%,100%] "
    "[--success 95%] [--max-failures 2%] [--confirm-within 30m] [--approve] [--start-at WHEN] "
    "[--max-downloads N] [--retries N] [--retry-backoff 5m] [--order ID,ID...] [--seed N]";
const char kShowUsage[] = "rollout show ID [--watch] [--interval SECONDS] [--devices]";

bool all_digits(const std::string& s) { return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos; }

uint64_t whole_number(const std::string& text, const std::string& flag, uint64_t max) {
  if (!all_digits(text) || text.size() > 19 || std::stoull(text) > max)
    throw UsageError(flag + " needs a whole number up to " + std::to_string(max) + ", not '" + text + "'");
  return std::stoull(text);
}

uint64_t count_of(const json& states, const char* state) { return states.value(state, uint64_t{0}); }

// A bar of `width` cells: confirmed '#', failed 'x', updating '>', the rest
// '.'; each part rounded so that the cells add up to the width.
std::string bar(uint64_t size, uint64_t confirmed, uint64_t failed, uint64_t updating, size_t width) {
  if (size == 0) return "[" + std::string(width, ' ') + "]";
  std::string out = "[";
  uint64_t before = 0;
  size_t drawn = 0;
  for (auto [n, c] : {std::pair<uint64_t, char>{confirmed, '#'}, {failed, 'x'}, {updating, '>'}}) {
    before += n;
    size_t upto = static_cast<size_t>((before * width + size / 2) / size);
    upto = std::max(upto, drawn);                                      // an earlier part was rounded up
    if (n > 0 && upto == drawn && drawn < width) upto = drawn + 1;  // one of them shows
    upto = std::min(upto, width);
    out.append(upto - drawn, c);
    drawn = upto;
  }
  out.append(width - drawn, '.');
  return out + "]";
}

std::string utc(int64_t t) {
  if (t <= 0) return "-";
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string pad(const std::string& s, size_t w, bool right = false) {
  if (s.size() >= w) return s;
  return right ? std::string(w - s.size(), ' ') + s : s + std::string(w - s.size(), ' ');
}

bool finished(const std::string& state) { return state == "completed" || state == "aborted" || state == "halted"; }

}  // namespace

int64_t parse_duration(const std::string& text, const std::string& flag) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string unit = text.substr(digits);
  int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (digits == 0 || digits > 9 || scale == 0)
    throw UsageError(flag + " needs a duration such as 90s, 30m, 2h or 1d, not '" + text + "'");
  return std::stoll(text.substr(0, digits)) * scale;
}

std::string format_duration(int64_t s) {
  if (s > 0 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s > 0 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s > 0 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

int64_t parse_start_at(const std::string& text, int64_t now) {
  if (all_digits(text) && text.size() <= 12) return std::stoll(text);
  if (!text.empty() && text[0] == '+') return now + parse_duration(text.substr(1), "--start-at +");
  // 2026-12-03T18:00Z or 2026-12-03T18:00:30Z
  for (const char* format : {"%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%MZ"}) {
    std::tm tm{};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end && *end == 0) return static_cast<int64_t>(timegm(&tm));
  }
  throw UsageError("--start-at needs Unix seconds, +DURATION or YYYY-MM-DDTHH:MM[:SS]Z, not '" + text + "'");
}

json rollout_plan(const Flags& f, int64_t now) {
  if (!f.positional.empty() || !f.has("--version") || f.has("--group") == f.has("--filter"))
    throw UsageError(std::string("usage: otactl ") + kCreateUsage);
  json body = {{"version", f.values.at("--version")}};
  for (auto [flag, key] : {std::pair<const char*, const char*>{"--product", "product"},
                           {"--group", "group"},
                           {"--filter", "filter"},
                           {"--waves", "waves"},
                           {"--success", "success"},
                           {"--max-failures", "max_failures"}})
    if (f.has(flag)) body[key] = f.values.at(flag);
  if (f.has("--confirm-within")) body["confirm_within"] = parse_duration(f.values.at("--confirm-within"), "--confirm-within");
  if (f.has("--approve")) body["approval"] = true;
  if (f.has("--start-at")) body["start_at"] = parse_start_at(f.values.at("--start-at"), now);
  if (f.has("--max-downloads")) body["max_downloads"] = whole_number(f.values.at("--max-downloads"), "--max-downloads", 1u << 30);
  if (f.has("--retries")) body["retries"] = whole_number(f.values.at("--retries"), "--retries", 20);
  if (f.has("--retry-backoff")) body["retry_backoff"] = parse_duration(f.values.at("--retry-backoff"), "--retry-backoff");
  if (f.has("--seed")) body["seed"] = whole_number(f.values.at("--seed"), "--seed", UINT64_MAX);
  if (f.has("--order")) {
    json ids = json::array();
    std::stringstream ss(f.values.at("--order"));
    for (std::string id; std::getline(ss, id, ',');)
      if (!id.empty()) ids.push_back(id);
    if (ids.empty()) throw UsageError("--order needs device ids separated by commas");
    body["order"] = ids;
  }
  return body;
}

std::string render_rollout(const json& v) {
  std::ostringstream out;
  const std::string state = v.value("state", "");
  const json& target = v["target"];
  uint64_t devices = 0;
  for (const json& w : v["wave_list"]) devices += w.value("size", uint64_t{0});
  out << "rollout " << v.value("id", 0) << ": " << state << "\n";
  out << "  firmware    " << v.value("product", "") << " " << v.value("version", "") << "\n";
  out << "  target      " << target.value("kind", "") << " " << target.value("value", "") << " (" << devices
      << " devices)\n";
  out << "  waves       " << v.value("waves", "") << "   success " << v.value("success", "") << "   max failures "
      << v.value("max_failures", "");
  if (v.value("confirm_within", 0) > 0) out << "   confirm within " << format_duration(v.value("confirm_within", 0));
  out << "\n  order       " << v.value("order", "");
  if (v.value("approval", false)) out << "   each wave approved";
  if (v.value("max_downloads", 0) > 0) out << "   at most " << v.value("max_downloads", 0) << " downloads at once";
  if (v.value("retries", 0) > 0)
    out << "   " << v.value("retries", 0) << " retries after " << format_duration(v.value("retry_backoff", 0));
  out << "\n  started     " << utc(v.value("start_at", int64_t{0})) << "   updated " << utc(v.value("updated_at", int64_t{0}))
      << "\n";
  if (!v.value("reason", std::string()).empty())
    out << "  " << pad(state == "aborted" ? "aborted" : "halted", 12) << v.value("reason", "") << "\n";
  if (v.contains("halted_by") && !v["halted_by"].empty()) {
    out << "  halted by  ";
    for (const json& d : v["halted_by"]) out << " " << d.get<std::string>();
    out << "\n";
  }
  out << "\n  WAVE  SPEC   DEVICES  PROGRESS                        WAITING  UPDATING  CONFIRMED  ROLLED BACK  "
         "FAILED  STATE\n";
  bool approval_shown = false;
  for (const json& w : v["wave_list"]) {
    const json& s = w["states"];
    const uint64_t size = w.value("size", uint64_t{0});
    const uint64_t waiting = count_of(s, "waiting") + count_of(s, "assigned");
    const uint64_t updating = count_of(s, "downloading") + count_of(s, "applying") + count_of(s, "rebooting");
    const uint64_t confirmed = count_of(s, "confirmed"), rolled_back = count_of(s, "rolled_back");
    const uint64_t failed = count_of(s, "failed") + count_of(s, "timed_out") + count_of(s, "refused");
    std::string wave_state = "pending";
    if (w.value("done", false)) wave_state = "done";
    else if (w.value("started", false)) wave_state = state == "waiting_approval" || state == "scheduled" ? "running" : state;
    else if (state == "waiting_approval" && !approval_shown) wave_state = "awaiting approval", approval_shown = true;
    else if (state == "aborted") wave_state = "aborted";
    out << "  " << pad(std::to_string(w.value("wave", 0)), 4) << "  " << pad(w.value("spec", ""), 5) << "  "
        << pad(std::to_string(size), 7, true) << "  " << bar(size, confirmed, failed + rolled_back, updating, 30)
        << "  " << pad(std::to_string(waiting), 7, true) << "  " << pad(std::to_string(updating), 8, true) << "  "
        << pad(std::to_string(confirmed), 9, true) << "  " << pad(std::to_string(rolled_back), 11, true) << "  "
        << pad(std::to_string(failed), 6, true) << "  " << wave_state << "\n";
  }
  if (v.contains("devices")) {
    out << "\n  DEVICE" << std::string(26, ' ') << "WAVE  STATE         ATTEMPTS  DETAIL\n";
    for (const json& d : v["devices"]) {
      std::string st = d.value("state", "");
      if (d.value("excused", false)) st += " (excused)";
      out << "  " << pad(d.value("device_id", ""), 32) << pad(std::to_string(d.value("wave", 0)), 4) << "  "
          << pad(st, 12) << "  " << pad(std::to_string(d.value("attempts", 0)), 8, true) << "  "
          << d.value("detail", "") << "\n";
    }
  }
  return out.str();
}

std::string render_rollout_list(const json& list) {
  std::ostringstream out;
  out << "ID    PRODUCT           VERSION           STATE             WAVE  TARGET\n";
  for (const json& r : list) {
    out << pad(std::to_string(r.value("id", 0)), 4) << "  " << pad(r.value("product", ""), 16) << "  "
        << pad(r.value("version", ""), 16) << "  " << pad(r.value("state", ""), 16) << "  "
        << pad(std::to_string(r.value("current_wave", 0)), 4) << "  " << r["target"].value("kind", "") << " "
        << r["target"].value("value", "") << "\n";
  }
  return out.str();
}

int rollout_command(const Options& o, Client& client, const std::vector<std::string>& a) {
  if (a.size() < 2) throw UsageError("usage: otactl rollout create|list|show|pause|resume|approve|abort ...");
  const std::string& cmd = a[1];
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  auto emit = [&](const json& j, const std::string& human) {
    if (o.json) std::puts(j.dump(2).c_str());
    else std::fputs(human.c_str(), stdout);
  };
  auto rollout_path = [&](const std::string& id) {
    if (!all_digits(id)) throw UsageError("a rollout id is a number, not '" + id + "'");
    return "/api/v1/rollouts/" + id;
  };
  if (cmd == "create") {
    Flags f = parse_flags(a, 2,
                          {"--product", "--version", "--group", "--filter", "--waves", "--success", "--max-failures",
                           "--confirm-within", "--start-at", "--max-downloads", "--retries", "--retry-backoff",
                           "--order", "--seed"},
                          kCreateUsage, {"--approve"});
    json j = client.ok(client.request("POST", "/api/v1/rollouts", rollout_plan(f, now).dump(), "application/json"));
    emit(j, render_rollout(j));
    return 0;
  }
  if (cmd == "list") {
    if (a.size() != 2) throw UsageError("usage: otactl rollout list");
    json j = client.ok(client.request("GET", "/api/v1/rollouts"));
    emit(j, render_rollout_list(j["rollouts"]));
    return 0;
  }
  if (cmd == "show") {
    Flags f = parse_flags(a, 2, {"--interval"}, kShowUsage, {"--watch", "--devices"});
    if (f.positional.size() != 1) throw UsageError(std::string("usage: otactl ") + kShowUsage);
    const std::string path = rollout_path(f.positional[0]) + (f.has("--devices") ? "?devices=1" : "");
    if (!f.has("--watch")) {
      json j = client.ok(client.request("GET", path));
      emit(j, render_rollout(j));
      return 0;
    }
    const int64_t interval = f.has("--interval") ? parse_duration(f.values.at("--interval"), "--interval") : 2;
    // On a terminal the view is redrawn in place; in a log or a pipe, a
    // view (or with --json one line) is printed each time it changes.
    const bool tty = isatty(1) && !o.json;
    std::string last;
    for (;;) {
      json j = client.ok(client.request("GET", path));
      const std::string shown = o.json ? j.dump() + "\n" : render_rollout(j);
      if (shown != last) {
        if (tty) std::fputs("\033[H\033[2J", stdout);
        else if (!last.empty() && !o.json) std::fputs("\n", stdout);
        std::fputs(shown.c_str(), stdout);
        std::fflush(stdout);
        last = shown;
      }
      const std::string state = j.value("state", "");
      if (finished(state)) return state == "completed" ? 0 : 1;
      std::this_thread::sleep_for(std::chrono::seconds(std::max<int64_t>(1, interval)));
    }
  }
  if (cmd == "pause" || cmd == "resume" || cmd == "approve" || cmd == "abort") {
    if (a.size() != 3) throw UsageError("usage: otactl rollout " + cmd + " ID");
    json j = client.ok(client.request("POST", rollout_path(a[2]) + "/" + cmd, "{}", "application/json"));
    emit(j, render_rollout(j));
    return 0;
  }
  throw UsageError("unknown command: rollout " + cmd);
}

}  // namespace otactl
