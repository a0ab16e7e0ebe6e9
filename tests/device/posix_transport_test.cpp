// The simulator's libcurl transport against a small HTTP/1.1 server on
// loopback (a thread in this test, honouring Range), and against
// `openssl s_server` for the certificate checks: status and length reach
// the sink before the body, Range and bearer are sent, injected cuts strike
// after exactly N body bytes across requests, and https refuses a server
// the provisioning CA did not sign or whose name does not match.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "ota/posix/power.h"
#include "ota/posix/transport.h"
#include "test_support.h"

extern char** environ;

namespace ota::posix {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

Bytes random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

std::string lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// A port nobody listens on (bound, then closed).
int free_port() { return test::free_loopback_port(); }

// ---------------------------------------------------------------------------
// One connection at a time. By default one request per connection
// ("Connection: close"); with keep_alive, requests follow each other on a
// connection until the client closes it. Routes answer with a status and a
// body; GET honours "Range: bytes=N-" with 206 (416 beyond the end).

class LoopbackServer {
 public:
  struct Route {
    int status = 200;
    std::string body;
    size_t send_only = std::string::npos;  // announce the whole body, send this much, close
  };
  struct Request {
    std::string method, path, body;
    std::map<std::string, std::string> headers;  // lower-case names
  };

  explicit LoopbackServer(bool keep_alive = false) : keep_alive_(keep_alive) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 64) != 0) {
      ADD_FAILURE() << "cannot listen on loopback";
      return;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~LoopbackServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void route(const std::string& path, Route r) {
    std::lock_guard<std::mutex> lock(mu_);
    routes_[path] = std::move(r);
  }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int connections() const { return connections_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++connections_;
      std::string in;
      while (serve(c, in) && keep_alive_) {
      }
      ::close(c);
    }
  }

  // Appends what arrives within 5 s; false on close, error, timeout or stop.
  bool receive(int c, std::string& in) {
    for (int waited = 0; waited < 5000 && !stop_; waited += 50) {
      pollfd p{c, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in.append(buf, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  // One request from `in` (and the socket); false when the connection ends.
  bool serve(int c, std::string& in) {
    size_t end;
    while ((end = in.find("\r\n\r\n")) == std::string::npos) {
      if (in.size() > 65536 || !receive(c, in)) return false;
    }
    Request req;
    size_t line_end = in.find("\r\n");
    std::string line = in.substr(0, line_end);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 <= sp1) return false;
    req.method = line.substr(0, sp1);
    req.path = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (size_t at = line_end + 2; at < end;) {
      size_t e = in.find("\r\n", at);
      std::string h = in.substr(at, e - at);
      at = e + 2;
      size_t colon = h.find(':');
      if (colon == std::string::npos) continue;
      std::string value = h.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      req.headers[lower(h.substr(0, colon))] = value;
    }
    size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      length = std::stoul(it->second);
    }
    while (in.size() < end + 4 + length) {
      if (!receive(c, in)) return false;
    }
    req.body = in.substr(end + 4, length);
    in.erase(0, end + 4 + length);
    Route r;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      auto it = routes_.find(req.path);
      if (it == routes_.end()) {
        r.status = 404;
        r.body = "not found";
      } else {
        r = it->second;
      }
    }
    std::string extra, body = r.body;
    int status = r.status;
    auto range = req.headers.find("range");
    if (status == 200 && range != req.headers.end() && range->second.rfind("bytes=", 0) == 0) {
      size_t from = std::stoul(range->second.substr(6));
      if (from >= body.size()) {
        status = 416;
        extra = "Content-Range: bytes */" + std::to_string(body.size()) + "\r\n";
        body.clear();
      } else {
        status = 206;
        extra = "Content-Range: bytes " + std::to_string(from) + "-" +
                std::to_string(body.size() - 1) + "/" + std::to_string(body.size()) + "\r\n";
        body = body.substr(from);
      }
    }
    const bool close = !keep_alive_ || r.send_only != std::string::npos;
    std::string head = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n" + extra +
                       (close ? "Connection: close\r\n" : "") + "\r\n";
    if (!send_all(c, head.data(), head.size())) return false;
    if (!send_all(c, body.data(), std::min(body.size(), r.send_only))) return false;
    if (close) ::shutdown(c, SHUT_WR);
    return !close;
  }

  bool keep_alive_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
  std::mutex mu_;
  std::map<std::string, Route> routes_;
  std::vector<Request> requests_;
};

// Collects what the transport hands a sink.
struct Collector {
  int begins = 0;
  int status = 0;
  int64_t length = -2;
  Bytes body;
  bool data_before_begin = false;
  int refuse_begin = 0;
  size_t refuse_after = SIZE_MAX;  // data returns non-zero once this many bytes arrived

  HttpSink sink() {
    HttpSink s;
    s.ctx = this;
    s.begin = [](void* ctx, int status, int64_t length) {
      auto* c = static_cast<Collector*>(ctx);
      ++c->begins;
      c->status = status;
      c->length = length;
      return c->refuse_begin;
    };
    s.data = [](void* ctx, const uint8_t* d, size_t n) {
      auto* c = static_cast<Collector*>(ctx);
      if (c->begins == 0) c->data_before_begin = true;
      c->body.insert(c->body.end(), d, d + n);
      return c->body.size() >= c->refuse_after ? 1 : 0;
    };
    return s;
  }
};

HttpRequest get(const char* path, uint32_t range_from = 0) {
  HttpRequest r{};
  r.method = "GET";
  r.path = path;
  r.range_from = range_from;
  return r;
}

std::string str(const Bytes& b) { return std::string(b.begin(), b.end()); }

TransportOptions options(const std::string& url) {
  TransportOptions o;
  o.base_url = url;
  return o;
}

// ---------------------------------------------------------------------------

TEST(device_posix_transport, GetDeliversStatusLengthAndBody) {
  LoopbackServer server;
  Bytes data = random_bytes(100000, 1);
  server.route("/data", {200, str(data)});
  CurlTransport t(options(server.url()));
  TransportPort port = t.port();
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/data");
  ASSERT_EQ(port.request(port.ctx, &req, &sink), 0) << t.last_error();
  EXPECT_EQ(c.begins, 1);
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.length, 100000);
  EXPECT_FALSE(c.data_before_begin);
  EXPECT_EQ(c.body, data);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/data");
  EXPECT_EQ(reqs[0].headers.count("authorization"), 0u);
  EXPECT_EQ(reqs[0].headers.count("range"), 0u);
  TransportStats s = t.stats();
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.ranged_requests, 0u);
  EXPECT_EQ(s.body_bytes, 100000u);
  EXPECT_EQ(s.failures, 0u);
}

TEST(device_posix_transport, PostSendsBodyBearerAndContentType) {
  LoopbackServer server;
  server.route("/api/v1/devices/d1/check-in", {201, "{\"ok\":true}"});
  TransportOptions o = options(server.url() + "/");  // a trailing slash is fine
  CurlTransport t(o);
  const std::string json = "{\"version\":\"1.0.0\",\"nonce\":\"00ff\"}";
  HttpRequest req{};
  req.method = "POST";
  req.path = "/api/v1/devices/d1/check-in";
  req.bearer = "device-token-123";
  req.content_type = "application/json";
  req.body = reinterpret_cast<const uint8_t*>(json.data());
  req.body_len = json.size();
  Collector c;
  HttpSink sink = c.sink();
  ASSERT_EQ(t.request(req, sink), 0) << t.last_error();
  EXPECT_EQ(c.status, 201);
  EXPECT_EQ(str(c.body), "{\"ok\":true}");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].path, "/api/v1/devices/d1/check-in");
  EXPECT_EQ(reqs[0].headers["authorization"], "Bearer device-token-123");
  EXPECT_EQ(reqs[0].headers["content-type"], "application/json");
  EXPECT_EQ(reqs[0].body, json);
  EXPECT_EQ(reqs[0].headers.count("expect"), 0u);

  // A POST without a body or content type.
  HttpRequest empty{};
  empty.method = "POST";
  empty.path = "/api/v1/devices/d1/check-in";
  Collector c2;
  HttpSink sink2 = c2.sink();
  ASSERT_EQ(t.request(empty, sink2), 0) << t.last_error();
  reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "POST");
  EXPECT_EQ(reqs[1].headers["content-length"], "0");
  EXPECT_EQ(reqs[1].headers.count("content-type"), 0u);
}

TEST(device_posix_transport, RangeHeaderSentAndHonoured) {
  LoopbackServer server;
  Bytes data = random_bytes(10000, 2);
  server.route("/data", {200, str(data)});
  CurlTransport t(options(server.url()));
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/data", 4000);
  ASSERT_EQ(t.request(req, sink), 0) << t.last_error();
  EXPECT_EQ(c.status, 206);
  EXPECT_EQ(c.length, 6000);
  EXPECT_EQ(c.body, Bytes(data.begin() + 4000, data.end()));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].headers["range"], "bytes=4000-");
  EXPECT_EQ(t.stats().ranged_requests, 1u);
  // Beyond the end: the server's 416 is a complete response.
  Collector c2;
  HttpSink sink2 = c2.sink();
  HttpRequest beyond = get("/data", 10000);
  ASSERT_EQ(t.request(beyond, sink2), 0) << t.last_error();
  EXPECT_EQ(c2.status, 416);
  EXPECT_EQ(c2.begins, 1);
  EXPECT_EQ(t.stats().ranged_requests, 2u);
}

TEST(device_posix_transport, EmptyBodiesAndErrorStatusesStillBegin) {
  LoopbackServer server;
  server.route("/empty", {200, ""});
  server.route("/gone", {410, ""});
  CurlTransport t(options(server.url()));
  for (const char* path : {"/empty", "/gone", "/missing"}) {
    Collector c;
    HttpSink sink = c.sink();
    HttpRequest req = get(path);
    ASSERT_EQ(t.request(req, sink), 0) << path << ": " << t.last_error();
    EXPECT_EQ(c.begins, 1) << path;
    if (std::string(path) == "/empty") {
      EXPECT_EQ(c.status, 200);
      EXPECT_EQ(c.length, 0);
      EXPECT_TRUE(c.body.empty());
    } else if (std::string(path) == "/gone") {
      EXPECT_EQ(c.status, 410);
      EXPECT_EQ(c.length, 0);
    } else {
      EXPECT_EQ(c.status, 404);
      EXPECT_EQ(str(c.body), "not found");
    }
  }
}

TEST(device_posix_transport, CutAfterExactlyNBodyBytes) {
  LoopbackServer server;
  Bytes data = random_bytes(10000, 3);
  server.route("/data", {200, str(data)});
  CurlTransport t(options(server.url()));
  for (uint64_t n : {0ull, 1ull, 100ull, 4095ull, 4096ull, 9999ull}) {
    t.set_cuts({n});
    EXPECT_EQ(t.cuts_pending(), 1u);
    Collector c;
    HttpSink sink = c.sink();
    HttpRequest req = get("/data");
    EXPECT_NE(t.request(req, sink), 0) << n;
    EXPECT_EQ(c.begins, 1) << n;
    EXPECT_EQ(c.body.size(), n);
    EXPECT_TRUE(std::equal(c.body.begin(), c.body.end(), data.begin()));
    EXPECT_EQ(t.cuts_pending(), 0u);
    // The next exchange is whole again.
    Collector whole;
    HttpSink wsink = whole.sink();
    ASSERT_EQ(t.request(req, wsink), 0) << t.last_error();
    EXPECT_EQ(whole.body, data);
  }
  EXPECT_EQ(t.stats().cuts, 6u);
}

TEST(device_posix_transport, CutsCountAcrossRequestsAndResumeWithRange) {
  LoopbackServer server;
  Bytes data = random_bytes(10000, 4);
  server.route("/data", {200, str(data)});
  CurlTransport t(options(server.url()));
  // The first cut 3,000 bytes in, the second 2,000 bytes after it.
  t.set_cuts({3000, 2000});
  Bytes got;
  int failures = 0;
  for (int attempt = 0; attempt < 5 && got.size() < data.size(); ++attempt) {
    Collector c;
    HttpSink sink = c.sink();
    HttpRequest req = get("/data", static_cast<uint32_t>(got.size()));
    if (t.request(req, sink) != 0) ++failures;
    got.insert(got.end(), c.body.begin(), c.body.end());
  }
  EXPECT_EQ(failures, 2);
  EXPECT_EQ(got, data);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(reqs[1].headers["range"], "bytes=3000-");
  EXPECT_EQ(reqs[2].headers["range"], "bytes=5000-");
  TransportStats s = t.stats();
  EXPECT_EQ(s.cuts, 2u);
  EXPECT_EQ(s.ranged_requests, 2u);
  EXPECT_EQ(s.body_bytes, 10000u);
  EXPECT_EQ(s.failures, 2u);

  // A cut that falls beyond a whole response strikes in the next one;
  // exactly at its end: at the first body byte of the next.
  t.set_cuts({12000, 10000});
  Collector a, b, c, d;
  HttpSink sa = a.sink(), sb = b.sink(), sc = c.sink(), sd = d.sink();
  HttpRequest req = get("/data");
  EXPECT_EQ(t.request(req, sa), 0);
  EXPECT_NE(t.request(req, sb), 0);
  EXPECT_EQ(b.body.size(), 2000u);
  EXPECT_EQ(t.request(req, sc), 0) << "10,000 bytes: the whole response";
  EXPECT_NE(t.request(req, sd), 0);
  EXPECT_EQ(d.begins, 1);
  EXPECT_TRUE(d.body.empty());
}

TEST(device_posix_transport, CutsCountDownloadsOnlyUnlessAsked) {
  LoopbackServer server;
  Bytes data = random_bytes(3000, 11);
  server.route("/check-in", {200, str(random_bytes(1000, 12))});
  server.route("/data", {200, str(data)});
  HttpRequest post{};
  post.method = "POST";
  post.path = "/check-in";
  HttpRequest req = get("/data");
  for (bool all : {false, true}) {
    TransportOptions o = options(server.url());
    o.cuts = {10};
    o.cuts_count_all = all;
    CurlTransport t(o);
    Collector answer, download;
    HttpSink sa = answer.sink(), sd = download.sink();
    if (!all) {
      EXPECT_EQ(t.request(post, sa), 0) << "a POST answer is not a download";
      EXPECT_EQ(answer.body.size(), 1000u);
      EXPECT_NE(t.request(req, sd), 0);
      EXPECT_EQ(download.body.size(), 10u);
    } else {
      EXPECT_NE(t.request(post, sa), 0);
      EXPECT_EQ(answer.body.size(), 10u);
      EXPECT_EQ(t.request(req, sd), 0);
      EXPECT_EQ(download.body, data);
    }
    EXPECT_EQ(t.stats().body_bytes, answer.body.size() + download.body.size());
  }
}

TEST(device_posix_transport, SinkRefusalAbortsTheExchange) {
  LoopbackServer server;
  server.route("/data", {200, str(random_bytes(50000, 5))});
  CurlTransport t(options(server.url()));
  HttpRequest req = get("/data");
  Collector a;
  a.refuse_begin = 1;
  HttpSink sa = a.sink();
  EXPECT_NE(t.request(req, sa), 0);
  EXPECT_TRUE(a.body.empty());
  Collector b;
  b.refuse_after = 1;
  HttpSink sb = b.sink();
  EXPECT_NE(t.request(req, sb), 0);
  EXPECT_LT(b.body.size(), 50000u);
  // An empty body refused at begin fails too.
  server.route("/empty", {200, ""});
  HttpRequest empty = get("/empty");
  Collector c;
  c.refuse_begin = 7;
  HttpSink sc = c.sink();
  EXPECT_NE(t.request(empty, sc), 0);
  EXPECT_EQ(c.begins, 1);
}

TEST(device_posix_transport, ConnectionFailuresAndPeerCuts) {
  CurlTransport refused(options("http://127.0.0.1:" + std::to_string(free_port())));
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/data");
  EXPECT_NE(refused.request(req, sink), 0);
  EXPECT_EQ(c.begins, 0);
  EXPECT_FALSE(refused.last_error().empty());
  EXPECT_EQ(refused.stats().failures, 1u);

  LoopbackServer server;
  Bytes data = random_bytes(10000, 6);
  LoopbackServer::Route cut{200, str(data)};
  cut.send_only = 500;
  server.route("/data", cut);
  CurlTransport t(options(server.url()));
  Collector d;
  HttpSink dsink = d.sink();
  EXPECT_NE(t.request(req, dsink), 0) << "the peer closed before Content-Length";
  EXPECT_EQ(d.body.size(), 500u);
  EXPECT_EQ(d.length, 10000);

  CurlTransport bad_scheme(options("ftp://127.0.0.1/"));
  EXPECT_NE(bad_scheme.request(req, dsink), 0);
}

TEST(device_posix_transport, FailsWhileThePowerIsOff) {
  LoopbackServer server;
  server.route("/data", {200, "x"});
  PowerSupply power;
  TransportOptions o = options(server.url());
  o.power = &power;
  CurlTransport t(o);
  power.set_budget(0);
  ASSERT_FALSE(power.draw(1, nullptr));
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/data");
  EXPECT_NE(t.request(req, sink), 0);
  EXPECT_TRUE(server.requests().empty());
  power.power_on();
  EXPECT_EQ(t.request(req, sink), 0) << t.last_error();
}

TEST(device_posix_transport, StopsWhenThePowerFailsMidDownload) {
  LoopbackServer server;
  server.route("/data", {200, str(random_bytes(200000, 9))});
  PowerSupply power;
  TransportOptions o = options(server.url());
  o.power = &power;
  CurlTransport t(o);
  struct Dying {
    PowerSupply* power;
    size_t got = 0;
  } dying{&power};
  HttpSink sink{};
  sink.ctx = &dying;
  sink.begin = [](void*, int, int64_t) { return 0; };
  sink.data = [](void* ctx, const uint8_t*, size_t n) {
    auto* d = static_cast<Dying*>(ctx);
    d->got += n;
    d->power->set_budget(0);
    d->power->draw(1, nullptr);  // a flash write inside the sink was cut
    return 0;
  };
  HttpRequest req = get("/data");
  EXPECT_NE(t.request(req, sink), 0);
  EXPECT_LT(dying.got, 200000u);
  EXPECT_EQ(t.last_error(), "the power failed");
}

TEST(device_posix_transport, ReusesItsConnection) {
  LoopbackServer server(/*keep_alive=*/true);
  Bytes data = random_bytes(30000, 10);
  server.route("/data", {200, str(data)});
  CurlTransport t(options(server.url()));
  HttpRequest req = get("/data");
  for (int i = 0; i < 3; ++i) {
    Collector c;
    HttpSink sink = c.sink();
    ASSERT_EQ(t.request(req, sink), 0) << t.last_error();
    EXPECT_EQ(c.body, data);
  }
  EXPECT_EQ(server.connections(), 1);
  // A cut drops the connection; the next request opens a new one.
  t.set_cuts({100});
  Collector cut, whole;
  HttpSink s1 = cut.sink(), s2 = whole.sink();
  EXPECT_NE(t.request(req, s1), 0);
  HttpRequest rest = get("/data", 100);
  ASSERT_EQ(t.request(rest, s2), 0) << t.last_error();
  EXPECT_EQ(whole.body, Bytes(data.begin() + 100, data.end()));
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.requests().size(), 5u);
}

TEST(device_posix_transport, SlowLinkIsThrottled) {
  LoopbackServer server;
  Bytes data = random_bytes(64 * 1024, 7);
  server.route("/data", {200, str(data)});
  TransportOptions o = options(server.url());
  o.rate_bytes_per_s = 64 * 1024;
  CurlTransport t(o);
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/data");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(t.request(req, sink), 0) << t.last_error();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(c.body, data);
  EXPECT_GE(s, 0.9) << "64 KiB at 64 KiB/s";  // a lower bound only
}

TEST(device_posix_transport, ManyTransportsInThreads) {
  LoopbackServer server;
  Bytes data = random_bytes(20000, 8);
  server.route("/data", {200, str(data)});
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      CurlTransport t(options(server.url()));
      t.set_cuts({static_cast<uint64_t>(1000 * (i + 1))});
      Bytes got;
      for (int attempt = 0; attempt < 4 && got.size() < data.size(); ++attempt) {
        Collector c;
        HttpSink sink = c.sink();
        HttpRequest req = get("/data", static_cast<uint32_t>(got.size()));
        t.request(req, sink);
        got.insert(got.end(), c.body.begin(), c.body.end());
      }
      if (got == data && t.stats().cuts == 1) ++good;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), 8);
}

// ---------------------------------------------------------------------------
// TLS against openssl s_server.

bool have_openssl() { return std::system("openssl version >/dev/null 2>&1") == 0; }

bool run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// A self-signed certificate (its own CA) for `san`, e.g. "IP:127.0.0.1".
bool make_cert(const fs::path& dir, const std::string& name, const std::string& cn,
               const std::string& san) {
  return run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2"
             " -subj /CN=" + cn + " -addext subjectAltName=" + san +
             " -keyout " + (dir / (name + ".key")).string() +
             " -out " + (dir / (name + ".pem")).string());
}

class TlsServer {
 public:
  TlsServer(const fs::path& dir, const std::string& name) : port_(free_port()) {
    std::string cert = (dir / (name + ".pem")).string(), key = (dir / (name + ".key")).string();
    std::string accept = "127.0.0.1:" + std::to_string(port_);
    std::vector<std::string> args = {"openssl", "s_server", "-quiet", "-www",
                                     "-accept",  accept,     "-cert",  cert,
                                     "-key",     key};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (posix_spawnp(&pid_, "openssl", &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    // Ready when it accepts connections.
    for (int i = 0; i < 100 && pid_ > 0; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(port_));
      bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      ::close(fd);
      if (up) {
        ready_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ~TlsServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status;
      ::waitpid(pid_, &status, 0);
    }
  }
  bool ready() const { return ready_; }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

struct TempDir {
  fs::path path = test::make_temp_dir("posix-tls");
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

TEST(device_posix_transport, HttpsVerifiesTheServerAgainstTheBundleCa) {
  if (!have_openssl()) GTEST_FAIL() << "the openssl command is not installed (Debian openssl; make deps)";
  TempDir t;
  ASSERT_TRUE(make_cert(t.path, "server", "127.0.0.1", "IP:127.0.0.1"));
  ASSERT_TRUE(make_cert(t.path, "other", "127.0.0.1", "IP:127.0.0.1"));
  TlsServer server(t.path, "server");
  ASSERT_TRUE(server.ready()) << "openssl s_server did not start";
  const std::string url = "https://127.0.0.1:" + std::to_string(server.port());
  HttpRequest req = get("/");

  // Signed by the bundle's CA: accepted.
  TransportOptions good = options(url);
  good.ca_file = (t.path / "server.pem").string();
  CurlTransport ok(good);
  Collector c;
  HttpSink sink = c.sink();
  ASSERT_EQ(ok.request(req, sink), 0) << ok.last_error();
  EXPECT_EQ(c.status, 200);
  EXPECT_FALSE(c.body.empty());

  // A CA that did not sign the server's certificate: refused, no byte seen.
  TransportOptions wrong = options(url);
  wrong.ca_file = (t.path / "other.pem").string();
  CurlTransport refused(wrong);
  Collector c2;
  HttpSink sink2 = c2.sink();
  EXPECT_NE(refused.request(req, sink2), 0);
  EXPECT_EQ(c2.begins, 0);
  EXPECT_NE(refused.last_error().find("certificate"), std::string::npos) << refused.last_error();

  // No CA file: refused before connecting (never the system store).
  CurlTransport none(options(url));
  EXPECT_NE(none.request(req, sink2), 0);
  EXPECT_EQ(c2.begins, 0);
}

TEST(device_posix_transport, HttpsRefusesAHostNameMismatch) {
  if (!have_openssl()) GTEST_FAIL() << "the openssl command is not installed (Debian openssl; make deps)";
  TempDir t;
  // Trusted (it is its own CA), but issued for another name.
  ASSERT_TRUE(make_cert(t.path, "named", "ota.example", "DNS:ota.example"));
  TlsServer server(t.path, "named");
  ASSERT_TRUE(server.ready()) << "openssl s_server did not start";
  TransportOptions o = options("https://127.0.0.1:" + std::to_string(server.port()));
  o.ca_file = (t.path / "named.pem").string();
  CurlTransport tr(o);
  Collector c;
  HttpSink sink = c.sink();
  HttpRequest req = get("/");
  EXPECT_NE(tr.request(req, sink), 0);
  EXPECT_EQ(c.begins, 0);
  EXPECT_FALSE(tr.last_error().empty());
}

}  // namespace
}  // namespace ota::posix
