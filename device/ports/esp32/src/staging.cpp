// StagingPort on a file of a mounted VFS filesystem, through the C library
// (newlib's stdio on ESP-IDF's VFS). On Arduino-ESP32, LittleFS.begin()
// mounts LittleFS at "/littlefs" by default (LittleFS.h: begin(bool
// formatOnFail = false, const char* basePath = "/littlefs", ...)), so the
// staging file is e.g. "/littlefs/ota_staging.bin" and the same code serves
// ESP-IDF with any filesystem registered with the VFS.
//
// Contract (ota/ports.h): appends are durable as they return, so a download
// continues from size() after a reset; each append is flushed (fflush) and
// synced (fsync) before it returns.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ota/esp32/ports.h"

namespace ota {
namespace esp32 {

namespace {

FileStaging* ctx_of(void* ctx) { return static_cast<FileStaging*>(ctx); }

int g_size(void* ctx, uint32_t* size) {
  FileStaging* s = ctx_of(ctx);
  if (!size) return -1;
  struct stat st;
  if (stat(s->path, &st) != 0) {
    if (errno != ENOENT) return -1;
    *size = 0;
    return 0;
  }
  if (st.st_size < 0 || (unsigned long long)st.st_size > 0xFFFFFFFFull) return -1;
  *size = (uint32_t)st.st_size;
  return 0;
}

int g_read(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  FileStaging* s = ctx_of(ctx);
  if (len > 0 && !buf) return -1;
  FILE* f = fopen(s->path, "rb");
  if (!f) return -1;
  bool ok = fseek(f, (long)offset, SEEK_SET) == 0 && fread(buf, 1, len, f) == len;
  fclose(f);
  return ok ? 0 : -1;
}

int g_append(void* ctx, const uint8_t* data, uint32_t len) {
  FileStaging* s = ctx_of(ctx);
  if (len > 0 && !data) return -1;
  if (len == 0) return 0;
  FILE* f = fopen(s->path, "ab");
  if (!f) return -1;
  bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  return ok ? 0 : -1;
}

int g_clear(void* ctx) {
  FileStaging* s = ctx_of(ctx);
  if (remove(s->path) == 0 || errno == ENOENT) return 0;
  return -1;
}

}  // namespace

void staging_init(FileStaging* s, const char* path) {
  memset(s, 0, sizeof(*s));
  size_t n = path ? strlen(path) : 0;
  if (n >= sizeof s->path) return;  // too long: an empty path, every call fails
  memcpy(s->path, path, n);
}

StagingPort staging_port(FileStaging* s) {
  StagingPort p;
  p.ctx = s;
  p.size = g_size;
  p.read = g_read;
  p.append = g_append;
  p.clear = g_clear;
  return p;
}

}  // namespace esp32
}  // namespace ota
