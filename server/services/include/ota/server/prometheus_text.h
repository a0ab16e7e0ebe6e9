// SPDX-License-Identifier: Apache-2.0
//
// The Prometheus text exposition format (version 0.0.4), written by hand:
// families with HELP and TYPE lines, samples with escaped label values,
// counters and histograms that several threads update at once. Metrics
// (metrics.h) and MetricsService build /metrics from these.
#ifndef OTA_SERVER_PROMETHEUS_TEXT_H
#define OTA_SERVER_PROMETHEUS_TEXT_H

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ota::server::prom {

using Labels = std::vector<std::pair<std::string, std::string>>;

// A label value as the format wants it: \ " and newline escaped.
std::string escape_label_value(std::string_view v);
// A sample value: integers exactly, others with 17 significant digits,
// "+Inf", "-Inf", "NaN".
std::string format_value(double v);

// "# HELP name help" and "# TYPE name type" (type: counter, gauge, histogram).
void write_header(std::string& out, std::string_view name, std::string_view type, std::string_view help);
// name{k="v",...} value
void write_sample(std::string& out, std::string_view name, const Labels& labels, double value);

// A counter family: one monotonically rising value per label set.
class CounterFamily {
 public:
  CounterFamily(std::string name, std::string help, std::vector<std::string> label_names);
  // REQUIRES: values.size() == label_names.size(); by >= 0.
  void add(const std::vector<std::string>& values, double by = 1);
  double value(const std::vector<std::string>& values) const;  // 0 when never added
  void render(std::string& out) const;

 private:
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, double> values_;
};

// A histogram family: per label set, cumulative bucket counts at the
// upper bounds (ascending; +Inf is implied), the sum and the count.
class HistogramFamily {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds);
  void observe(const std::vector<std::string>& values, double x);
  uint64_t count(const std::vector<std::string>& values) const;
  void render(std::string& out) const;

 private:
  struct Series {
    std::vector<uint64_t> buckets;  // per bound, not cumulative
    uint64_t count = 0;
    double sum = 0;
  };
  const std::string name_, help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series> series_;
};

}  // namespace ota::server::prom

#endif  // OTA_SERVER_PROMETHEUS_TEXT_H
