// SPDX-License-Identifier: Apache-2.0
//
// /metrics as Prometheus' own Python client parses it
// (tests/server/parse_metrics.py), for tests that check the exposition
// with a real parser, and a lookup of one sample.
#ifndef OTA_TEST_METRICS_PARSE_H
#define OTA_TEST_METRICS_PARSE_H

#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace ota::test {

// The families of `exposition`; a JSON null (and *error set) when the
// parser refuses it or cannot run.
inline nlohmann::json parse_metrics(const std::string& exposition, std::string* error) {
  const std::filesystem::path file = make_temp_dir("metrics") / "metrics.txt";
  write_file(file, std::vector<uint8_t>(exposition.begin(), exposition.end()));
  const std::string cmd = python().string() + " " + (source_dir() / "tests/server/parse_metrics.py").string() + " " +
                          file.string() + " 2>&1";
  std::string out;
  if (FILE* p = popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    int rc = pclose(p);
    std::filesystem::remove_all(file.parent_path());
    if (rc == 0) {
      nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
      if (!j.is_discarded()) return j;
    }
  }
  if (error) *error = out.empty() ? "cannot run " + cmd : out;
  return nullptr;
}

// The family named `name` (as the parser names it), or null.
inline nlohmann::json metric_family(const nlohmann::json& families, const std::string& name) {
  for (const auto& f : families)
    if (f.value("name", "") == name) return f;
  return nullptr;
}

// The value of the sample `sample` whose labels include all of `labels`
// (summed over the samples that match), or nullopt when none does.
inline std::optional<double> metric_value(const nlohmann::json& families, const std::string& sample,
                                          const std::map<std::string, std::string>& labels = {}) {
  std::optional<double> sum;
  for (const auto& f : families)
    for (const auto& s : f["samples"]) {
      if (s.value("name", "") != sample || !s["value"].is_number()) continue;
      bool all = true;
      for (const auto& [k, v] : labels) all = all && s["labels"].value(k, std::string("\x01")) == v;
      if (all) sum = sum.value_or(0) + s["value"].get<double>();
    }
  return sum;
}

}  // namespace ota::test

#endif  // OTA_TEST_METRICS_PARSE_H
