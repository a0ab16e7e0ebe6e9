// FlashPort on ESP-IDF: the two OTA app slots through esp_partition, the
// boot selection through esp_ota_ops (ESP-IDF 5.x headers:
// components/esp_partition/include/esp_partition.h,
// components/app_update/include/esp_ota_ops.h,
// components/bootloader_support/include/esp_flash_partitions.h).
//
// Why esp_partition_erase_range/esp_partition_write and not
// esp_ota_begin/esp_ota_write/esp_ota_end: the core needs the FlashPort
// contract of ota/ports.h - erase any 4 KiB sector of the inactive slot and
// write at any offset - because a download resumed from a checkpoint after
// a reset erases the sector at the write position and writes its head back
// (docs/device.md, "Checkpoints"). An esp_ota_handle_t does not survive a
// reset, esp_ota_begin() erases the slot from its start (esp_ota_ops.h:
// "The specified partition is erased to the specified image size"), and
// esp_ota_write() only appends. The core hashes the written slot itself
// before it switches, and esp_ota_set_boot_partition() verifies the image
// again (esp_ota_ops.h: ESP_ERR_OTA_VALIDATE_FAILED "Partition contained
// invalid app image"), which is the check esp_ota_end() would have made.
//
// Flash encryption is not supported: esp_partition_write() on an encrypted
// partition needs 16-byte aligned offsets and lengths (esp_partition.h),
// which the patch decoder's writes are not; flash_open() refuses it.
#include <string.h>

#include "esp_ota_ops.h"
#include "esp_partition.h"
#include "ota/esp32/ports.h"

namespace ota {
namespace esp32 {

namespace {

Flash* ctx_of(void* ctx) { return static_cast<Flash*>(ctx); }

bool in_slot(const Flash* f, int slot, uint32_t offset, uint32_t len) {
  if (slot != 0 && slot != 1) return false;
  uint32_t size = f->slots[slot]->size;
  return offset <= size && len <= size - offset;
}

int f_running_slot(void* ctx) { return ctx_of(ctx)->running; }

uint32_t f_slot_size(void* ctx, int slot) {
  Flash* f = ctx_of(ctx);
  if (slot != 0 && slot != 1) return 0;
  // The agent erases whole sectors: round down to them.
  return f->slots[slot]->size / kFlashSectorSize * kFlashSectorSize;
}

// The running slot is read through its memory map (a memcpy from flash
// cache). The other slot is read with esp_partition_read(), which reads the
// chip directly, so the bytes just written are seen (a cache mapping of a
// region being written could return stale data).
int f_read(void* ctx, int slot, uint32_t offset, uint8_t* buf, uint32_t len) {
  Flash* f = ctx_of(ctx);
  if (!in_slot(f, slot, offset, len) || (len > 0 && !buf)) return -1;
  if (len == 0) return 0;
  if (slot == f->running && f->running_map) {
    memcpy(buf, f->running_map + offset, len);
    return 0;
  }
  return esp_partition_read(f->slots[slot], offset, buf, len) == ESP_OK ? 0 : -1;
}

// Never touches the running slot.
int f_erase(void* ctx, int slot, uint32_t offset, uint32_t len) {
  Flash* f = ctx_of(ctx);
  if (slot == f->running || !in_slot(f, slot, offset, len)) return -1;
  if (offset % kFlashSectorSize != 0 || len % kFlashSectorSize != 0) return -1;
  if (len == 0) return 0;
  // esp_partition.h: offset and size must be multiples of erase_size (4 KiB
  // on the SPI flash app partitions live on).
  return esp_partition_erase_range(f->slots[slot], offset, len) == ESP_OK ? 0 : -1;
}

int f_write(void* ctx, int slot, uint32_t offset, const uint8_t* buf, uint32_t len) {
  Flash* f = ctx_of(ctx);
  if (slot == f->running || !in_slot(f, slot, offset, len) || (len > 0 && !buf)) return -1;
  if (len == 0) return 0;
  return esp_partition_write(f->slots[slot], offset, buf, len) == ESP_OK ? 0 : -1;
}

// With CONFIG_BOOTLOADER_APP_ROLLBACK_ENABLE the new otadata entry is
// ESP_OTA_IMG_NEW; the bootloader turns it into PENDING_VERIFY on the first
// boot and rolls back on the next one unless the app confirms itself.
// ESP-IDF writes the selection to one of the two otadata sectors, so a torn
// write leaves the previous selection in force.
int f_set_boot(void* ctx, int slot) {
  Flash* f = ctx_of(ctx);
  if (slot != 0 && slot != 1) return -1;
  return esp_ota_set_boot_partition(f->slots[slot]) == ESP_OK ? 0 : -1;
}

int f_running_state(void* ctx) {
  Flash* f = ctx_of(ctx);
  esp_ota_img_states_t st;
  // ESP_ERR_NOT_FOUND when otadata has no entry for the running slot (an
  // image flashed over USB): nothing to confirm.
  if (esp_ota_get_state_partition(f->slots[f->running], &st) != ESP_OK) return kImageUndefined;
  switch (st) {
    case ESP_OTA_IMG_NEW: return kImageNew;
    case ESP_OTA_IMG_PENDING_VERIFY: return kImagePendingVerify;
    case ESP_OTA_IMG_VALID: return kImageValid;
    case ESP_OTA_IMG_INVALID: return kImageInvalid;
    case ESP_OTA_IMG_ABORTED: return kImageAborted;
    default: return kImageUndefined;
  }
}

int f_mark_valid(void*) { return esp_ota_mark_app_valid_cancel_rollback() == ESP_OK ? 0 : -1; }

// Restarts on success and so does not return (esp_ota_ops.h); it returns
// ESP_ERR_OTA_ROLLBACK_FAILED when no other bootable app exists, and the
// agent then restarts through the SystemPort.
int f_rollback(void*) { return esp_ota_mark_app_invalid_rollback_and_reboot() == ESP_OK ? 0 : -1; }

}  // namespace

esp_err_t flash_open(Flash* f) {
  memset(f, 0, sizeof(*f));
  f->running = -1;
  f->slots[0] = esp_partition_find_first(ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_0, nullptr);
  f->slots[1] = esp_partition_find_first(ESP_PARTITION_TYPE_APP, ESP_PARTITION_SUBTYPE_APP_OTA_1, nullptr);
  if (!f->slots[0] || !f->slots[1]) return ESP_ERR_NOT_FOUND;
  if (f->slots[0]->encrypted || f->slots[1]->encrypted) return ESP_ERR_NOT_SUPPORTED;
  const esp_partition_t* run = esp_ota_get_running_partition();
  if (!run) return ESP_ERR_NOT_FOUND;
  for (int i = 0; i < 2; ++i)
    if (run->address == f->slots[i]->address) f->running = i;
  if (f->running < 0) return ESP_ERR_NOT_FOUND;
  // esp_partition_mmap() maps into the data address space (4 MB on ESP32,
  // shared with the app's own rodata); a slot that does not fit is read
  // with esp_partition_read() instead.
  const void* map = nullptr;
  if (esp_partition_mmap(f->slots[f->running], 0, f->slots[f->running]->size, ESP_PARTITION_MMAP_DATA,
                         &map, &f->map_handle) == ESP_OK)
    f->running_map = static_cast<const uint8_t*>(map);
  return ESP_OK;
}

FlashPort flash_port(Flash* f) {
  FlashPort p;
  p.ctx = f;
  p.running_slot = f_running_slot;
  p.slot_size = f_slot_size;
  p.read = f_read;
  p.erase = f_erase;
  p.write = f_write;
  p.set_boot = f_set_boot;
  p.running_state = f_running_state;
  p.mark_valid = f_mark_valid;
  p.rollback = f_rollback;
  return p;
}

}  // namespace esp32
}  // namespace ota
