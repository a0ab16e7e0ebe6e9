// ota-sim: one simulated device, or a fleet of them, running the device
// core's agent against a server. A line per state change on stdout, and as
// the last line a JSON summary that scripts and CI read.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <curl/curl.h>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ota/patch_decoder.h"
#include "sim_device.h"

namespace {

namespace fs = std::filesystem;
using ota::sim::Bundle;
using ota::sim::SimConfig;
using ota::sim::SimDevice;
using ota::sim::SimSummary;

const char kUsage[] =
    "usage: ota-sim --bundle DIR --state DIR [--server URL] [--image FILE] [--version LABEL]\n"
    "               (--once | --poll SECONDS [--cycles N]) [options]\n"
    "  --bundle DIR          the device's provisioning bundle (device.json, device.key, ...);\n"
    "                        with --fleet, a directory of bundle directories\n"
    "  --state DIR           the device's flash, state and staging files (made on first start)\n"
    "  --server URL          overrides the bundle's server_url\n"
    "  --image FILE          the firmware the device starts with (first start only)\n"
    "  --version LABEL       the server's version name of that firmware (default: its app descriptor)\n"
    "  --legacy              update through the original endpoints (/check_update/, /get_patch/)\n"
    "  --tag KEY=VALUE       a tag the device reports at every check-in (repeatable)\n"
    "faults:\n"
    "  --cut-after N[,N...]  cut the connection after N more body bytes (each number once)\n"
    "  --rate BYTES_PER_S    a slow link\n"
    "  --power-cut-after N   the power fails after N flash bytes written or erased\n"
    "  --power-cut-random SEED  ... after a random number of them (up to twice the image size)\n"
    "  --fail-self-test      the self-test of any image but the factory one fails\n"
    "  --fail-self-test-fraction F  with --fleet: that share of the devices (0..1, rounded to whole\n"
    "                        devices, chosen by --seed) fails it; the summary lists them\n"
    "  --seed N              the seed of that choice (default 1)\n"
    "  --no-checkpoint       no delta resume: a reset restarts the download from zero\n"
    "  --checkpoint-interval BYTES  payload bytes between checkpoints (default 65536)\n"
    "  --ram BYTES          decoder RAM (struct + workspace; default the 32 KiB mode's);\n"
    "                       49152 lets the server send firmware-aware deltas\n"
    "  --follow-retry S      with --once, check in again after a server's retry_after of at most S\n"
    "                        seconds (its patch is being built; default 30, 0: never), 300 s in all\n"
    "fleet:\n"
    "  --fleet N             run N devices (the first N bundles of --bundle DIR, states in --state DIR/<id>)\n"
    "  --threads T           worker threads for the fleet (default 32)\n"
    "  --provision PREFIX    first register devices PREFIX-00001..PREFIX-N that have no bundle in\n"
    "                        --bundle DIR yet (admin token: --admin-token or OTA_ADMIN_TOKEN) and\n"
    "                        write their bundles; --product P, --ca CA.pem for them\n"
    "  --quiet               no state lines, only the summary\n"
    "  --progress            a progress bar even when stdout is not a terminal\n"
    "  --summary FILE        also write the JSON summary to FILE\n"
    "outcomes (the summary's last line): updated, up_to_date, rolled_back, failed, refused (the server\n"
    "  answered 4xx; error has the status and code), server_error (5xx), offline (no answer),\n"
    "  deferred (the server holds the update back and asks for a later check-in: a rollout's cap,\n"
    "  or a build longer than --follow-retry allows),\n"
    "  bricked, boot_loop, error\n";

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

bool parse_u64(const char* s, uint64_t* out) {
  if (!s || !*s) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (errno || *end || s[0] == '-') return false;
  *out = v;
  return true;
}

struct Options {
  SimConfig cfg;
  std::string bundle_dir;
  bool once = false;
  double poll_seconds = -1;
  uint64_t cycles = 0;
  int64_t power_cut_seed = -1;
  double fail_fraction = -1;  // --fail-self-test-fraction; < 0: not given
  uint64_t seed = 1;
  uint64_t fleet = 0;
  unsigned threads = 32;
  bool quiet = false;
  bool progress = false;
  std::string summary_file;
  std::string provision_prefix;
  std::string provision_product = "default";
  std::string admin_token;
  std::string ca_file;
};

int usage_error(const std::string& msg) {
  std::fprintf(stderr, "ota-sim: %s\n%s", msg.c_str(), kUsage);
  return 2;
}

long peak_rss_kb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

size_t curl_collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Registers devices PREFIX-00001.. that have no bundle in DIR yet (POST
// /api/v1/devices with the admin token) and writes their bundles.
int provision_fleet(const Options& o) {
  std::error_code ec;
  fs::create_directories(o.bundle_dir, ec);
  std::string ca;
  if (!o.ca_file.empty()) {
    std::ifstream in(o.ca_file, std::ios::binary);
    std::ostringstream t;
    t << in.rdbuf();
    ca = t.str();
    if (!in || ca.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      std::fprintf(stderr, "ota-sim: --ca %s: not a PEM certificate\n", o.ca_file.c_str());
      return 1;
    }
  }
  CURL* c = curl_easy_init();
  std::string auth = "Authorization: Bearer " + o.admin_token;
  curl_slist* headers = curl_slist_append(nullptr, auth.c_str());
  headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string url = o.cfg.server_url + "/api/v1/devices";
  uint64_t made = 0;
  for (uint64_t i = 1; i <= o.fleet; ++i) {
    char id[96];
    std::snprintf(id, sizeof id, "%s-%05llu", o.provision_prefix.c_str(), static_cast<unsigned long long>(i));
    fs::path dir = fs::path(o.bundle_dir) / id;
    if (fs::exists(dir / "device.json")) continue;
    std::string body = nlohmann::json{{"device_id", id}, {"product", o.provision_product}}.dump(), answer;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
    if (!ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
    long status = 0;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    nlohmann::json j = nlohmann::json::parse(answer, nullptr, false);
    if (rc != CURLE_OK || status != 201 || j.is_discarded() || !j.contains("device_key")) {
      std::fprintf(stderr, "ota-sim: registering %s failed: %s %s\n", id,
                   rc != CURLE_OK ? curl_easy_strerror(rc) : std::to_string(status).c_str(), answer.c_str());
      curl_slist_free_all(headers);
      curl_easy_cleanup(c);
      return 1;
    }
    ota::sim::Bundle b;
    b.device_id = id;
    b.product = o.provision_product;
    b.server_url = o.cfg.server_url;
    b.token = j["device_token"].get<std::string>();
    std::string key_hex = j["device_key"].get<std::string>();
    if (key_hex.size() != 64) return 1;
    for (size_t k = 0; k < 32; ++k) b.device_key[k] = static_cast<uint8_t>(std::stoi(key_hex.substr(2 * k, 2), nullptr, 16));
    std::string err;
    if (!ota::sim::write_bundle(dir.string(), b, j["server_pub_pem"].get<std::string>(), ca, &err)) {
      std::fprintf(stderr, "ota-sim: %s\n", err.c_str());
      return 1;
    }
    ++made;
  }
  curl_slist_free_all(headers);
  curl_easy_cleanup(c);
  if (!o.quiet) std::fprintf(stderr, "ota-sim: %llu devices registered\n", static_cast<unsigned long long>(made));
  return 0;
}

// The fleet: every cycle, each device powers on, checks in (and updates
// when the server says so) and powers off again, spread over worker
// threads; its RAM exists only while it runs, its flash and state persist.
int run_fleet(const Options& o) {
  std::vector<fs::path> bundles;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(o.bundle_dir, ec))
    if (e.is_directory() && fs::exists(e.path() / "device.json")) bundles.push_back(e.path());
  std::sort(bundles.begin(), bundles.end());
  if (bundles.size() < o.fleet) {
    std::fprintf(stderr, "ota-sim: --fleet %llu but %s holds %zu bundles\n",
                 static_cast<unsigned long long>(o.fleet), o.bundle_dir.c_str(), bundles.size());
    return 2;
  }
  bundles.resize(o.fleet);
  std::vector<ota::sim::Bundle> loaded(bundles.size());
  for (size_t i = 0; i < bundles.size(); ++i) {
    std::string err;
    if (!ota::sim::load_bundle(bundles[i].string(), &loaded[i], &err)) {
      std::fprintf(stderr, "ota-sim: %s\n", err.c_str());
      return 1;
    }
  }
  // The devices whose new image fails its self-test: exactly the share
  // asked for, rounded, drawn with the seed (the same seed, the same ones).
  std::vector<bool> fails(bundles.size(), o.cfg.fail_self_test);
  std::vector<std::string> failing;
  if (o.fail_fraction >= 0) {
    std::vector<size_t> order(bundles.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(o.seed);
    std::shuffle(order.begin(), order.end(), rng);
    const size_t k = static_cast<size_t>(std::llround(o.fail_fraction * static_cast<double>(bundles.size())));
    for (size_t i = 0; i < k; ++i) fails[order[i]] = true;
  }
  for (size_t i = 0; i < bundles.size(); ++i)
    if (fails[i]) failing.push_back(loaded[i].device_id);
  std::sort(failing.begin(), failing.end());
  std::mutex mu;
  std::map<std::string, uint64_t> outcomes;
  uint64_t bytes = 0, resumes = 0, polls = 0;
  std::vector<std::string> errors;
  auto start = std::chrono::steady_clock::now();
  uint64_t cycles = o.once ? 1 : (o.cycles ? o.cycles : 1);
  unsigned n = std::max(1u, std::min<unsigned>(o.threads, static_cast<unsigned>(bundles.size())));
  for (uint64_t cycle = 0; cycle < cycles && !g_stop.load(); ++cycle) {
    auto cycle_start = std::chrono::steady_clock::now();
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t i = next++; i < bundles.size() && !g_stop.load(); i = next++) {
        SimConfig cfg = o.cfg;
        cfg.bundle = loaded[i];
        cfg.fail_self_test = fails[i];
        cfg.state_dir = (fs::path(o.cfg.state_dir) / cfg.bundle.device_id).string();
        // The device lives for this one run (its SimDevice is gone after
        // it), so its flash file stays open only that long: at most one
        // file per thread. Reopening it for every read cost a fleet of
        // WLED-sized images a third of its time.
        cfg.keep_open = true;
        cfg.durable = false;
        cfg.out = o.quiet ? nullptr : stdout;
        cfg.prefix = cfg.bundle.device_id + ": ";
        std::string err;
        auto dev = SimDevice::open(cfg, &err);
        SimSummary s;
        if (!dev) {
          s.outcome = "error";
          s.error = err;
        } else {
          s = dev->run_once();
        }
        std::lock_guard<std::mutex> l(mu);
        outcomes[s.outcome]++;
        ++polls;
        bytes += s.bytes_downloaded;
        resumes += s.resumes;
        if (!s.error.empty() && errors.size() < 20) errors.push_back(cfg.bundle.device_id + ": " + s.error);
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < n; ++t) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (cycle + 1 < cycles && o.poll_seconds > 0) {
      auto until = cycle_start + std::chrono::duration<double>(o.poll_seconds);
      while (std::chrono::steady_clock::now() < until && !g_stop.load())
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json j = {{"devices", bundles.size()},   {"cycles", cycles},
                      {"polls", polls},              {"outcomes", outcomes},
                      {"bytes_downloaded", bytes},   {"resumes", resumes},
                      {"seconds", secs},             {"threads", n},
                      {"peak_rss_kb", peak_rss_kb()}, {"errors", errors}};
  if (o.fail_fraction >= 0 || o.cfg.fail_self_test) j["failing_self_test"] = failing;
  std::printf("%s\n", j.dump().c_str());
  if (!o.summary_file.empty()) {
    std::ofstream f(o.summary_file);
    f << j.dump() << "\n";
    if (!f.flush()) {
      std::fprintf(stderr, "ota-sim: cannot write %s\n", o.summary_file.c_str());
      return 1;
    }
  }
  bool bad = outcomes.count("error") || outcomes.count("bricked") || outcomes.count("boot_loop") ||
             outcomes.count("failed") || outcomes.count("offline") ||
             outcomes.count("refused") || outcomes.count("server_error");
  return bad ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.cfg.out = stdout;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    uint64_t n = 0;
    const char* v = nullptr;
    if (a == "--help" || a == "-h") {
      std::printf("%s", kUsage);
      return 0;
    } else if (a == "--bundle") {
      if (!(v = value("--bundle"))) return usage_error("--bundle needs a directory");
      o.bundle_dir = v;
    } else if (a == "--state") {
      if (!(v = value("--state"))) return usage_error("--state needs a directory");
      o.cfg.state_dir = v;
    } else if (a == "--server") {
      if (!(v = value("--server"))) return usage_error("--server needs a URL");
      o.cfg.server_url = v;
    } else if (a == "--image") {
      if (!(v = value("--image"))) return usage_error("--image needs a file");
      o.cfg.image_path = v;
    } else if (a == "--version") {
      if (!(v = value("--version"))) return usage_error("--version needs a label");
      o.cfg.version_label = v;
    } else if (a == "--once") {
      o.once = true;
    } else if (a == "--poll") {
      if (!(v = value("--poll"))) return usage_error("--poll needs seconds");
      char* end = nullptr;
      o.poll_seconds = std::strtod(v, &end);
      if (*end || o.poll_seconds < 0) return usage_error("--poll needs a number of seconds");
    } else if (a == "--cycles") {
      if (!parse_u64(value("--cycles"), &o.cycles)) return usage_error("--cycles needs a number");
    } else if (a == "--legacy") {
      o.cfg.legacy = true;
    } else if (a == "--cut-after") {
      if (!(v = value("--cut-after"))) return usage_error("--cut-after needs byte counts");
      std::string list = v;
      size_t pos = 0;
      while (pos <= list.size()) {
        size_t comma = list.find(',', pos);
        std::string item = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!parse_u64(item.c_str(), &n)) return usage_error("--cut-after: not a byte count: " + item);
        o.cfg.cuts.push_back(n);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    } else if (a == "--rate") {
      if (!parse_u64(value("--rate"), &o.cfg.rate_bytes_per_s) || o.cfg.rate_bytes_per_s == 0)
        return usage_error("--rate needs bytes per second");
    } else if (a == "--power-cut-after") {
      if (!parse_u64(value("--power-cut-after"), &n)) return usage_error("--power-cut-after needs a number");
      o.cfg.power_cut_after = static_cast<int64_t>(n);
    } else if (a == "--power-cut-random") {
      if (!parse_u64(value("--power-cut-random"), &n)) return usage_error("--power-cut-random needs a seed");
      o.power_cut_seed = static_cast<int64_t>(n);
    } else if (a == "--fail-self-test") {
      o.cfg.fail_self_test = true;
    } else if (a == "--fail-self-test-fraction") {
      char* end = nullptr;
      if (!(v = value("--fail-self-test-fraction"))) return usage_error("--fail-self-test-fraction needs 0..1");
      o.fail_fraction = std::strtod(v, &end);
      if (*end || !(o.fail_fraction >= 0 && o.fail_fraction <= 1))
        return usage_error("--fail-self-test-fraction needs a share from 0 to 1");
    } else if (a == "--seed") {
      if (!parse_u64(value("--seed"), &o.seed)) return usage_error("--seed needs a number");
    } else if (a == "--tag") {
      if (!(v = value("--tag")) || !std::strchr(v, '=') || std::strchr(v, ','))
        return usage_error("--tag needs KEY=VALUE (no comma)");
      o.cfg.tags += (o.cfg.tags.empty() ? "" : ",") + std::string(v);
    } else if (a == "--no-checkpoint") {
      o.cfg.checkpoint_interval = 0;
    } else if (a == "--checkpoint-interval") {
      if (!parse_u64(value("--checkpoint-interval"), &n) || n == 0 || n > 0xFFFFFFFFu)
        return usage_error("--checkpoint-interval needs a positive number of bytes");
      o.cfg.checkpoint_interval = static_cast<uint32_t>(n);
    } else if (a == "--follow-retry") {
      if (!parse_u64(value("--follow-retry"), &n) || n > 3600)
        return usage_error("--follow-retry needs seconds, 0..3600");
      o.cfg.follow_retry_s = static_cast<uint32_t>(n);
    } else if (a == "--ram") {
      if (!parse_u64(value("--ram"), &n) || n < sizeof(ota::PatchDecoder) + ota::sim::kSimDefaultWorkspace || n > (1u << 20))
        return usage_error("--ram needs the decoder's bytes, " +
                           std::to_string(sizeof(ota::PatchDecoder) + ota::sim::kSimDefaultWorkspace) + ".." +
                           std::to_string(1u << 20));
      o.cfg.workspace_size = static_cast<uint32_t>(n - sizeof(ota::PatchDecoder)) & ~3u;
    } else if (a == "--fleet") {
      if (!parse_u64(value("--fleet"), &o.fleet) || o.fleet == 0) return usage_error("--fleet needs a number");
    } else if (a == "--threads") {
      if (!parse_u64(value("--threads"), &n) || n == 0 || n > 4096) return usage_error("--threads needs 1..4096");
      o.threads = static_cast<unsigned>(n);
    } else if (a == "--provision") {
      if (!(v = value("--provision"))) return usage_error("--provision needs a device id prefix");
      o.provision_prefix = v;
    } else if (a == "--product") {
      if (!(v = value("--product"))) return usage_error("--product needs a product id");
      o.provision_product = v;
    } else if (a == "--admin-token") {
      if (!(v = value("--admin-token"))) return usage_error("--admin-token needs a token");
      o.admin_token = v;
    } else if (a == "--ca") {
      if (!(v = value("--ca"))) return usage_error("--ca needs a PEM file");
      o.ca_file = v;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--progress") {
      o.progress = true;
    } else if (a == "--summary") {
      if (!(v = value("--summary"))) return usage_error("--summary needs a file");
      o.summary_file = v;
    } else {
      return usage_error("unknown argument " + a);
    }
  }
  if (o.bundle_dir.empty() || o.cfg.state_dir.empty()) return usage_error("--bundle and --state are required");
  if (o.once == (o.poll_seconds >= 0)) return usage_error("give exactly one of --once and --poll SECONDS");
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  if (o.quiet) o.cfg.out = nullptr;
  o.cfg.progress = o.cfg.out && (o.progress || isatty(fileno(stdout)));
  if (!o.provision_prefix.empty()) {
    if (!o.fleet) return usage_error("--provision goes with --fleet N");
    if (o.admin_token.empty())
      if (const char* t = std::getenv("OTA_ADMIN_TOKEN")) o.admin_token = t;
    if (o.admin_token.empty() || o.cfg.server_url.empty())
      return usage_error("--provision needs --server URL and an admin token");
    int rc = provision_fleet(o);
    if (rc != 0) return rc;
  }
  if (o.fail_fraction >= 0 && !o.fleet)
    return usage_error("--fail-self-test-fraction goes with --fleet N (one device: --fail-self-test)");
  if (o.fleet) return run_fleet(o);

  std::string err;
  if (!ota::sim::load_bundle(o.bundle_dir, &o.cfg.bundle, &err)) {
    std::fprintf(stderr, "ota-sim: %s\n", err.c_str());
    return 1;
  }
  if (o.cfg.server_url.empty() && o.cfg.bundle.server_url.empty())
    return usage_error("no server: the bundle has no server_url and --server is not given");
  if (o.power_cut_seed >= 0) {
    std::error_code ec;
    uint64_t image = o.cfg.image_path.empty() ? 0 : fs::file_size(o.cfg.image_path, ec);
    if (ec || image == 0) image = 1 << 20;
    std::mt19937_64 rng(static_cast<uint64_t>(o.power_cut_seed));
    o.cfg.power_cut_after = static_cast<int64_t>(rng() % (2 * image + 1));
  }
  auto dev = SimDevice::open(o.cfg, &err);
  if (!dev) {
    std::fprintf(stderr, "ota-sim: %s\n", err.c_str());
    return 1;
  }
  SimSummary s = o.once ? dev->run_once() : dev->run_polling(o.poll_seconds, o.cycles, &g_stop);
  std::fflush(stdout);
  std::printf("%s\n", s.to_json().c_str());
  if (!o.summary_file.empty()) {
    FILE* f = std::fopen(o.summary_file.c_str(), "w");
    if (!f || std::fprintf(f, "%s\n", s.to_json().c_str()) < 0 || std::fclose(f) != 0) {
      std::fprintf(stderr, "ota-sim: cannot write %s\n", o.summary_file.c_str());
      return 1;
    }
  }
  bool ok = s.outcome == "updated" || s.outcome == "up_to_date" || s.outcome == "rolled_back";
  return ok ? 0 : 1;
}
