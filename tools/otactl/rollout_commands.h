// SPDX-License-Identifier: Apache-2.0
//
// otactl rollout ...: create, list, show (with --watch, a live per-wave
// view on a terminal), pause, resume, approve, abort. The parsing and the
// rendering are pure functions, tested without a server.
#ifndef OTACTL_ROLLOUT_COMMANDS_H
#define OTACTL_ROLLOUT_COMMANDS_H

#include <cstdint>
#include <string>
#include <vector>

#include "cli.h"

namespace otactl {

// "45", "90s", "30m", "2h", "1d" as seconds. UsageError naming `flag` else.
int64_t parse_duration(const std::string& text, const std::string& flag);
// Seconds as the shortest of those forms ("30m", "1h30m" as "90m").
std::string format_duration(int64_t seconds);
// A start time: Unix seconds, "+30m" (from `now`), or UTC
// "YYYY-MM-DDTHH:MM[:SS]Z". UsageError else.
int64_t parse_start_at(const std::string& text, int64_t now);

// The JSON body of POST /api/v1/rollouts from `rollout create`'s flags.
json rollout_plan(const Flags& f, int64_t now);

// A rollout (GET /api/v1/rollouts/{id}) for a person: its settings, why it
// halted and who made it, and one line per wave with a progress bar and
// the devices in each state.
std::string render_rollout(const json& view);
// GET /api/v1/rollouts as a table.
std::string render_rollout_list(const json& list);

// `otactl rollout ...` (a[0] == "rollout"); the process's exit status.
// show --watch returns 0 once the rollout completed, 1 when it halted or
// was aborted.
int rollout_command(const Options& o, Client& client, const std::vector<std::string>& a);

}  // namespace otactl

#endif  // OTACTL_ROLLOUT_COMMANDS_H
