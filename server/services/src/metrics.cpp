// SPDX-License-Identifier: Apache-2.0
#include "ota/server/metrics.h"

namespace ota::server {

namespace {

std::string s(std::string_view v) { return std::string(v); }
const char* flag(bool b) { return b ? "true" : "false"; }

}  // namespace

Metrics::Metrics()
    : http_requests_("ota_http_requests_total", "HTTP requests answered, by method, route pattern and status.",
                     {"method", "route", "status"}),
      http_duration_("ota_http_request_duration_seconds",
                     "Time from the start of handling to the response, by method and route pattern.",
                     {"method", "route"},
                     {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}),
      check_ins_("ota_check_ins_total",
                 "Device check-ins answered, by result: delta or full (an update offered), no_update, "
                 "building (told to come back: its release is being built), deferred (a rollout's download cap).",
                 {"result"}),
      downloads_("ota_downloads_total", "Downloads begun (responses from byte 0), by kind (delta or full).",
                 {"kind", "firmware_aware"}),
      download_resumes_("ota_download_resumes_total", "Downloads resumed (ranged responses past byte 0), by kind.",
                        {"kind", "firmware_aware"}),
      download_bytes_("ota_download_bytes_total", "Bytes of releases and patches sent to devices, by kind.",
                      {"kind", "firmware_aware"}),
      patch_builds_("ota_patch_builds_total", "Patches built and verified, by form (plain or firmware_aware) and result.",
                    {"form", "result"}),
      patch_duration_("ota_patch_build_duration_seconds", "Time to build and verify a patch, by form.", {"form"},
                      {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}),
      status_reports_("ota_status_reports_total", "Status reports from devices, by state.", {"state"}) {}

void Metrics::http_request(std::string_view method, std::string_view route, int status, double seconds) {
  http_requests_.add({s(method), s(route), std::to_string(status)});
  http_duration_.observe({s(method), s(route)}, seconds);
}

void Metrics::check_in(std::string_view result) { check_ins_.add({s(result)}); }

void Metrics::download(std::string_view kind, bool firmware_aware, uint64_t offset, uint64_t bytes) {
  (offset == 0 ? downloads_ : download_resumes_).add({s(kind), flag(firmware_aware)});
  download_bytes_.add({s(kind), flag(firmware_aware)}, static_cast<double>(bytes));
}

void Metrics::patch_build(std::string_view form, bool ok, double seconds) {
  patch_builds_.add({s(form), ok ? "ok" : "failed"});
  if (ok) patch_duration_.observe({s(form)}, seconds);
}

void Metrics::status_report(std::string_view state) { status_reports_.add({s(state)}); }

void Metrics::render(std::string& out) const {
  http_requests_.render(out);
  http_duration_.render(out);
  check_ins_.render(out);
  downloads_.render(out);
  download_resumes_.render(out);
  download_bytes_.render(out);
  patch_builds_.render(out);
  patch_duration_.render(out);
  status_reports_.render(out);
}

double Metrics::http_requests(std::string_view method, std::string_view route, int status) const {
  return http_requests_.value({s(method), s(route), std::to_string(status)});
}
double Metrics::check_ins(std::string_view result) const { return check_ins_.value({s(result)}); }
double Metrics::download_bytes(std::string_view kind, bool fa) const { return download_bytes_.value({s(kind), flag(fa)}); }
double Metrics::downloads(std::string_view kind, bool fa) const { return downloads_.value({s(kind), flag(fa)}); }
uint64_t Metrics::patch_builds(std::string_view form) const { return patch_duration_.count({s(form)}); }

}  // namespace ota::server
