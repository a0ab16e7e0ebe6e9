// The simulator's flash: a FlashPort on one file per device, with the NOR
// semantics of an ESP32 seen through esp_partition, ESP-IDF's otadata with
// app rollback (CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE), and the bootloader's
// choice of the slot to start. Host code (C++17, exceptions never leave a
// port function); not part of the device build.
//
// The file: otadata (two 4 KiB sectors), then slot 0, then slot 1, each
// slot_size bytes. Every byte is stored complemented (XOR 0xFF), so erased
// flash is a run of zero bytes and a fresh device is a sparse file: a fleet
// of simulated devices costs the disk only the images written to it. Read a
// slot with read_slot()/read_image(), not with a hex dump of the file.
//
// Otadata: two entries, one at the start of each sector, little-endian
//   { seq u32, state u32 (esp_ota_img_states_t), crc u32 }
// crc = CRC-32 (zlib) of the 8 bytes of seq and state. An entry is valid when
// its crc matches and seq != 0xFFFFFFFF. The entry in force is the valid one
// with the highest seq; it selects slot (seq - 1) % 2. No valid entry: slot 0,
// state undefined (a factory-flashed device).
//
// Every change of otadata (set_boot, mark_valid, rollback, the bootloader's
// state updates) writes a new entry, never in place: its seq is the lowest
// above the current one that selects the intended slot (a state update of
// the same slot: seq + 2), and it goes into the sector of the other (older
// or invalid) entry: erase that sector (4,096 units), write state and crc
// (8), then seq (4). A power cut at any unit leaves the previous entry in
// force: until the last seq byte is written, the new entry's seq is either
// 0xFFFFFFFF or differs from the seq its crc covers within those 4 bytes,
// a burst of at most 32 bits that a CRC-32 always detects; the older entry
// being erased is, at any unit, either unchanged or invalid for the same
// reason.
#ifndef OTA_POSIX_FLASH_H
#define OTA_POSIX_FLASH_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ota/esp_image.h"
#include "ota/ports.h"
#include "ota/posix/power.h"
#include "ota/status.h"

namespace ota::posix {

// ESP-IDF's esp_ota_img_states_t values as stored in otadata.
constexpr uint32_t kEspOtaImgNew = 0x0;
constexpr uint32_t kEspOtaImgPendingVerify = 0x1;
constexpr uint32_t kEspOtaImgValid = 0x2;
constexpr uint32_t kEspOtaImgInvalid = 0x3;
constexpr uint32_t kEspOtaImgAborted = 0x4;
constexpr uint32_t kEspOtaImgUndefined = 0xFFFFFFFF;

uint32_t esp_state_value(ImageState s);
// Unknown values map to kImageUndefined.
ImageState image_state_from_esp(uint32_t v);
// "VALID", "PENDING_VERIFY", "NEW", "INVALID", "ABORTED", "UNDEFINED".
const char* image_state_name(ImageState s);

struct FlashOptions {
  uint32_t slot_size = 0x1E0000;  // a multiple of kFlashSectorSize (create() only)
  // Keep the file open between calls. false: open it for each call, for
  // fleets of simulated devices larger than the process's descriptor limit.
  bool keep_open = true;
};

struct OtadataEntry {
  uint32_t seq = 0xFFFFFFFF;
  uint32_t state = kEspOtaImgUndefined;  // raw esp_ota_img_states_t
  uint32_t crc = 0xFFFFFFFF;
  bool valid = false;
  int slot = -1;  // (seq - 1) % 2 when valid
};

struct OtadataDump {
  OtadataEntry entries[2];  // the entry of sector 0 and of sector 1
  int selected = -1;        // index of the entry in force; -1: none
  int selected_slot = 0;    // the slot it selects (0 when none)
  ImageState selected_state = kImageUndefined;
  // One line, e.g.
  // "sector0 seq=3 PENDING_VERIFY slot0 | sector1 seq=2 NEW slot1 | selects slot0 PENDING_VERIFY".
  std::string describe() const;
};

// What the bootloader did at a power-on or restart.
struct BootResult {
  bool ok = false;           // false: no bootable image, or the power failed while it wrote otadata
  int slot = -1;             // the slot started (-1 when !ok)
  ImageState state = kImageUndefined;  // running_state() of the started image
  int selected_slot = -1;    // the slot otadata selected (-1: read failed)
  bool fallback = false;     // started the other slot than otadata selected
  bool wrote_otadata = false;
  std::string reason;        // e.g. "rollback: image in slot 1 was never confirmed (ABORTED): slot 0"
  EspImageInfo image{};      // the started image, as the bootloader checked it (when ok)
};

class PosixFlash {
 public:
  static constexpr uint32_t kDefaultSlotSize = 0x1E0000;
  static constexpr uint32_t kOtadataSize = 2 * kFlashSectorSize;

  // Creates (replaces) `path` like flashing a device over USB: otadata
  // erased, `factory_image` at the start of slot 0, every other byte erased.
  // `power` may be null (never cut) and must outlive the flash. Null (and
  // *error if given) on failure.
  static std::unique_ptr<PosixFlash> create(const std::string& path,
                                            const std::vector<uint8_t>& factory_image,
                                            PowerSupply* power, const FlashOptions& opt = {},
                                            std::string* error = nullptr);
  // Opens a file create() made (the slot size follows from its length).
  static std::unique_ptr<PosixFlash> open(const std::string& path, PowerSupply* power,
                                          const FlashOptions& opt = {},
                                          std::string* error = nullptr);
  ~PosixFlash();
  PosixFlash(const PosixFlash&) = delete;
  PosixFlash& operator=(const PosixFlash&) = delete;

  // The port; ctx is this object. One thread at a time per device. While
  // the power supply is off every member fails (running_slot and
  // running_state return -1, as they do before the first boot) except
  // slot_size, which is a constant.
  FlashPort port();
  bool powered() const;  // no supply, or the supply is on

  // The bootloader, run by the simulator at every power-on and restart
  // (after PowerSupply::power_on). It reads otadata and
  //   - no valid entry: starts slot 0, or slot 1 if slot 0 holds no valid
  //     image (state undefined);
  //   - NEW: writes the entry again as PENDING_VERIFY and starts it;
  //   - PENDING_VERIFY (the image never confirmed itself before this reset):
  //     writes it as ABORTED and starts the other slot;
  //   - INVALID or ABORTED: starts the other slot;
  //   - VALID or UNDEFINED: starts it.
  // A slot is started only if esp_image_check (with the mbedTLS crypto port,
  // limit = slot size) accepts it; otherwise the bootloader starts the other
  // slot and leaves otadata as it is. An image started in place of the one
  // otadata selects runs as VALID (it is the previous, confirmed image, as
  // ESP-IDF's older otadata entry would say). The otadata writes cost power
  // units like any other; a cut makes the boot fail (ok == false, the
  // supply is off): power_on() and boot() again.
  BootResult boot();

  // The FlashPort's operations (the port calls these).
  int running_slot() const;           // -1 before the first successful boot()
  ImageState running_state() const;   // kImageUndefined before it
  uint32_t slot_size() const { return slot_size_; }
  // Any range inside the slot.
  int read(int slot, uint32_t offset, uint8_t* buf, uint32_t len);
  // Whole sectors only; a cut erases the first k bytes of the range.
  int erase(int slot, uint32_t offset, uint32_t len);
  // Only into bytes that read 0xFF (otherwise nothing is written and it
  // fails); a cut writes the first k bytes.
  int write(int slot, uint32_t offset, const uint8_t* buf, uint32_t len);
  // Refuses a slot that holds no valid image (esp_ota_set_boot_partition
  // verifies it too); otherwise a new entry: state NEW, the lowest seq above
  // the current one that selects `slot`.
  int set_boot(int slot);
  // PENDING_VERIFY → VALID (a new entry). Nothing to do (0) when the running
  // image is VALID or UNDEFINED. Fails if otadata no longer selects the
  // running image or its state is anything else.
  int mark_valid();
  // The running image is bad: a new entry marks it INVALID, so the next
  // boot starts the other slot (esp_ota_mark_app_invalid_rollback_and_reboot
  // without the reboot). Fails, changing nothing, when the other slot holds
  // no valid image or otadata does not select the running image (it already
  // runs as a fallback).
  int rollback();

  // Inspection and USB helpers for the simulator and the tests: they cost
  // no power and work while the supply is off. Empty / false on failure.
  std::vector<uint8_t> read_slot(int slot) const;   // the whole slot
  std::vector<uint8_t> read_image(int slot) const;  // the image (esp_image_check's size); empty if invalid
  Status check_image(int slot, EspImageInfo* info) const;
  bool program_slot(int slot, const std::vector<uint8_t>& image);  // erase the slot, write image at 0
  bool erase_otadata();
  OtadataDump otadata() const;
  const std::string& path() const { return path_; }

 private:
  PosixFlash(std::string path, uint32_t slot_size, PowerSupply* power, const FlashOptions& opt);
  class FileRef;
  friend class FileRef;

  int fd() const;  // opens when needed; -1 on failure
  void release() const;
  bool valid_range(int slot, uint64_t offset, uint64_t len) const;
  uint64_t slot_base(int slot) const;
  bool image_ok(int fd, int slot, EspImageInfo* info, Status* st) const;
  bool draw_write(int fd, uint64_t file_offset, const uint8_t* buf, uint32_t len);
  bool draw_erase(int fd, uint64_t file_offset, uint32_t len);
  bool write_entry(int fd, const OtadataDump& d, uint32_t seq, uint32_t state);
  OtadataDump read_otadata(int fd, bool* ok) const;
  void start(int slot, ImageState state, bool fallback, std::string reason, BootResult* r);
  bool fallback_boot(int fd, int other, ImageState state, const std::string& why, BootResult* r);

  std::string path_;
  uint32_t slot_size_;
  PowerSupply* power_;
  FlashOptions opt_;
  mutable int fd_ = -1;
  int running_slot_ = -1;
  ImageState running_state_ = kImageUndefined;
  mutable EspImageInfo checked_[2] = {};  // each slot's image when image_ok last passed it
};

}  // namespace ota::posix

#endif  // OTA_POSIX_FLASH_H
