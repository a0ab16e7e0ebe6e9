// ota-sim: one simulated device, or a fleet of them, running the device
// core's agent against a server. A line per state change on stdout, and as
// the last line a JSON summary that scripts and CI read.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

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
    "faults:\n"
    "  --cut-after N[,N...]  cut the connection after N more body bytes (each number once)\n"
    "  --rate BYTES_PER_S    a slow link\n"
    "  --power-cut-after N   the power fails after N flash bytes written or erased\n"
    "  --power-cut-random SEED  ... after a random number of them (up to twice the image size)\n"
    "  --fail-self-test      the self-test of any image but the factory one fails\n"
    "  --no-checkpoint       no delta resume: a reset restarts the download from zero\n"
    "  --checkpoint-interval BYTES  payload bytes between checkpoints (default 65536)\n"
    "fleet:\n"
    "  --fleet N             run N devices (the first N bundles of --bundle DIR, states in --state DIR/<id>)\n"
    "  --threads T           worker threads for the fleet (default 32)\n"
    "  --quiet               no state lines, only the summary\n"
    "  --progress            a progress bar even when stdout is not a terminal\n"
    "  --summary FILE        also write the JSON summary to FILE\n";

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
  uint64_t fleet = 0;
  unsigned threads = 32;
  bool quiet = false;
  bool progress = false;
  std::string summary_file;
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
  std::mutex mu;
  std::map<std::string, uint64_t> outcomes;
  uint64_t bytes = 0, resumes = 0;
  std::vector<std::string> errors;
  std::atomic<size_t> next{0};
  auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (size_t i = next++; i < bundles.size() && !g_stop.load(); i = next++) {
      SimConfig cfg = o.cfg;
      std::string err;
      if (!ota::sim::load_bundle(bundles[i].string(), &cfg.bundle, &err)) {
        std::lock_guard<std::mutex> l(mu);
        errors.push_back(err);
        outcomes["error"]++;
        continue;
      }
      cfg.state_dir = (fs::path(o.cfg.state_dir) / cfg.bundle.device_id).string();
      cfg.keep_open = false;
      cfg.durable = false;
      cfg.out = o.quiet ? nullptr : stdout;
      cfg.prefix = cfg.bundle.device_id + ": ";
      auto dev = SimDevice::open(cfg, &err);
      SimSummary s;
      if (!dev) {
        s.outcome = "error";
        s.error = err;
      } else if (o.once) {
        s = dev->run_once();
      } else {
        s = dev->run_polling(o.poll_seconds, o.cycles ? o.cycles : 1, &g_stop);
      }
      std::lock_guard<std::mutex> l(mu);
      outcomes[s.outcome]++;
      bytes += s.bytes_downloaded;
      resumes += s.resumes;
      if (!s.error.empty() && errors.size() < 20) errors.push_back(s.device_id + ": " + s.error);
    }
  };
  std::vector<std::thread> pool;
  unsigned n = std::max(1u, std::min<unsigned>(o.threads, static_cast<unsigned>(bundles.size())));
  for (unsigned t = 0; t < n; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json j = {{"devices", bundles.size()},     {"outcomes", outcomes},
                      {"bytes_downloaded", bytes},      {"resumes", resumes},
                      {"seconds", secs},                {"threads", n},
                      {"peak_rss_kb", peak_rss_kb()},   {"errors", errors}};
  std::printf("%s\n", j.dump().c_str());
  bool bad = outcomes.count("error") || outcomes.count("bricked") || outcomes.count("boot_loop");
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
    } else if (a == "--no-checkpoint") {
      o.cfg.checkpoint_interval = 0;
    } else if (a == "--checkpoint-interval") {
      if (!parse_u64(value("--checkpoint-interval"), &n) || n == 0 || n > 0xFFFFFFFFu)
        return usage_error("--checkpoint-interval needs a positive number of bytes");
      o.cfg.checkpoint_interval = static_cast<uint32_t>(n);
    } else if (a == "--fleet") {
      if (!parse_u64(value("--fleet"), &o.fleet) || o.fleet == 0) return usage_error("--fleet needs a number");
    } else if (a == "--threads") {
      if (!parse_u64(value("--threads"), &n) || n == 0 || n > 4096) return usage_error("--threads needs 1..4096");
      o.threads = static_cast<unsigned>(n);
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
