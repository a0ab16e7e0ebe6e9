// Internals shared by the agent's source files (not part of the public API).
#ifndef OTA_AGENT_INTERNAL_H
#define OTA_AGENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ota/agent.h"

namespace ota {
namespace agent_detail {

// A blob being written through the StatePort: bytes are gathered in a small
// buffer, appended in pieces, and covered by a running CRC-32.
struct BlobWriter {
  const StatePort* port;
  uint8_t buf[64];
  uint32_t len;
  uint32_t crc;
  uint32_t total;
  int error;
};

void writer_begin(BlobWriter* w, const StatePort* port, uint8_t blob);
void put(BlobWriter* w, const void* data, uint32_t len);
void put_u8(BlobWriter* w, uint8_t v);
void put_u32(BlobWriter* w, uint32_t v);
// Appends the CRC of everything before it and commits. 0 on success.
int writer_commit(BlobWriter* w);

// A blob read back through the StatePort, front to back.
struct BlobReader {
  const StatePort* port;
  uint8_t blob;
  uint32_t pos;
  uint32_t size;
  uint32_t crc;
  int error;  // a read failed or went past the end
};

void reader_begin(BlobReader* r, const StatePort* port, uint8_t blob, uint32_t size);
void get(BlobReader* r, void* out, uint32_t len);
uint8_t get_u8(BlobReader* r);
uint32_t get_u32(BlobReader* r);
// True when the blob's CRC (its last 4 bytes) matches everything before
// it. Reads the whole blob through scratch.
bool blob_crc_ok(const StatePort* port, uint8_t blob, uint32_t size, uint8_t* scratch,
                 uint32_t scratch_size);

// The persistent state (kBlobState), in its fixed layout (docs/device.md).
Status state_load(Agent* a, bool* found);
Status state_save(Agent* a);

// Checkpoints of a download (kBlobCheckpoint).
Status checkpoint_save(Agent* a);
// Continues the download described by a.manifest from a stored checkpoint
// of the same stream; false (and nothing changed) if there is none usable.
bool checkpoint_restore(Agent* a, const uint8_t record_key[32]);
void checkpoint_remove(Agent* a);

// The agent's flash sinks, used by the decoders (agent.cpp).
int write_new_image(void* ctx, const uint8_t* buf, uint32_t len);
int read_old_image(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len);
Status record_chunk(void* ctx, const uint8_t* data, size_t len);

void copy_str(char* dst, size_t cap, const char* src);
bool str_eq(const char* x, const char* y);
void log_line(Agent* a, uint8_t level, const char* a1, const char* a2 = "", const char* a3 = "");

}  // namespace agent_detail
}  // namespace ota

#endif  // OTA_AGENT_INTERNAL_H
