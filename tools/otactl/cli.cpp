// SPDX-License-Identifier: Apache-2.0
#include "cli.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

namespace otactl {

namespace {

size_t collect(char* p, size_t s, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, s * n);
  return s * n;
}

int progress(void*, curl_off_t, curl_off_t, curl_off_t ultotal, curl_off_t ulnow) {
  if (ultotal <= 0) return 0;
  int pct = static_cast<int>(100 * ulnow / ultotal);
  int bar = pct * 30 / 100;
  std::fprintf(stderr, "\ruploading [%.*s%*s] %3d%% %lld/%lld bytes", bar,
               "==============================", 30 - bar, "", pct, static_cast<long long>(ulnow),
               static_cast<long long>(ultotal));
  if (ulnow == ultotal) std::fputc('\n', stderr);
  return 0;
}

}  // namespace

Response Client::request(const std::string& method, const std::string& path, const std::string& body,
                         const std::string& content_type, bool show_progress) {
  Response r;
  CURL* c = curl_easy_init();
  if (!c) throw std::runtime_error("libcurl initialisation failed");
  std::string url = o_.server + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_slist* headers = nullptr;
  if (!o_.token.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + o_.token).c_str());
  if (!content_type.empty()) headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  // No "Expect: 100-continue": the server answers the request as a whole,
  // and libcurl would wait a second before sending a large upload.
  headers = curl_slist_append(headers, "Expect:");
  if (!o_.cacert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o_.cacert.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (method == "POST" || method == "PUT") {  // a body (CUSTOMREQUEST keeps the method)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (show_progress && isatty(2)) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
  }
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (rc != CURLE_OK)
    throw std::runtime_error("cannot reach " + o_.server + ": " + curl_easy_strerror(rc));
  return r;
}

json Client::ok(const Response& r) {
  json j = json::parse(r.body, nullptr, false);
  if (r.status >= 200 && r.status < 300 && !j.is_discarded()) return j;
  if (!j.is_discarded() && j.contains("error"))
    throw std::runtime_error(std::to_string(r.status) + " " + j["error"].value("code", "") + ": " +
                             j["error"].value("message", ""));
  throw std::runtime_error("unexpected answer from the server (HTTP " + std::to_string(r.status) + ")");
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string cell(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  return v.dump();
}

void print_table(const json& rows, const Columns& columns) {
  std::vector<size_t> width;
  for (auto& [key, title] : columns) width.push_back(title.size());
  for (const json& r : rows)
    for (size_t i = 0; i < columns.size(); ++i)
      width[i] = std::max(width[i], cell(r.value(columns[i].first, json())).size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); ++i) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    std::puts(s.c_str());
  };
  std::vector<std::string> titles;
  for (auto& [key, title] : columns) titles.push_back(title);
  line(titles);
  for (const json& r : rows) {
    std::vector<std::string> cells;
    for (auto& [key, title] : columns) cells.push_back(cell(r.value(key, json())));
    line(cells);
  }
}

void print_object(const json& o) {
  size_t w = 0;
  for (auto& [k, v] : o.items()) w = std::max(w, k.size());
  for (auto& [k, v] : o.items()) std::printf("%-*s  %s\n", static_cast<int>(w), k.c_str(), cell(v).c_str());
}

Flags parse_flags(const std::vector<std::string>& a, size_t from, const std::vector<std::string>& allowed,
                  const std::string& usage, const std::vector<std::string>& switches) {
  Flags f;
  for (size_t i = from; i < a.size(); ++i) {
    if (std::find(switches.begin(), switches.end(), a[i]) != switches.end()) {
      f.values[a[i]] = "true";
    } else if (a[i].rfind("--", 0) == 0) {
      if (std::find(allowed.begin(), allowed.end(), a[i]) == allowed.end() || i + 1 >= a.size())
        throw UsageError("usage: otactl " + usage);
      f.values[a[i]] = a[i + 1];
      ++i;
    } else {
      f.positional.push_back(a[i]);
    }
  }
  return f;
}

std::string escaped(const std::string& s) {
  char* e = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string out(e);
  curl_free(e);
  return out;
}

}  // namespace otactl
