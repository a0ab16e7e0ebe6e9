// SPDX-License-Identifier: Apache-2.0
#include "ota/server/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace ota::server::prom {

namespace {

Labels zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) out.emplace_back(names[i], values[i]);
  return out;
}

// HELP text escapes only \ and newline.
std::string escape_help(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15)
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else {
    // The shortest of 15..17 digits that reads back as the same double
    // (a bucket bound 0.005 is written "0.005", not 0.0050000000000000001).
    for (int digits = 15; digits <= 17; ++digits) {
      std::snprintf(buf, sizeof buf, "%.*g", digits, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
  }
  return buf;
}

void write_header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += escape_help(help);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void write_sample(std::string& out, std::string_view name, const Labels& labels, double value) {
  out += name;
  if (!labels.empty()) {
    out += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) out += ',';
      out += labels[i].first;
      out += "=\"";
      out += escape_label_value(labels[i].second);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  out += format_value(value);
  out += '\n';
}

CounterFamily::CounterFamily(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void CounterFamily::add(const std::vector<std::string>& values, double by) {
  std::lock_guard<std::mutex> lock(mu_);
  values_[values] += by;
}

double CounterFamily::value(const std::vector<std::string>& values) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = values_.find(values);
  return it == values_.end() ? 0 : it->second;
}

void CounterFamily::render(std::string& out) const {
  write_header(out, name_, "counter", help_);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [values, v] : values_) write_sample(out, name_, zip(label_names_, values), v);
}

HistogramFamily::HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                                 std::vector<double> bounds)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}

void HistogramFamily::observe(const std::vector<std::string>& values, double x) {
  std::lock_guard<std::mutex> lock(mu_);
  Series& s = series_[values];
  if (s.buckets.empty()) s.buckets.assign(bounds_.size(), 0);
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (x <= bounds_[i]) {
      ++s.buckets[i];
      break;
    }
  ++s.count;
  s.sum += x;
}

uint64_t HistogramFamily::count(const std::vector<std::string>& values) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = series_.find(values);
  return it == series_.end() ? 0 : it->second.count;
}

void HistogramFamily::render(std::string& out) const {
  write_header(out, name_, "histogram", help_);
  std::lock_guard<std::mutex> lock(mu_);
  const std::string bucket = name_ + "_bucket";
  for (const auto& [values, s] : series_) {
    Labels labels = zip(label_names_, values);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += s.buckets[i];
      Labels with_le = labels;
      with_le.emplace_back("le", format_value(bounds_[i]));
      write_sample(out, bucket, with_le, static_cast<double>(cumulative));
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    write_sample(out, bucket, inf, static_cast<double>(s.count));
    write_sample(out, name_ + "_sum", labels, s.sum);
    write_sample(out, name_ + "_count", labels, static_cast<double>(s.count));
  }
}

}  // namespace ota::server::prom
