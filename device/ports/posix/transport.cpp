// CurlTransport: see ota/posix/transport.h.
#include "ota/posix/transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

namespace ota::posix {

namespace {

std::once_flag g_curl_init;

bool starts_with_nocase(const std::string& s, const char* prefix) {
  size_t n = std::strlen(prefix);
  if (s.size() < n) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

// Frees the header list whatever way request() leaves.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  bool add(const std::string& h) {
    curl_slist* n = curl_slist_append(list, h.c_str());
    if (!n) return false;
    list = n;
    return true;
  }
};

}  // namespace

struct CurlTransport::Exchange {
  CurlTransport* self = nullptr;
  CURL* curl = nullptr;
  const HttpSink* sink = nullptr;
  bool begun = false;
  bool aborted = false;  // a sink callback refused
  bool cut = false;      // an injected cut fired
  bool counted = false;  // body bytes count towards injected cuts
  uint64_t rate = 0;     // bytes/s; 0: full speed
  uint64_t paced = 0;    // body bytes handed over so far (for the rate)
  std::chrono::steady_clock::time_point start;
};

CurlTransport::CurlTransport(TransportOptions opt)
    : opt_(std::move(opt)), rate_(opt_.rate_bytes_per_s), cuts_(opt_.cuts) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

CurlTransport::~CurlTransport() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

void CurlTransport::set_cuts(std::vector<uint64_t> cuts) {
  std::lock_guard<std::mutex> lock(mu_);
  cuts_ = std::move(cuts);
  cut_index_ = 0;
  since_cut_ = 0;
  ++cuts_gen_;
}

size_t CurlTransport::cuts_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cuts_.size() - cut_index_;
}

void CurlTransport::set_rate(uint64_t bytes_per_s) { rate_.store(bytes_per_s); }

TransportStats CurlTransport::stats() const {
  TransportStats s;
  s.requests = requests_.load();
  s.ranged_requests = ranged_.load();
  s.body_bytes = body_bytes_.load();
  s.failures = failures_.load();
  s.cuts = cuts_fired_.load();
  return s;
}

std::string CurlTransport::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

size_t CurlTransport::on_body(char* data, size_t size, size_t nmemb, void* ctx) {
  auto* x = static_cast<Exchange*>(ctx);
  try {
    return x->self->body(x, reinterpret_cast<const uint8_t*>(data), size * nmemb);
  } catch (...) {
    x->aborted = true;
    return 0;
  }
}

size_t CurlTransport::body(Exchange* x, const uint8_t* data, size_t n) {
  if (!x->begun) {
    x->begun = true;
    long status = 0;
    curl_off_t length = -1;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
    if (x->sink->begin && x->sink->begin(x->sink->ctx, static_cast<int>(status),
                                         static_cast<int64_t>(length)) != 0) {
      x->aborted = true;
      return 0;
    }
  }
  if (n == 0) return 0;
  if (opt_.power && opt_.power->off()) {  // the device died mid-download
    x->aborted = true;
    return 0;
  }
  size_t deliver = n;
  bool cut = false;
  uint64_t gen = 0;  // set_cuts() from another thread meanwhile starts afresh
  if (x->counted) {
    std::lock_guard<std::mutex> lock(mu_);
    gen = cuts_gen_;
    if (cut_index_ < cuts_.size()) {
      uint64_t left = cuts_[cut_index_] > since_cut_ ? cuts_[cut_index_] - since_cut_ : 0;
      if (n > left) {
        deliver = static_cast<size_t>(left);
        cut = true;
      }
    }
  }
  // A slow link: pieces of about 50 ms of data, each handed over when the
  // rate allows (blocking here holds the TCP window, as a slow radio does).
  const size_t piece_max =
      x->rate ? static_cast<size_t>(std::max<uint64_t>(1, x->rate / 20)) : deliver;
  for (size_t off = 0; off < deliver;) {
    const size_t piece = std::min(piece_max, deliver - off);
    if (x->rate) {
      x->paced += piece;
      std::this_thread::sleep_until(
          x->start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(static_cast<double>(x->paced) /
                                                       static_cast<double>(x->rate))));
    }
    int rc = x->sink->data ? x->sink->data(x->sink->ctx, data + off, piece) : 0;
    off += piece;
    body_bytes_.fetch_add(piece);
    if (x->counted) {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen == cuts_gen_) since_cut_ += piece;
    }
    if (rc != 0) {
      x->aborted = true;
      return 0;
    }
  }
  if (cut) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (gen == cuts_gen_) {
        ++cut_index_;
        since_cut_ = 0;
      }
    }
    cuts_fired_.fetch_add(1);
    x->cut = true;
    return 0;
  }
  return n;
}

int CurlTransport::request(const HttpRequest& req, const HttpSink& sink) {
  auto fail = [this](const std::string& why) {
    failures_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    last_error_ = why;
    return -1;
  };
  if (opt_.power && opt_.power->off()) return fail("the power is off");
  if (!curl_) return fail("curl_easy_init failed");
  if (!req.path || !req.method) return fail("request without method or path");
  if (req.body_len > 0 && !req.body) return fail("request body is null");
  const bool https = starts_with_nocase(opt_.base_url, "https://");
  if (!https && !starts_with_nocase(opt_.base_url, "http://")) {
    return fail("base URL is neither http:// nor https://: " + opt_.base_url);
  }
  if (https && opt_.ca_file.empty()) return fail("https needs the provisioning CA file");

  requests_.fetch_add(1);
  if (req.range_from > 0) ranged_.fetch_add(1);

  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);  // keeps the live connection for reuse
  std::string url = opt_.base_url;
  const char* path = req.path;
  if (!url.empty() && url.back() == '/' && path[0] == '/') ++path;
  url += path;
  char errbuf[CURL_ERROR_SIZE] = {0};
  Exchange x;
  x.self = this;
  x.curl = c;
  x.sink = &sink;
  x.rate = rate_.load();
  x.start = std::chrono::steady_clock::now();
  HeaderList headers;
  std::string range;

  bool ok = curl_easy_setopt(c, CURLOPT_URL, url.c_str()) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_PROXY, "") == CURLE_OK;  // a device uses no proxy
#if LIBCURL_VERSION_NUM >= 0x075500
  ok = ok && curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#endif
  ok = ok && curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_USERAGENT, opt_.user_agent.c_str()) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                              static_cast<long>(opt_.connect_timeout_ms)) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
                              static_cast<long>(opt_.low_speed_limit)) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                              static_cast<long>(opt_.low_speed_time_s)) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(opt_.timeout_ms)) ==
                 CURLE_OK;
  if (https) {
    ok = ok && curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok = ok && curl_easy_setopt(c, CURLOPT_CAINFO, opt_.ca_file.c_str()) == CURLE_OK;
    // Only the bundle's CA: no built-in CA directory.
    ok = ok && curl_easy_setopt(c, CURLOPT_CAPATH, static_cast<char*>(nullptr)) == CURLE_OK;
  }
  ok = ok && curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &CurlTransport::on_body) == CURLE_OK;
  ok = ok && curl_easy_setopt(c, CURLOPT_WRITEDATA, &x) == CURLE_OK;

  const bool get = std::strcmp(req.method, "GET") == 0;
  x.counted = get || opt_.cuts_count_all;
  const bool head = std::strcmp(req.method, "HEAD") == 0;
  if (head) {
    ok = ok && curl_easy_setopt(c, CURLOPT_NOBODY, 1L) == CURLE_OK;
  } else if (get && req.body_len == 0) {
    ok = ok && curl_easy_setopt(c, CURLOPT_HTTPGET, 1L) == CURLE_OK;
  } else {
    ok = ok && curl_easy_setopt(c, CURLOPT_POST, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                                static_cast<curl_off_t>(req.body_len)) == CURLE_OK;
    ok = ok && curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                                req.body_len ? reinterpret_cast<const char*>(req.body) : "") ==
                   CURLE_OK;
    if (std::strcmp(req.method, "POST") != 0) {
      ok = ok && curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method) == CURLE_OK;
    }
    ok = ok && headers.add("Expect:");
    ok = ok && headers.add(req.content_type ? std::string("Content-Type: ") + req.content_type
                                            : std::string("Content-Type:"));
  }
  if (req.bearer) ok = ok && headers.add(std::string("Authorization: Bearer ") + req.bearer);
  if (headers.list) ok = ok && curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.list) == CURLE_OK;
  if (req.range_from > 0) {
    range = std::to_string(req.range_from) + "-";
    ok = ok && curl_easy_setopt(c, CURLOPT_RANGE, range.c_str()) == CURLE_OK;
  }
  if (!ok) return fail("curl_easy_setopt failed");

  CURLcode rc = curl_easy_perform(c);
  // Nothing of this exchange may point at our stack once we return.
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  if (x.cut) return fail("injected cut");
  if (x.aborted) {
    return fail(opt_.power && opt_.power->off() ? "the power failed"
                                                : "the sink refused the response");
  }
  if (rc != CURLE_OK) {
    return fail(std::string(curl_easy_strerror(rc)) + (errbuf[0] ? std::string(": ") + errbuf
                                                                  : std::string()));
  }
  if (!x.begun) {  // an empty body: begin now
    body(&x, nullptr, 0);
    if (x.aborted) return fail("the sink refused the response");
  }
  return 0;
}

namespace {

int t_request(void* ctx, const HttpRequest* req, const HttpSink* sink) {
  try {
    if (!req || !sink) return -1;
    return static_cast<CurlTransport*>(ctx)->request(*req, *sink);
  } catch (...) {
    return -1;
  }
}

}  // namespace

TransportPort CurlTransport::port() { return TransportPort{this, t_request}; }

}  // namespace ota::posix
