// SPDX-License-Identifier: Apache-2.0
// otactl's rollout commands without a server: the flags become the plan the
// API takes (mistakes are usage errors, exit status 2), and a rollout's
// JSON view renders as the per-wave progress a person watches.
#include "rollout_commands.h"

#include <gtest/gtest.h>

namespace otactl {
namespace {

constexpr int64_t kNow = 1'764'000'000;

Flags flags(std::vector<std::string> words) {
  words.insert(words.begin(), {"rollout", "create"});
  return parse_flags(words, 2,
                     {"--product", "--version", "--group", "--filter", "--waves", "--success", "--max-failures",
                      "--confirm-within", "--start-at", "--max-downloads", "--retries", "--retry-backoff", "--order",
                      "--seed"},
                     "rollout create", {"--approve"});
}

std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no usage error)";
}

TEST(OtactlRollout, DurationsAndStartTimes) {
  EXPECT_EQ(parse_duration("45", "--x"), 45);
  EXPECT_EQ(parse_duration("90s", "--x"), 90);
  EXPECT_EQ(parse_duration("30m", "--x"), 1800);
  EXPECT_EQ(parse_duration("2h", "--x"), 7200);
  EXPECT_EQ(parse_duration("1d", "--x"), 86400);
  for (const char* bad : {"", "m", "30 m", "-5m", "5w", "1.5h", "9999999999"})
    EXPECT_EQ(usage_error([&] { parse_duration(bad, "--confirm-within"); }).substr(0, 35),
              "--confirm-within needs a duration s")
        << bad;
  EXPECT_EQ(format_duration(1800), "30m");
  EXPECT_EQ(format_duration(5400), "90m");
  EXPECT_EQ(format_duration(7200), "2h");
  EXPECT_EQ(format_duration(61), "61s");
  EXPECT_EQ(parse_start_at("1764003600", kNow), 1764003600);
  EXPECT_EQ(parse_start_at("+10m", kNow), kNow + 600);
  EXPECT_EQ(parse_start_at("2026-12-03T18:00Z", kNow), 1796320800);
  EXPECT_EQ(parse_start_at("2026-12-03T18:00:30Z", kNow), 1796320830);
  for (const char* bad : {"tomorrow", "2026-12-03 18:00", "2026-12-03T18:00", "+soon"})
    EXPECT_NE(usage_error([&] { parse_start_at(bad, kNow); }), "(no usage error)") << bad;
}

TEST(OtactlRollout, FlagsBecomeThePlan) {
  json plan = rollout_plan(flags({"--product", "lamp", "--version", "2.0", "--filter", "tag.site=north",
                                  "--waves", "5%,25%,100%", "--success", "95%", "--max-failures", "2%",
                                  "--confirm-within", "30m", "--approve", "--max-downloads", "50", "--retries",
                                  "2", "--retry-backoff", "5m", "--start-at", "+1h", "--order", "a,b", "--seed", "7"}),
                           kNow);
  EXPECT_EQ(plan, json::parse(R"({"product":"lamp","version":"2.0","filter":"tag.site=north",
      "waves":"5%,25%,100%","success":"95%","max_failures":"2%","confirm_within":1800,"approval":true,
      "max_downloads":50,"retries":2,"retry_backoff":300,"start_at":1764003600,"order":["a","b"],"seed":7})"));
  // Only what was given: the server's defaults for the rest.
  EXPECT_EQ(rollout_plan(flags({"--version", "2.0", "--group", "pilots"}), kNow),
            json::parse(R"({"version":"2.0","group":"pilots"})"));
  // A target is a group or a filter, exactly one; a version is needed.
  for (auto words : std::vector<std::vector<std::string>>{{"--version", "2.0"},
                                                          {"--version", "2.0", "--group", "g", "--filter", "x=1"},
                                                          {"--group", "g"},
                                                          {"--version", "2.0", "--group", "g", "stray"}})
    EXPECT_EQ(usage_error([&] { rollout_plan(flags(words), kNow); }).substr(0, 29), "usage: otactl rollout create ");
  EXPECT_EQ(usage_error([&] { rollout_plan(flags({"--version", "2", "--group", "g", "--retries", "many"}), kNow); }),
            "--retries needs a whole number up to 20, not 'many'");
  EXPECT_EQ(usage_error([&] { rollout_plan(flags({"--version", "2", "--group", "g", "--order", ",,"}), kNow); }),
            "--order needs device ids separated by commas");
  EXPECT_NE(usage_error([&] { flags({"--version", "2", "--group", "g", "--bogus", "1"}); }), "(no usage error)");
}

json halted_view() {
  return json::parse(R"({
    "id": 7, "product": "lamp", "version": "2.0", "target": {"kind": "filter", "value": "product=lamp"},
    "waves": "10%,50%,100%", "success": "95%", "max_failures": "5%", "confirm_within": 1800,
    "approval": false, "start_at": 1764000000, "max_downloads": 0, "retries": 0, "retry_backoff": 300,
    "order": "random:42", "state": "halted", "current_wave": 1,
    "reason": "wave 1: 2 of 20 devices failed (10%), above the 5% error threshold",
    "halted_by": ["lamp-017", "lamp-122"], "created_at": 1764000000, "updated_at": 1764000060,
    "wave_list": [
      {"wave": 1, "spec": "10%", "planned": 20, "size": 20, "started": true, "done": false,
       "states": {"confirmed": 15, "rolled_back": 2, "downloading": 3}},
      {"wave": 2, "spec": "50%", "planned": 80, "size": 80, "started": false, "done": false,
       "states": {"waiting": 80}},
      {"wave": 3, "spec": "100%", "planned": 100, "size": 100, "started": false, "done": false,
       "states": {"waiting": 100}}]})");
}

TEST(OtactlRollout, AHaltedRolloutSaysWhyAndWho) {
  const std::string text = render_rollout(halted_view());
  EXPECT_NE(text.find("rollout 7: halted\n"), std::string::npos) << text;
  EXPECT_NE(text.find("target      filter product=lamp (200 devices)"), std::string::npos) << text;
  EXPECT_NE(text.find("confirm within 30m"), std::string::npos) << text;
  EXPECT_NE(text.find("halted      wave 1: 2 of 20 devices failed (10%), above the 5% error threshold"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("halted by   lamp-017 lamp-122"), std::string::npos) << text;
  // 15 of 20 confirmed: 23 of 30 cells; 2 rolled back: 3 more; 3 updating: 4 more (rounded cumulatively).
  EXPECT_NE(text.find("  1     10%         20  [#######################xxx>>>>]  "), std::string::npos) << text;
  EXPECT_NE(text.find("      0         3         15            2       0  halted\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[..............................]       80         0"), std::string::npos) << text;
}

TEST(OtactlRollout, WavesShowDoneRunningAndApproval) {
  json v = halted_view();
  v["state"] = "waiting_approval";
  v["reason"] = "";
  v["halted_by"] = json::array();
  v["wave_list"][0]["done"] = true;
  v["wave_list"][0]["states"] = {{"confirmed", 20}};
  const std::string text = render_rollout(v);
  EXPECT_EQ(text.find("halted"), std::string::npos) << text;
  EXPECT_NE(text.find("[##############################]"), std::string::npos) << text;
  EXPECT_NE(text.find("  done\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  awaiting approval\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("awaiting approval", text.find("awaiting approval") + 1), std::string::npos)
      << "only the next wave awaits it";
  // One device of 100 still shows in the bar.
  v["wave_list"][2]["states"] = {{"waiting", 99}, {"rolled_back", 1}};
  EXPECT_NE(render_rollout(v).find("[x.............................]"), std::string::npos) << render_rollout(v);
  // Rounded-up parts never overlap: 1 confirmed, 1 failed, 1 updating of 100.
  v["wave_list"][2]["states"] = {{"waiting", 97}, {"confirmed", 1}, {"failed", 1}, {"applying", 1}};
  EXPECT_NE(render_rollout(v).find("[#x>...........................]"), std::string::npos) << render_rollout(v);
}

TEST(OtactlRollout, TheListIsATable) {
  json list = json::array({halted_view()});
  EXPECT_EQ(render_rollout_list(list),
            "ID    PRODUCT           VERSION           STATE             WAVE  TARGET\n"
            "7     lamp              2.0               halted            1     filter product=lamp\n");
}

}  // namespace
}  // namespace otactl
