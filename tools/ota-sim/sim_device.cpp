// SimDevice: see sim_device.h.
#include "sim_device.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "crypto_mbedtls.h"
#include "ota/esp_image.h"
#include "ota/pem.h"
#include "ota/posix/files.h"
#include "ota/posix/flash.h"
#include "ota/posix/power.h"
#include "ota/posix/system.h"
#include "ota/posix/transport.h"

namespace ota::sim {

namespace fs = std::filesystem;

namespace {

bool read_file(const fs::path& p, std::string* out) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

std::string hex(const uint8_t* b, size_t n) {
  std::string s(2 * n + 1, '\0');
  hex_encode(b, n, s.data());
  s.resize(2 * n);
  return s;
}

std::string sha256_hex(const std::vector<uint8_t>& data) {
  uint8_t d[32];
  SHA256(data.data(), data.size(), d);
  return hex(d, 32);
}

// One 4 KiB record; the original path may send one record of up to 64 KiB.
constexpr uint32_t kRecordBuffer = 4157;
constexpr uint32_t kLegacyRecordBuffer = 65564;

}  // namespace

bool load_bundle(const std::string& dir, Bundle* out, std::string* error) {
  fs::path d(dir);
  std::string text;
  if (!read_file(d / "device.json", &text)) {
    *error = "cannot read " + (d / "device.json").string();
    return false;
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("device_id") || !j["device_id"].is_string()) {
    *error = (d / "device.json").string() + ": not a device description";
    return false;
  }
  out->device_id = j["device_id"].get<std::string>();
  out->server_url = j.value("server_url", "");
  out->product = j.value("product", "");
  std::string key;
  if (!read_file(d / "device.key", &key) || key.size() != 32) {
    *error = (d / "device.key").string() + ": missing or not 32 bytes";
    return false;
  }
  std::copy(key.begin(), key.end(), out->device_key.begin());
  std::string token;
  if (read_file(d / "device.token", &token)) {
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
    out->token = token;
  }
  std::string pem;
  if (!read_file(d / "server_pub.pem", &pem) ||
      pem_p256_public_key(pem.data(), pem.size(), out->server_public_key.data()) != kStatusOk) {
    *error = (d / "server_pub.pem").string() + ": missing or not a P-256 public key";
    return false;
  }
  out->ca_file = fs::exists(d / "ca.pem") ? (d / "ca.pem").string() : "";
  return true;
}

bool write_bundle(const std::string& dir, const Bundle& b, const std::string& server_pub_pem,
                  const std::string& ca_pem, std::string* error) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  auto write = [&](const char* name, const std::string& data, bool secret) {
    fs::path p = fs::path(dir) / name;
    int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, secret ? 0600 : 0644);
    if (fd < 0) return false;
    bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
    return ::close(fd) == 0 && ok;
  };
  nlohmann::json j = {{"device_id", b.device_id}, {"server_url", b.server_url}, {"product", b.product}};
  bool ok = !ec && write("device.json", j.dump(2) + "\n", false) &&
            write("device.key", std::string(b.device_key.begin(), b.device_key.end()), true) &&
            write("device.token", b.token, true) && write("server_pub.pem", server_pub_pem, false) &&
            (ca_pem.empty() || write("ca.pem", ca_pem, false));
  if (!ok) *error = "cannot write the bundle in " + dir;
  return ok;
}

std::string SimSummary::to_json() const {
  nlohmann::json j = {{"device_id", device_id},
                      {"version", version},
                      {"image_sha256", image_sha256},
                      {"outcome", outcome},
                      {"bytes_downloaded", bytes_downloaded},
                      {"stream_size", stream_size},
                      {"resumes", resumes},
                      {"checkpoint_resumes", checkpoint_resumes},
                      {"checkpoints", checkpoints},
                      {"resets", resets},
                      {"boots", boots},
                      {"waits", waits},
                      {"slot", slot},
                      {"flash_units", flash_units},
                      {"reported", reported}};
  if (!error.empty()) j["error"] = error;
  return j.dump();
}

struct SimDevice::Impl {
  SimConfig cfg;
  posix::PowerSupply power;
  std::unique_ptr<posix::PosixFlash> flash;
  std::unique_ptr<posix::PosixStateStore> state;
  std::unique_ptr<posix::PosixStaging> staging;
  std::unique_ptr<posix::PosixSystem> system;
  std::unique_ptr<posix::PosixDisplay> display;
  std::unique_ptr<posix::CurlTransport> transport;
  FlashPort flash_port{};
  StatePort state_port{};
  StagingPort staging_port{};
  SystemPort system_port{};
  DisplayPort display_port{};
  TransportPort transport_port{};
  CryptoPort crypto{};
  std::vector<uint32_t> workspace;  // 4-byte aligned
  std::vector<uint8_t> record_buffer;
  std::unique_ptr<Agent> agent;
  std::string factory_sha256;
  bool power_cut_armed = false;
  bool booted = false;
  SimSummary sum;
  std::string last_error;

  static int self_test(void* ctx) {
    Impl* d = static_cast<Impl*>(ctx);
    if (!d->cfg.fail_self_test) return 0;
    return hex(agent_running_sha256(d->agent.get()), 32) == d->factory_sha256 ? 0 : 1;
  }

  // The agent's counters live in RAM: add them up before each reboot.
  void collect() {
    if (!agent) return;
    sum.bytes_downloaded += agent->stats.bytes_downloaded;
    sum.resumes += agent->stats.resumes;
    sum.checkpoint_resumes += agent->stats.resumed_from_checkpoint;
    sum.checkpoints += agent->stats.checkpoints;
    if (agent->stats.stream_size) sum.stream_size = agent->stats.stream_size;
    agent->stats = AgentStats{};
    if (agent->last_detail[0]) last_error = agent->last_detail;
  }

  void note_reports() {
    if (agent && agent->st.report_state[0]) {
      std::string r = agent->st.report_state;
      if (sum.reported.empty() || sum.reported.back() != r) sum.reported.push_back(r);
    }
  }

  // Power-on or restart: bootloader, a new agent, its boot check. False
  // when the device cannot run (outcome set).
  bool boot() {
    for (;;) {
      collect();
      booted = false;
      if (static_cast<int>(sum.boots) >= cfg.max_boots) {
        sum.outcome = "boot_loop";
        return false;
      }
      // A restart is not a power cycle: a planned power cut stays armed.
      if (power.off()) power.power_on();
      system->clear_restart();
      if (!power_cut_armed && cfg.power_cut_after >= 0) {
        power.set_budget(static_cast<uint64_t>(cfg.power_cut_after));
        power_cut_armed = true;
      }
      ++sum.boots;
      posix::BootResult br = flash->boot();
      if (!br.ok) {
        if (power.off()) {
          ++sum.resets;
          continue;
        }
        sum.outcome = "bricked";
        sum.error = br.reason;
        return false;
      }
      if (cfg.out && br.fallback) std::fprintf(cfg.out, "%sboot %s\n", cfg.prefix.c_str(), br.reason.c_str());
      AgentConfig ac{};
      ac.device_id = cfg.bundle.device_id.c_str();
      ac.product = cfg.bundle.product.c_str();
      ac.chip_id = br.image.chip_id;  // the bootloader checked the image it started
      ac.token = cfg.bundle.token.c_str();
      std::copy(cfg.bundle.device_key.begin(), cfg.bundle.device_key.end(), ac.device_key);
      std::copy(cfg.bundle.server_public_key.begin(), cfg.bundle.server_public_key.end(),
                ac.server_public_key);
      ac.factory_version = cfg.version_label.empty() ? nullptr : cfg.version_label.c_str();
      ac.workspace = reinterpret_cast<uint8_t*>(workspace.data());
      ac.workspace_size = static_cast<uint32_t>(workspace.size() * 4);
      ac.record_buffer = record_buffer.data();
      ac.record_buffer_size = static_cast<uint32_t>(record_buffer.size());
      ac.checkpoint_interval = cfg.checkpoint_interval;
      ac.max_retries = cfg.max_retries;
      ac.retry_delay_ms = cfg.retry_delay_ms;
      ac.self_test = self_test;
      ac.self_test_ctx = this;
      ac.tags = cfg.tags.empty() ? nullptr : cfg.tags.c_str();
      AgentPorts ports{&flash_port, &transport_port, &state_port, &staging_port,
                       &system_port, &crypto, &display_port};
      Status s = agent_init(agent.get(), &ac, &ports);
      if (s != kStatusOk) {
        if (power.off()) {
          ++sum.resets;
          continue;
        }
        sum.outcome = "error";
        sum.error = std::string("agent_init: ") + status_message(s);
        return false;
      }
      AgentResult r = agent_boot(agent.get());
      note_reports();
      if (power.off()) {
        ++sum.resets;
        continue;
      }
      if (r == kAgentRestart) continue;
      booted = true;
      return true;
    }
  }

  void finish(AgentResult last) {
    collect();
    if (sum.outcome.empty()) {
      std::string sha = agent ? hex(agent_running_sha256(agent.get()), 32) : "";
      bool rolled = std::find(sum.reported.begin(), sum.reported.end(), "rolled_back") != sum.reported.end();
      if (last == kAgentFailed) sum.outcome = "failed";
      // A poll that must be tried again: the server said no (its HTTP
      // error and code are in the error), or it was not reached.
      else if (last == kAgentRetry && agent && agent->http_status >= 400 && agent->http_status < 500)
        sum.outcome = "refused";
      else if (last == kAgentRetry && agent && agent->http_status >= 500) sum.outcome = "server_error";
      else if (last == kAgentRetry) sum.outcome = "offline";
      else if (sha != initial_sha) sum.outcome = "updated";
      else if (rolled) sum.outcome = "rolled_back";
      // Held back (a rollout's download cap): told to come back later.
      else if (agent && agent->retry_after_s > 0) sum.outcome = "deferred";
      else sum.outcome = "up_to_date";
    }
    if (agent && booted) {
      sum.version = agent_running_version(agent.get());
      sum.image_sha256 = hex(agent_running_sha256(agent.get()), 32);
    }
    sum.slot = flash->running_slot();
    sum.flash_units = power.used() - units_at_start;
    if (sum.outcome == "deferred") sum.error = "the server asked to check in again in " + std::to_string(agent->retry_after_s) + " s";
    if (sum.outcome != "updated" && sum.outcome != "up_to_date" && sum.error.empty()) sum.error = last_error;
  }

  // One poll, with whatever reboots it causes. Returns the poll's result,
  // or kAgentIdle after a reboot that settled nothing yet (`again` set).
  AgentResult poll_step(bool* again) {
    *again = false;
    if (!booted && !boot()) return kAgentFailed;
    note_reports();
    AgentResult r = cfg.legacy ? agent_poll_legacy(agent.get()) : agent_poll(agent.get());
    if (power.off()) {
      ++sum.resets;
      booted = false;
      *again = true;
      return r;
    }
    if (r == kAgentRestart) {
      booted = false;
      *again = true;
    }
    return r;
  }

  std::string initial_sha;
  uint64_t units_at_start = 0;
};

std::unique_ptr<SimDevice> SimDevice::open(const SimConfig& cfg, std::string* error) {
  auto d = std::make_unique<Impl>();
  d->cfg = cfg;
  std::error_code ec;
  fs::create_directories(cfg.state_dir, ec);
  if (ec) {
    *error = "cannot create " + cfg.state_dir + ": " + ec.message();
    return nullptr;
  }
  fs::path dir(cfg.state_dir);
  fs::path flash_path = dir / "flash.bin";
  posix::FlashOptions fo;
  fo.keep_open = cfg.keep_open;
  if (!fs::exists(flash_path)) {
    std::string image;
    if (cfg.image_path.empty() || !read_file(cfg.image_path, &image)) {
      *error = cfg.image_path.empty() ? "no device in " + cfg.state_dir + ": give --image FILE"
                                      : "cannot read " + cfg.image_path;
      return nullptr;
    }
    std::vector<uint8_t> bytes(image.begin(), image.end());
    fo.slot_size = cfg.slot_size ? cfg.slot_size : posix::PosixFlash::kDefaultSlotSize;
    while (fo.slot_size < bytes.size() + (bytes.size() >> 3)) fo.slot_size += 0x100000;
    std::string err;
    d->flash = posix::PosixFlash::create(flash_path.string(), bytes, &d->power, fo, &err);
    if (!d->flash) {
      *error = "cannot create the device flash: " + err;
      return nullptr;
    }
    std::ofstream(dir / "factory.sha256") << sha256_hex(bytes) << "\n";
  } else {
    std::string err;
    d->flash = posix::PosixFlash::open(flash_path.string(), &d->power, fo, &err);
    if (!d->flash) {
      *error = "cannot open " + flash_path.string() + ": " + err;
      return nullptr;
    }
  }
  std::string factory;
  if (read_file(dir / "factory.sha256", &factory)) d->factory_sha256 = factory.substr(0, 64);
  posix::StateStoreOptions so;
  so.durable = cfg.durable;
  d->state = std::make_unique<posix::PosixStateStore>(cfg.state_dir, &d->power, so);
  d->staging = std::make_unique<posix::PosixStaging>(cfg.state_dir, &d->power);
  d->system = std::make_unique<posix::PosixSystem>();
  if (cfg.out) {
    FILE* out = cfg.out;
    std::string prefix = cfg.prefix;
    bool bar = cfg.progress;
    auto last_pct = std::make_shared<int>(-1);
    d->display = std::make_unique<posix::PosixDisplay>(
        [out, prefix, bar, last_pct](const char* state, const char* detail) {
          if (bar && *last_pct >= 0) std::fprintf(out, "\n");
          *last_pct = -1;
          std::fprintf(out, "%s%s%s%s\n", prefix.c_str(), state, *detail ? " " : "", detail);
          std::fflush(out);
        },
        [out, prefix, bar, last_pct](uint32_t done, uint32_t total) {
          if (!bar || total == 0) return;
          int pct = static_cast<int>(100.0 * done / total);
          if (pct == *last_pct) return;
          *last_pct = pct;
          int filled = pct * 30 / 100;
          std::fprintf(out, "\r%s[%.*s%.*s] %3d%%  %u/%u KiB", prefix.c_str(), filled,
                       "##############################", 30 - filled, "..............................",
                       pct, done / 1024, total / 1024);
          std::fflush(out);
        },
        [out, prefix, bar, last_pct](uint8_t level, const char* message) {
          if (level > kLogInfo) return;
          if (bar && *last_pct >= 0) std::fprintf(out, "\n");
          *last_pct = -1;
          std::fprintf(out, "%s[%s] %s\n", prefix.c_str(),
                       level == kLogError ? "error" : level == kLogWarn ? "warn" : "info", message);
          std::fflush(out);
        });
  } else {
    d->display = std::make_unique<posix::PosixDisplay>(posix::PosixDisplay::StatusFn{});
  }
  posix::TransportOptions to;
  to.base_url = cfg.server_url.empty() ? cfg.bundle.server_url : cfg.server_url;
  to.ca_file = cfg.bundle.ca_file;
  to.rate_bytes_per_s = cfg.rate_bytes_per_s;
  to.cuts = cfg.cuts;
  to.power = &d->power;
  d->transport = std::make_unique<posix::CurlTransport>(to);
  d->flash_port = d->flash->port();
  d->state_port = d->state->port();
  d->staging_port = d->staging->port();
  d->system_port = d->system->port();
  d->display_port = d->display->port();
  d->transport_port = d->transport->port();
  if (cfg.wrap_transport) d->transport_port = cfg.wrap_transport(d->transport_port);
  d->crypto = mbedtls_crypto_port();
  d->workspace.assign(cfg.workspace_size / 4, 0);
  d->record_buffer.assign(cfg.legacy ? kLegacyRecordBuffer : kRecordBuffer, 0);
  d->agent = std::make_unique<Agent>();
  d->sum.device_id = cfg.bundle.device_id;
  return std::unique_ptr<SimDevice>(new SimDevice(std::move(d)));
}

SimDevice::SimDevice(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SimDevice::~SimDevice() = default;

size_t SimDevice::agent_ram(bool legacy, uint32_t workspace_size) {
  return sizeof(Agent) + workspace_size + (legacy ? kLegacyRecordBuffer : kRecordBuffer);
}

SimSummary SimDevice::run_once() {
  Impl& d = *impl_;
  d.sum = SimSummary{};
  d.sum.device_id = d.cfg.bundle.device_id;
  d.last_error.clear();
  d.units_at_start = d.power.used();
  if (!d.booted && !d.boot()) {
    d.finish(kAgentFailed);
    return d.sum;
  }
  d.initial_sha = hex(agent_running_sha256(d.agent.get()), 32);
  AgentResult r = kAgentIdle;
  uint64_t waited_s = 0;
  for (;;) {
    bool again = false;
    r = d.poll_step(&again);
    if (!d.sum.outcome.empty()) break;  // the device could not boot
    if (again) continue;
    // A report queued by this boot (confirmed, rolled back) goes out with
    // the next poll: keep polling until nothing is left to say.
    if (r == kAgentIdle && d.agent->st.report_state[0]) continue;
    // The server is building this device's patch: come back when it says,
    // as the agent would, within the run's bound.
    const uint32_t retry = d.agent->retry_after_s;
    if (r == kAgentIdle && retry > 0 && retry <= d.cfg.follow_retry_s && waited_s + retry <= d.cfg.wait_limit_s) {
      waited_s += retry;
      ++d.sum.waits;
      std::this_thread::sleep_for(std::chrono::seconds(retry));
      continue;
    }
    break;
  }
  d.finish(r);
  return d.sum;
}

SimSummary SimDevice::run_polling(double seconds, uint64_t cycles, const std::atomic<bool>* stop) {
  Impl& d = *impl_;
  d.sum = SimSummary{};
  d.sum.device_id = d.cfg.bundle.device_id;
  d.units_at_start = d.power.used();
  if (!d.booted && !d.boot()) {
    d.finish(kAgentFailed);
    return d.sum;
  }
  d.initial_sha = hex(agent_running_sha256(d.agent.get()), 32);
  AgentResult r = kAgentIdle;
  for (uint64_t n = 0; cycles == 0 || n < cycles; ++n) {
    bool again = true;
    while (again) {
      r = d.poll_step(&again);
      if (!d.sum.outcome.empty()) {
        d.finish(r);
        return d.sum;
      }
    }
    if (stop && stop->load()) break;
    auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until && !(stop && stop->load()))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (stop && stop->load()) break;
  }
  d.finish(r);
  return d.sum;
}

}  // namespace ota::sim
