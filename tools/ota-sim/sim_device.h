// One simulated device: the device core's agent on the POSIX ports (flash
// and otadata in a file, state files, libcurl), booted by the simulated
// bootloader, with the faults a real device meets: cut connections, a slow
// link, power cuts at any flash byte, a failing self-test. ota-sim and the
// end-to-end tests drive devices through this class.
#ifndef OTA_SIM_DEVICE_H
#define OTA_SIM_DEVICE_H

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ota/agent.h"
#include "ota/ports.h"

namespace ota::sim {

// A provisioning bundle (docs/protocol.md §1).
struct Bundle {
  std::string device_id;
  std::string server_url;
  std::string product;
  std::string token;                     // device.token (may be empty)
  std::array<uint8_t, 32> device_key{};
  std::array<uint8_t, 65> server_public_key{};
  std::string ca_file;                   // path of ca.pem, empty when absent
};

// Reads DIR/device.json, device.key, device.token, server_pub.pem, ca.pem.
bool load_bundle(const std::string& dir, Bundle* out, std::string* error);

// Writes a bundle (secrets 0600) as the server's provisioning does; `ca_pem`
// may be empty.
bool write_bundle(const std::string& dir, const Bundle& b, const std::string& server_pub_pem,
                  const std::string& ca_pem, std::string* error);

// The default device setting: the patch decoder's LZMA workspace for plain
// patches (lc1 lp0, 16 KiB dictionary).
constexpr uint32_t kSimDefaultWorkspace = 23148;

struct SimConfig {
  Bundle bundle;
  std::string server_url;      // overrides bundle.server_url when set
  std::string state_dir;       // flash.bin, state.bin, checkpoint.bin, staging.bin
  std::string image_path;      // the factory image, written on first start
  std::string version_label;   // the server's name for the factory image
  bool legacy = false;         // update through the original endpoints
  std::vector<uint64_t> cuts;  // connection cuts after these body byte counts
  uint64_t rate_bytes_per_s = 0;
  int64_t power_cut_after = -1;  // flash units (bytes written or erased) before the power fails once
  bool fail_self_test = false;   // the self-test of every image but the factory one fails
  std::string tags;              // reported at every check-in ("hw=B,region=eu"); empty: none
  uint32_t checkpoint_interval = 64 * 1024;  // 0: no delta resume
  // The patch decoder's workspace; the default takes the plain patches (32
  // KiB mode). Larger, e.g. 48 KiB - sizeof(PatchDecoder), and the server
  // may send firmware-aware ones (the check-in reports the budget).
  uint32_t workspace_size = kSimDefaultWorkspace;
  uint32_t slot_size = 0;        // 0: the default, or larger for a larger image
  uint8_t max_retries = 5;
  // run_once checks in again after a server's retry_after of at most this
  // many seconds (a patch being built), for at most wait_limit_s in all; a
  // longer one (a rollout's download cap) ends the run as "deferred".
  uint32_t follow_retry_s = 30;
  uint32_t wait_limit_s = 300;
  uint32_t retry_delay_ms = 100;
  bool durable = true;           // fsync state commits
  bool keep_open = true;         // keep the flash file open
  int max_boots = 40;            // a run gives up (outcome "boot_loop") after this many
  // Where status lines go: null for none. `prefix` starts every line.
  FILE* out = nullptr;
  std::string prefix;
  bool progress = false;         // a progress bar on `out` (a terminal)
  // Test hook: a man in the middle between the agent and the transport.
  std::function<TransportPort(TransportPort)> wrap_transport;
};

struct SimSummary {
  std::string device_id;
  std::string version;         // the version label the device runs now
  std::string image_sha256;    // of the image it boots
  // updated, up_to_date, rolled_back, failed, refused (the server answered
  // with an HTTP 4xx: `error` has its status and code), server_error (5xx),
  // offline (no answer), deferred (the server held the update back and
  // asked for a later check-in), bricked, boot_loop, error
  std::string outcome;
  std::string error;           // the last failure's detail
  uint64_t bytes_downloaded = 0;  // update-stream bytes received, over every boot
  uint64_t resumes = 0;           // ranged requests continuing a download
  uint64_t checkpoint_resumes = 0;
  uint64_t checkpoints = 0;
  uint64_t resets = 0;            // power cuts
  uint64_t boots = 0;
  uint64_t waits = 0;             // check-ins repeated after a short retry_after
  uint64_t stream_size = 0;       // of the last update stream
  uint64_t flash_units = 0;       // flash bytes written or erased, state commits included
  int slot = -1;
  std::vector<std::string> reported;  // outcomes the agent reported (confirmed, rolled_back, failed)
  std::string to_json() const;
};

class SimDevice {
 public:
  static std::unique_ptr<SimDevice> open(const SimConfig& cfg, std::string* error);
  ~SimDevice();

  // Boots and polls until the device settles: nothing more to do, a failed
  // update, or the server unreachable. Reboots (restarts, power cuts) on
  // the way are part of the run.
  SimSummary run_once();
  // Polls every `seconds` until `stop` is set or `cycles` polls (0: no limit).
  SimSummary run_polling(double seconds, uint64_t cycles, const std::atomic<bool>* stop);

  // Bytes of RAM the agent uses on this host: the Agent struct, the patch
  // decoder's workspace and the record buffer.
  static size_t agent_ram(bool legacy, uint32_t workspace_size = kSimDefaultWorkspace);

 private:
  struct Impl;
  explicit SimDevice(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ota::sim

#endif  // OTA_SIM_DEVICE_H
