// PosixStateStore and PosixStaging: see ota/posix/files.h.
#include "ota/posix/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <exception>
#include <filesystem>
#include <system_error>

namespace ota::posix {

namespace {

bool write_all(int fd, const uint8_t* buf, size_t len) {
  while (len > 0) {
    ssize_t n = ::write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// The size of a file; 0 when it does not exist. -1 on other errors.
int file_size(const std::string& path, uint32_t* size) {
  if (!size) return -1;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return -1;
    *size = 0;
    return 0;
  }
  if (static_cast<uint64_t>(st.st_size) > UINT32_MAX) return -1;
  *size = static_cast<uint32_t>(st.st_size);
  return 0;
}

// Exactly len bytes at offset, inside the file.
int read_range(const std::string& path, uint32_t offset, uint8_t* buf, uint32_t len) {
  if (len > 0 && !buf) return -1;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && uint64_t{offset} + len <= static_cast<uint64_t>(st.st_size);
  uint64_t off = offset;
  while (ok && len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    buf += n;
    len -= static_cast<uint32_t>(n);
    off += static_cast<uint64_t>(n);
  }
  ::close(fd);
  return ok ? 0 : -1;
}

int remove_file(const std::string& path) {
  if (::unlink(path.c_str()) == 0 || errno == ENOENT) return 0;
  return -1;
}

bool sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

bool on(const PowerSupply* p) { return !p || !p->off(); }

}  // namespace

// ---------------------------------------------------------------------------
// State store.

PosixStateStore::PosixStateStore(std::string dir, PowerSupply* power, StateStoreOptions opt)
    : dir_(std::move(dir)), power_(power), opt_(opt) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);  // a failure shows on first use
}

const char* PosixStateStore::file_name(uint8_t blob) {
  switch (blob) {
    case kBlobState: return "state.bin";
    case kBlobCheckpoint: return "checkpoint.bin";
    default: return nullptr;
  }
}

std::string PosixStateStore::path(uint8_t blob) const {
  const char* name = file_name(blob);
  return name ? dir_ + "/" + name : std::string();
}

int PosixStateStore::size(uint8_t blob, uint32_t* size) {
  if (!on(power_) || !file_name(blob)) return -1;
  return file_size(path(blob), size);
}

int PosixStateStore::read(uint8_t blob, uint32_t offset, uint8_t* buf, uint32_t len) {
  if (!on(power_) || !file_name(blob)) return -1;
  return read_range(path(blob), offset, buf, len);
}

int PosixStateStore::begin(uint8_t blob) {
  open_blob_ = -1;
  pending_.clear();
  if (!on(power_) || !file_name(blob)) return -1;
  open_blob_ = blob;
  return 0;
}

int PosixStateStore::append(const uint8_t* data, uint32_t len) {
  if (!on(power_) || open_blob_ < 0 || (len > 0 && !data)) return -1;
  pending_.insert(pending_.end(), data, data + len);
  return 0;
}

int PosixStateStore::commit() {
  const int blob = open_blob_;
  std::vector<uint8_t> data;
  data.swap(pending_);
  open_blob_ = -1;
  if (!on(power_) || blob < 0) return -1;
  const std::string target = path(static_cast<uint8_t>(blob));
  const std::string tmp = target + ".tmp";
  uint64_t granted = data.size();
  const bool all = !power_ || power_->draw(data.size(), &granted);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  bool ok = write_all(fd, data.data(), static_cast<size_t>(granted));
  if (!all || !ok) {
    ::close(fd);
    return -1;
  }
  if (opt_.durable && ::fsync(fd) != 0) ok = false;
  if (::close(fd) != 0) ok = false;
  if (!ok || ::rename(tmp.c_str(), target.c_str()) != 0) return -1;
  if (opt_.durable && !sync_dir(dir_)) return -1;
  return 0;
}

int PosixStateStore::remove(uint8_t blob) {
  if (!on(power_) || !file_name(blob)) return -1;
  return remove_file(path(blob));
}

namespace {

PosixStateStore* store(void* ctx) { return static_cast<PosixStateStore*>(ctx); }

int s_size(void* ctx, uint8_t blob, uint32_t* size) {
  try {
    return store(ctx)->size(blob, size);
  } catch (...) {
    return -1;
  }
}

int s_read(void* ctx, uint8_t blob, uint32_t offset, uint8_t* buf, uint32_t len) {
  try {
    return store(ctx)->read(blob, offset, buf, len);
  } catch (...) {
    return -1;
  }
}

int s_begin(void* ctx, uint8_t blob) {
  try {
    return store(ctx)->begin(blob);
  } catch (...) {
    return -1;
  }
}

int s_append(void* ctx, const uint8_t* data, uint32_t len) {
  try {
    return store(ctx)->append(data, len);
  } catch (...) {
    return -1;
  }
}

int s_commit(void* ctx) {
  try {
    return store(ctx)->commit();
  } catch (...) {
    return -1;
  }
}

int s_remove(void* ctx, uint8_t blob) {
  try {
    return store(ctx)->remove(blob);
  } catch (...) {
    return -1;
  }
}

}  // namespace

StatePort PosixStateStore::port() {
  return StatePort{this, s_size, s_read, s_begin, s_append, s_commit, s_remove};
}

// ---------------------------------------------------------------------------
// Staging.

PosixStaging::PosixStaging(std::string dir, PowerSupply* power) : power_(power) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  path_ = dir + "/staging.bin";
}

int PosixStaging::size(uint32_t* size) {
  if (!on(power_)) return -1;
  return file_size(path_, size);
}

int PosixStaging::read(uint32_t offset, uint8_t* buf, uint32_t len) {
  if (!on(power_)) return -1;
  return read_range(path_, offset, buf, len);
}

int PosixStaging::append(const uint8_t* data, uint32_t len) {
  if (!on(power_) || (len > 0 && !data)) return -1;
  uint32_t current;
  if (file_size(path_, &current) != 0 || uint64_t{current} + len > UINT32_MAX) return -1;
  if (len == 0) return 0;
  uint64_t granted = len;
  const bool all = !power_ || power_->draw(len, &granted);
  if (granted == 0) return -1;
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  bool ok = write_all(fd, data, static_cast<size_t>(granted));
  if (::close(fd) != 0) ok = false;
  return ok && all ? 0 : -1;
}

int PosixStaging::clear() {
  if (!on(power_)) return -1;
  return remove_file(path_);
}

namespace {

PosixStaging* staging(void* ctx) { return static_cast<PosixStaging*>(ctx); }

int g_size(void* ctx, uint32_t* size) {
  try {
    return staging(ctx)->size(size);
  } catch (...) {
    return -1;
  }
}

int g_read(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  try {
    return staging(ctx)->read(offset, buf, len);
  } catch (...) {
    return -1;
  }
}

int g_append(void* ctx, const uint8_t* data, uint32_t len) {
  try {
    return staging(ctx)->append(data, len);
  } catch (...) {
    return -1;
  }
}

int g_clear(void* ctx) {
  try {
    return staging(ctx)->clear();
  } catch (...) {
    return -1;
  }
}

}  // namespace

StagingPort PosixStaging::port() { return StagingPort{this, g_size, g_read, g_append, g_clear}; }

}  // namespace ota::posix
