// StatePort on ESP-IDF. Two stores, each replacing its blob atomically
// (ota/ports.h: "A power cut before commit leaves the old blob"):
//
// kBlobState (< 1 KiB) is one NVS blob, key "state". The replacement is
// built in RAM and written by nvs_set_blob() + nvs_commit() (nvs.h). NVS
// adds the new value before it marks the old one erased, and "one should be
// able to power off the device at any point ... This should not result in
// loss of data, except for the new key-value pair if it was being written
// at the moment of powering off" (ESP-IDF docs, nvs_flash.rst, "Security,
// Tampering, and Robustness" and "Log of Key-Value Pairs").
//
// kBlobCheckpoint (up to ~29 KiB with the default 23,148-byte workspace) is
// too big to buffer in RAM, so it goes to a partition of its own, written
// as it is appended: label "otastate", type 0x40 (ESP-IDF's partition-tables
// guide: "If your app needs to store data in a format not already supported
// by ESP-IDF, then please add a custom partition type value in the range
// 0x40-0xFE"), 64 KiB in the examples' tables. It is cut into two halves;
// each half is
//
//   offset 0   header, 32 bytes, little endian:
//              magic "OTSP" (4), version 1 (1), 3 bytes 0, sequence (4),
//              data length (4), CRC-32 of the data (4), CRC-32 of the
//              20 bytes before it (4), 8 bytes left erased
//   offset 32  data
//
// A replacement goes to the half that does not hold the current copy: its
// first sector (holding the header) is erased first, the data is written
// sector by sector (each erased as the writer enters it) and the header is
// written last with sequence + 1. A valid header (magic, both CRCs) with the
// highest sequence (serial arithmetic) names the current copy, so a reset
// before or during the header write leaves the old copy current. remove()
// erases the older valid header first and the current one last, so an
// older copy never comes back. With nothing stored, remove() touches no
// flash (the agent calls it on every idle poll).
#include <string.h>

#include "esp_partition.h"
#include "nvs.h"
#include "ota/crc32.h"
#include "ota/esp32/ports.h"

namespace ota {
namespace esp32 {

namespace {

constexpr char kNvsKey[] = "state";
// An application-defined partition type needs a cast in C++ (partition-tables guide).
const esp_partition_type_t kCheckpointPartitionType = (esp_partition_type_t)0x40;
constexpr uint8_t kMagic[4] = {'O', 'T', 'S', 'P'};
constexpr uint8_t kVersion = 1;
constexpr uint32_t kHeaderSize = 32;
constexpr uint32_t kHeaderUsed = 24;  // magic .. header CRC

State* ctx_of(void* ctx) { return static_cast<State*>(ctx); }

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t get32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool newer(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }

uint32_t half_base(const State* s, int half) { return (uint32_t)half * s->half_size; }

// Reads and checks one half's header and data CRC.
bool read_half(const State* s, int half, uint32_t* seq, uint32_t* len) {
  uint8_t h[kHeaderSize];
  if (esp_partition_read(s->part, half_base(s, half), h, sizeof h) != ESP_OK) return false;
  if (memcmp(h, kMagic, 4) != 0 || h[4] != kVersion) return false;
  if (crc32_update(0, h, 20) != get32(h + 20)) return false;
  uint32_t n = get32(h + 12);
  if (n > s->half_size - kHeaderSize) return false;
  uint32_t crc = 0;
  uint8_t piece[256];
  for (uint32_t at = 0; at < n;) {
    uint32_t take = n - at < sizeof piece ? n - at : (uint32_t)sizeof piece;
    if (esp_partition_read(s->part, half_base(s, half) + kHeaderSize + at, piece, take) != ESP_OK) return false;
    crc = crc32_update(crc, piece, take);
    at += take;
  }
  if (crc != get32(h + 16)) return false;
  *seq = get32(h + 8);
  *len = n;
  return true;
}

void scan_checkpoints(State* s) {
  s->cp_half = -1;
  s->cp_other_valid = 0;
  if (!s->part) return;
  uint32_t seq[2] = {0, 0};
  uint32_t len[2] = {0, 0};
  bool ok[2];
  for (int i = 0; i < 2; ++i) ok[i] = read_half(s, i, &seq[i], &len[i]);
  int cur = ok[0] && ok[1] ? (newer(seq[1], seq[0]) ? 1 : 0) : ok[0] ? 0 : ok[1] ? 1 : -1;
  if (cur < 0) return;
  s->cp_half = cur;
  s->cp_seq = seq[cur];
  s->cp_len = len[cur];
  s->cp_other_valid = ok[1 - cur] ? 1 : 0;
}

bool erase_header_sector(State* s, int half) {
  return esp_partition_erase_range(s->part, half_base(s, half), kFlashSectorSize) == ESP_OK;
}

// --- kBlobState in NVS ---------------------------------------------------------

bool load_cache(State* s) {
  if (s->cache_valid) return true;
  if (!s->nvs_open) return false;
  size_t len = sizeof s->cache;
  esp_err_t err = nvs_get_blob(s->nvs, kNvsKey, s->cache, &len);
  if (err == ESP_ERR_NVS_NOT_FOUND) {
    s->cache_len = 0;
  } else if (err == ESP_OK) {
    s->cache_len = (uint32_t)len;
  } else {
    return false;
  }
  s->cache_valid = true;
  return true;
}

int commit_state(State* s) {
  if (!s->nvs_open || s->w_failed) return -1;
  if (nvs_set_blob(s->nvs, kNvsKey, s->small, s->w_len) != ESP_OK || nvs_commit(s->nvs) != ESP_OK) {
    s->cache_valid = false;  // read back whatever NVS holds now
    return -1;
  }
  memcpy(s->cache, s->small, s->w_len);
  s->cache_len = s->w_len;
  s->cache_valid = true;
  return 0;
}

// --- kBlobCheckpoint in the partition --------------------------------------------

int commit_checkpoint(State* s) {
  if (s->w_failed) return -1;
  uint32_t seq = s->cp_half >= 0 ? s->cp_seq + 1 : 1;
  uint8_t h[kHeaderUsed];
  memset(h, 0, sizeof h);
  memcpy(h, kMagic, 4);
  h[4] = kVersion;
  put32(h + 8, seq);
  put32(h + 12, s->w_len);
  put32(h + 16, s->w_crc);
  put32(h + 20, crc32_update(0, h, 20));
  if (esp_partition_write(s->part, half_base(s, s->w_half), h, sizeof h) != ESP_OK) return -1;
  s->cp_other_valid = s->cp_half >= 0 ? 1 : 0;
  s->cp_half = s->w_half;
  s->cp_seq = seq;
  s->cp_len = s->w_len;
  return 0;
}

int append_checkpoint(State* s, const uint8_t* data, uint32_t len) {
  const uint32_t room = s->half_size - kHeaderSize;
  if (len > room || s->w_len > room - len) return -1;
  const uint32_t base = half_base(s, s->w_half);
  const uint32_t end = kHeaderSize + s->w_len + len;
  while (s->w_erased < end) {
    if (esp_partition_erase_range(s->part, base + s->w_erased, kFlashSectorSize) != ESP_OK) return -1;
    s->w_erased += kFlashSectorSize;
  }
  if (esp_partition_write(s->part, base + kHeaderSize + s->w_len, data, len) != ESP_OK) return -1;
  s->w_crc = crc32_update(s->w_crc, data, len);
  s->w_len += len;
  return 0;
}

int remove_checkpoint(State* s) {
  if (!s->part || s->cp_half < 0) return 0;
  if (s->cp_other_valid) {
    if (!erase_header_sector(s, 1 - s->cp_half)) return -1;
    s->cp_other_valid = 0;
  }
  if (!erase_header_sector(s, s->cp_half)) return -1;
  s->cp_half = -1;
  return 0;
}

// --- The port --------------------------------------------------------------------

int p_size(void* ctx, uint8_t blob, uint32_t* size) {
  State* s = ctx_of(ctx);
  if (!size) return -1;
  if (blob == kBlobState) {
    if (!load_cache(s)) return -1;
    *size = s->cache_len;
    return 0;
  }
  if (blob == kBlobCheckpoint) {
    *size = s->part && s->cp_half >= 0 ? s->cp_len : 0;
    return 0;
  }
  return -1;
}

int p_read(void* ctx, uint8_t blob, uint32_t offset, uint8_t* buf, uint32_t len) {
  State* s = ctx_of(ctx);
  if (len > 0 && !buf) return -1;
  if (blob == kBlobState) {
    if (!load_cache(s) || offset > s->cache_len || len > s->cache_len - offset) return -1;
    memcpy(buf, s->cache + offset, len);
    return 0;
  }
  if (blob == kBlobCheckpoint) {
    if (!s->part || s->cp_half < 0 || offset > s->cp_len || len > s->cp_len - offset) return -1;
    if (len == 0) return 0;
    return esp_partition_read(s->part, half_base(s, s->cp_half) + kHeaderSize + offset, buf, len) == ESP_OK
               ? 0
               : -1;
  }
  return -1;
}

int p_begin(void* ctx, uint8_t blob) {
  State* s = ctx_of(ctx);
  s->open_blob = -1;
  s->w_len = 0;
  s->w_crc = 0;
  s->w_failed = false;
  if (blob == kBlobState) {
    if (!s->nvs_open) return -1;
  } else if (blob == kBlobCheckpoint) {
    if (!s->part) return -1;
    s->w_half = s->cp_half >= 0 ? 1 - s->cp_half : 0;
    // The target half never holds the current copy; an older copy in it is
    // given up here.
    if (!erase_header_sector(s, s->w_half)) return -1;
    if (s->cp_half >= 0) s->cp_other_valid = 0;
    s->w_erased = kFlashSectorSize;
  } else {
    return -1;
  }
  s->open_blob = blob;
  return 0;
}

int p_append(void* ctx, const uint8_t* data, uint32_t len) {
  State* s = ctx_of(ctx);
  if (s->open_blob < 0 || s->w_failed || (len > 0 && !data)) return -1;
  if (len == 0) return 0;
  if (s->open_blob == kBlobState) {
    if (len > sizeof s->small || s->w_len > sizeof s->small - len) {
      s->w_failed = true;
      return -1;
    }
    memcpy(s->small + s->w_len, data, len);
    s->w_len += len;
    return 0;
  }
  if (append_checkpoint(s, data, len) != 0) {
    s->w_failed = true;
    return -1;
  }
  return 0;
}

int p_commit(void* ctx) {
  State* s = ctx_of(ctx);
  int blob = s->open_blob;
  s->open_blob = -1;
  if (blob == kBlobState) return commit_state(s);
  if (blob == kBlobCheckpoint) return commit_checkpoint(s);
  return -1;
}

int p_remove(void* ctx, uint8_t blob) {
  State* s = ctx_of(ctx);
  if (blob == kBlobState) {
    if (!s->nvs_open) return -1;
    esp_err_t err = nvs_erase_key(s->nvs, kNvsKey);
    if (err != ESP_OK && err != ESP_ERR_NVS_NOT_FOUND) return -1;
    if (err == ESP_OK && nvs_commit(s->nvs) != ESP_OK) return -1;
    s->cache_len = 0;
    s->cache_valid = true;
    return 0;
  }
  if (blob == kBlobCheckpoint) return remove_checkpoint(s);
  return -1;
}

}  // namespace

esp_err_t state_open(State* s, const char* nvs_namespace, const char* checkpoint_partition) {
  memset(s, 0, sizeof(*s));
  s->open_blob = -1;
  s->cp_half = -1;
  if (checkpoint_partition && checkpoint_partition[0]) {
    const esp_partition_t* p =
        esp_partition_find_first(kCheckpointPartitionType, ESP_PARTITION_SUBTYPE_ANY, checkpoint_partition);
    // Two halves of whole sectors, each larger than a header.
    if (p && p->size >= 4 * kFlashSectorSize && p->size % (2 * kFlashSectorSize) == 0) {
      s->part = p;
      s->half_size = p->size / 2;
      scan_checkpoints(s);
    }
  }
  esp_err_t err = nvs_open(nvs_namespace, NVS_READWRITE, &s->nvs);
  if (err != ESP_OK) return err;
  s->nvs_open = true;
  return ESP_OK;
}

bool state_has_checkpoints(const State* s) { return s->part != nullptr; }

uint32_t state_checkpoint_capacity(const State* s) { return s->part ? s->half_size - kHeaderSize : 0; }

StatePort state_port(State* s) {
  StatePort p;
  p.ctx = s;
  p.size = p_size;
  p.read = p_read;
  p.begin = p_begin;
  p.append = p_append;
  p.commit = p_commit;
  p.remove = p_remove;
  return p;
}

}  // namespace esp32
}  // namespace ota
