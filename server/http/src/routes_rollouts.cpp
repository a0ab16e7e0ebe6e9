// SPDX-License-Identifier: Apache-2.0
//
// /api/v1/rollouts: waves that promote or halt on the devices' health
// (docs/server.md, Rollouts).
#include "route_util.h"

namespace ota::server::routes_detail {

namespace {

nlohmann::json rollout_json(const RolloutRecord& r) {
  nlohmann::json j = {{"id", r.id},
                      {"product", r.product},
                      {"version", r.version},
                      {"target", {{"kind", r.target_kind}, {"value", r.target}}},
                      {"waves", r.waves},
                      {"success", r.success.text()},
                      {"max_failures", r.max_failures.text()},
                      {"confirm_within", r.confirm_within},
                      {"approval", r.approval},
                      {"start_at", r.start_at},
                      {"max_downloads", r.max_downloads},
                      {"retries", r.retries},
                      {"retry_backoff", r.retry_backoff},
                      {"order", r.order},
                      {"state", rollout_state_name(r.state)},
                      {"current_wave", r.current_wave + 1},
                      {"reason", r.reason},
                      {"halted_by", r.halted_by},
                      {"created_at", r.created_at},
                      {"updated_at", r.updated_at}};
  return j;
}

// A rollout with its waves (each with how many of its devices are in each
// state), and with ?devices=1 every device's truth.
nlohmann::json rollout_view_json(const RolloutService::View& v, bool devices) {
  nlohmann::json j = rollout_json(v.snapshot.rollout);
  nlohmann::json waves = nlohmann::json::array();
  for (const WaveRecord& w : v.snapshot.waves) {
    uint64_t size = 0;
    nlohmann::json states = nlohmann::json::object();
    for (const auto& [state, n] : v.states[w.index]) {
      states[state] = n;
      size += n;
    }
    waves.push_back({{"wave", w.index + 1},
                     {"spec", w.spec},
                     {"planned", w.planned},
                     {"size", size},
                     {"started", w.started},
                     {"done", w.done},
                     {"started_at", w.started_at},
                     {"done_at", w.done_at},
                     {"states", states}});
  }
  j["wave_list"] = waves;
  if (devices) {
    nlohmann::json list = nlohmann::json::array();
    for (const MemberRecord& m : v.snapshot.members)
      list.push_back({{"device_id", m.device_id},
                      {"wave", m.wave + 1},
                      {"state", member_state_name(m.state)},
                      {"attempts", m.attempts},
                      {"started_at", m.started_at},
                      {"updated_at", m.updated_at},
                      {"detail", m.detail},
                      {"excused", m.excused}});
    j["devices"] = list;
  }
  return j;
}

int64_t rollout_id(const RouteParams& p) {
  const std::string text(p["id"]);
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos)
    throw ServiceError(404, "rollout_not_found", "no rollout " + text);
  return std::stoll(text);
}

}  // namespace

void add_rollout_routes(MeteredRouter& r, ServerContext& ctx) {
  // --- /api/v1/rollouts: waves that promote or halt on the devices' health.
  r.get("/api/v1/rollouts", admin_only(ctx, [&ctx](const Request& req, auto) {
                nlohmann::json list = nlohmann::json::array();
                for (const RolloutRecord& rec : ctx.rollouts.list()) list.push_back(rollout_json(rec));
                return reply_json(req, restinio::status_ok(), {{"rollouts", list}});
              }));
  r.post("/api/v1/rollouts", admin_only(ctx, [&ctx](const Request& req, auto) {
                 nlohmann::json body = object_body(req, "a rollout plan (docs/server.md, Rollouts)");
                 RolloutService::Plan plan;
                 plan.product = product_or_default(optional_string(body, "product"));
                 plan.version = optional_string(body, "version").value_or("");
                 plan.group = optional_string(body, "group");
                 plan.filter = optional_string(body, "filter");
                 if (auto v = optional_string(body, "waves")) plan.waves = *v;
                 if (auto v = optional_string(body, "success")) plan.success = *v;
                 if (auto v = optional_string(body, "max_failures")) plan.max_failures = *v;
                 plan.confirm_within = static_cast<int64_t>(optional_count(body, "confirm_within", 0, 365ull * 86400));
                 if (body.contains("approval") && !body["approval"].is_boolean())
                   throw ServiceError(400, "bad_json", "approval is true or false");
                 plan.approval = body.value("approval", false);
                 plan.start_at = static_cast<int64_t>(optional_count(body, "start_at", 0, 1ull << 40));
                 plan.max_downloads = static_cast<uint32_t>(optional_count(body, "max_downloads", 0, 1u << 30));
                 plan.retries = static_cast<uint32_t>(optional_count(body, "retries", 0, 20));
                 plan.retry_backoff = static_cast<int64_t>(optional_count(body, "retry_backoff", 300, 30ull * 86400));
                 if (body.contains("seed")) plan.seed = optional_count(body, "seed", 0, UINT64_MAX);
                 if (body.contains("order")) {
                   if (!body["order"].is_array()) throw ServiceError(400, "bad_json", "order is a list of device ids");
                   for (const auto& id : body["order"]) {
                     if (!id.is_string()) throw ServiceError(400, "bad_json", "order is a list of device ids");
                     plan.order.push_back(id.get<std::string>());
                   }
                 }
                 RolloutSnapshot s = ctx.rollouts.create(plan, "admin");
                 prebuild_later(ctx, plan.product, plan.version);  // its deltas, before the first wave asks
                 return reply_json(req, restinio::status_created(),
                                   rollout_view_json(ctx.rollouts.get(s.rollout.id), false));
               }));
  r.get("/api/v1/rollouts/:id", admin_only(ctx, [&ctx](const Request& req, auto params) {
                auto q = query_of(req);
                bool devices = q.has("devices") && q["devices"] != "0";
                return reply_json(req, restinio::status_ok(),
                                  rollout_view_json(ctx.rollouts.get(rollout_id(params)), devices));
              }));
  auto rollout_action_handler = [&ctx](RolloutAction action) {
    return admin_only(ctx, [&ctx, action](const Request& req, auto params) {
      int64_t id = rollout_id(params);
      ctx.rollouts.act(id, action, "admin");
      return reply_json(req, restinio::status_ok(), rollout_view_json(ctx.rollouts.get(id), false));
    });
  };
  r.post("/api/v1/rollouts/:id/pause", rollout_action_handler(RolloutAction::kPause));
  r.post("/api/v1/rollouts/:id/resume", rollout_action_handler(RolloutAction::kResume));
  r.post("/api/v1/rollouts/:id/approve", rollout_action_handler(RolloutAction::kApprove));
  r.post("/api/v1/rollouts/:id/abort", rollout_action_handler(RolloutAction::kAbort));
}

}  // namespace ota::server::routes_detail
