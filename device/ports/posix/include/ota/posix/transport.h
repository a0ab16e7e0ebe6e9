// The simulator's TransportPort: one libcurl easy handle per device, with
// fault injection (cuts after exact byte counts, a slow link) and counters.
// Host code (C++17, exceptions never leave a port function); not part of the
// device build.
#ifndef OTA_POSIX_TRANSPORT_H
#define OTA_POSIX_TRANSPORT_H

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "ota/ports.h"
#include "ota/posix/power.h"

namespace ota::posix {

struct TransportOptions {
  // "http://host:port" or "https://host:port" (a path prefix is allowed);
  // each request's path is appended.
  std::string base_url;
  // PEM CA certificate(s) that must sign an https server's certificate (the
  // provisioning bundle's ca.pem). https always verifies the peer and the
  // host name against this file alone (not the system's CA store); there is
  // no way to switch that off. An https request without a CA file fails.
  std::string ca_file;
  uint32_t connect_timeout_ms = 10000;
  // The exchange fails when fewer than low_speed_limit bytes/s arrive for
  // low_speed_time_s seconds.
  uint32_t low_speed_limit = 1;
  uint32_t low_speed_time_s = 30;
  uint32_t timeout_ms = 0;        // the whole exchange; 0: no limit
  // A slow link: the body reaches the sink at this average rate, in pieces
  // of about 50 ms of data, the transfer held meanwhile. 0: full speed.
  uint64_t rate_bytes_per_s = 0;
  std::vector<uint64_t> cuts;     // see set_cuts
  // false: injected cuts count and strike only the bodies of GET responses
  // (the downloads), not the answers to POSTs (check-in, status reports).
  // true: every response body.
  bool cuts_count_all = false;
  // When set, requests fail while it is off, and stop when it goes off.
  PowerSupply* power = nullptr;
  std::string user_agent = "ota-agent-posix";
};

struct TransportStats {
  uint64_t requests = 0;         // exchanges attempted
  uint64_t ranged_requests = 0;  // of which with range_from > 0
  uint64_t body_bytes = 0;       // response body bytes handed to sinks
  uint64_t failures = 0;         // request() calls that returned non-zero
  uint64_t cuts = 0;             // injected cuts that fired
};

// request(): method, path, "Authorization: Bearer <bearer>", the body with
// its Content-Type, and "Range: bytes=<range_from>-" become one HTTP
// exchange on the device's reused connection (no redirects, no proxy, no
// content decoding). sink.begin(status, Content-Length or -1) is called
// once before the first body byte, also when the body is empty; sink.data
// gets the body as it arrives. Returns 0 when the whole response arrived
// (any status), non-zero when the connection or TLS failed, a timeout
// struck, the body was cut (by the peer or by an injected cut), or a sink
// callback returned non-zero. One exchange at a time per transport; many
// transports may run in threads of one process.
class CurlTransport {
 public:
  explicit CurlTransport(TransportOptions opt);
  ~CurlTransport();
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  TransportPort port();  // ctx is this object
  int request(const HttpRequest& req, const HttpSink& sink);

  // Injected cuts, counted in response body bytes across requests (GET
  // responses only unless cuts_count_all): the k-th cut fails the exchange
  // in progress once cuts[k] more body bytes (after the previous cut, or
  // after this call) have reached the sink, at the first byte beyond them.
  // A response that ends exactly there completes; the cut then strikes at
  // the next counted body byte. Replaces the pending list. May be called
  // from another thread.
  void set_cuts(std::vector<uint64_t> cuts);
  size_t cuts_pending() const;
  void set_rate(uint64_t bytes_per_s);  // takes effect at the next request

  TransportStats stats() const;
  std::string last_error() const;  // why the last failed request failed

 private:
  struct Exchange;
  static size_t on_body(char* data, size_t size, size_t nmemb, void* ctx);
  size_t body(Exchange* x, const uint8_t* data, size_t n);

  TransportOptions opt_;
  void* curl_ = nullptr;  // CURL*
  std::atomic<uint64_t> rate_;
  mutable std::mutex mu_;  // cuts_, cut_index_, since_cut_, cuts_gen_, last_error_
  std::vector<uint64_t> cuts_;
  size_t cut_index_ = 0;
  uint64_t since_cut_ = 0;
  uint64_t cuts_gen_ = 0;  // set_cuts() calls
  std::string last_error_;
  std::atomic<uint64_t> requests_{0}, ranged_{0}, body_bytes_{0}, failures_{0}, cuts_fired_{0};
};

}  // namespace ota::posix

#endif  // OTA_POSIX_TRANSPORT_H
