// A RAM-backed ESP-IDF for the ESP32 ports' host tests: esp_partition with
// NOR flash rules (erase sets 0xFF per 4 KiB sector, write can only clear
// bits), esp_ota_* recording their calls, NVS as an in-memory map, and a
// power cut after a given number of flash bytes. Implements the functions
// declared by tools/esp32-check/stubs that device/ports/esp32/src/{flash,
// state}.cpp call.
#ifndef OTA_TESTS_FAKE_IDF_H
#define OTA_TESTS_FAKE_IDF_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "esp_ota_ops.h"
#include "esp_partition.h"

namespace fake_idf {

struct Part {
  esp_partition_t info;
  std::vector<uint8_t> data;
};

// The partition table: ota_0, ota_1 (64 KiB each), otastate (type 0x40).
// `otastate_size` 0 leaves otastate out.
void reset(uint32_t otastate_size = 0x10000, int running_slot = 0);
Part* part(const char* label);

// Power: after `bytes` more flash bytes written or erased, every flash call
// fails and writes at most the bytes left (a torn write). -1: no cut.
void cut_after(long long bytes);
void power_on();  // clears the cut; the RAM contents stay (a reboot)
long long flash_bytes();  // bytes written or erased since reset()

struct OtaCalls {
  const esp_partition_t* boot = nullptr;
  int mark_valid = 0;
  int rollback = 0;
  esp_ota_img_states_t running_state = ESP_OTA_IMG_UNDEFINED;
  bool running_state_found = false;
};
OtaCalls& ota();

std::map<std::string, std::vector<uint8_t>>& nvs();  // committed blobs, "namespace/key"

}  // namespace fake_idf

#endif  // OTA_TESTS_FAKE_IDF_H
