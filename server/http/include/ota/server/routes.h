// The route table of ota-server, in one place, reading like the API docs.
#ifndef OTA_SERVER_ROUTES_H
#define OTA_SERVER_ROUTES_H

#include <memory>

#include "ota/server/admin_auth.h"
#include "ota/server/artifacts.h"
#include "ota/server/checkin_service.h"
#include "ota/server/device_service.h"
#include "ota/server/firmware_service.h"
#include "ota/server/group_service.h"
#include "ota/server/metrics.h"
#include "ota/server/metrics_service.h"
#include "ota/server/patch_service.h"
#include "ota/server/rollout_service.h"
#include "ota/server/session_service.h"
#include "ota/server/update_service.h"
#include "ota/server/build_queue.h"
#include "ota/server/http.h"
#include "ota/server/store.h"

namespace ota::server {

// What the handlers share. Owned by main; outlives the server.
struct ServerContext {
  Store& store;
  ArtifactStore& artifacts;
  const AdminAuth& admin;
  FirmwareService& firmware;
  DeviceService& devices;
  PatchService& patches;
  UpdateService& updates;
  CheckInService& checkin;
  GroupService& groups;
  RolloutService& rollouts;
  BuildQueue& builds;        // release and patch builds: a bounded pool off the request threads
  Metrics& metrics;          // this process's counters
  MetricsService& metrics_service;
  SessionService& sessions;  // the console's logins
  std::string server_pub_pem;
  bool secure_cookies = false;  // session cookies are Secure (TLS here, or at a proxy in front)
};

std::unique_ptr<Router> make_router(ServerContext& ctx);
// GET /metrics without the admin token, alone: for a listener of its own
// (ota-server --metrics-listen), on an address only Prometheus reaches.
std::unique_ptr<Router> make_metrics_router(ServerContext& ctx);

}  // namespace ota::server

#endif  // OTA_SERVER_ROUTES_H
