// Key files (docs/protocol.md §1): mode 0600, created exclusively, flushed
// to disk; read only when group and others have no access. The master key.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "ota/server/crypto.h"

namespace ota::server {

namespace fs = std::filesystem;

namespace {

constexpr off_t kMaxSecretFile = 1 << 20;

[[noreturn]] void throw_sys(const std::string& what, const fs::path& path, int err) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(err));
}

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// 0 or an errno value.
int write_all(int fd, std::span<const uint8_t> data) {
  const uint8_t* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  return 0;
}

// Makes a new directory entry durable. 0 or an errno value; file systems
// that cannot fsync a directory (EINVAL) count as success.
int fsync_dir(const fs::path& file) {
  fs::path dir = file.parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  if (::fsync(fd) != 0 && errno != EINVAL) err = errno;
  ::close(fd);
  return err;
}

// Writes `data` to an open, new file, sets mode 0600 whatever the umask,
// flushes and closes it. 0 or an errno value; fd is closed either way.
int fill_and_close(int fd, std::span<const uint8_t> data) {
  int err = 0;
  if (::fchmod(fd, 0600) != 0) err = errno;
  if (err == 0) err = write_all(fd, data);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  return err;
}

// Creates `path`, which must not exist (O_EXCL: not even as a symlink).
// 0 or an errno value (EEXIST when it exists); no partial file is left.
int create_exclusive(const fs::path& path, std::span<const uint8_t> data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return errno;
  int err = fill_and_close(fd, data);
  if (err != 0) {
    ::unlink(path.c_str());
    return err;
  }
  return fsync_dir(path);
}

// Replaces `path` atomically: a new 0600 file beside it, then rename(2). A
// crash leaves either the old key or the new one, never a torn file; a
// symlink at `path` is replaced, not followed.
int replace_atomically(const fs::path& path, std::span<const uint8_t> data) {
  fs::path tmp_path = path.parent_path() / ("." + path.filename().string() + ".tmp-XXXXXX");
  std::string tmp = tmp_path.string();
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // mode 0600, O_EXCL
  if (fd < 0) return errno;
  int err = fill_and_close(fd, data);
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return err;
  }
  return fsync_dir(path);
}

}  // namespace

void write_secret_file(const fs::path& path, std::span<const uint8_t> data, bool overwrite) {
  if (overwrite) {
    if (int err = replace_atomically(path, data); err != 0) {
      throw_sys("cannot write key file", path, err);
    }
    return;
  }
  int err = create_exclusive(path, data);
  if (err == EEXIST) {
    throw std::runtime_error("key file " + path.string() +
                             " already exists; refusing to overwrite it");
  }
  if (err != 0) throw_sys("cannot create key file", path, err);
}

Bytes read_secret_file(const fs::path& path) {
  // O_NONBLOCK: a FIFO in the key's place must not hang us before the
  // regular-file check (it changes nothing for regular files).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw_sys("cannot open key file", path, errno);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  // Checked on the open file, so a swap between check and read is harmless.
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_sys("cannot stat key file", path, errno);
  if (!S_ISREG(st.st_mode)) {
    throw std::runtime_error("key file " + path.string() + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    throw std::runtime_error("key file " + path.string() + " has mode " +
                             octal_mode(st.st_mode) +
                             ", which gives group or others access; key files must be 0600 "
                             "(chmod 600 " + path.string() + ")");
  }
  if (st.st_size > kMaxSecretFile) {
    throw std::runtime_error("key file " + path.string() + " is too large (" +
                             std::to_string(st.st_size) + " bytes)");
  }
  Bytes data(static_cast<size_t>(st.st_size));
  size_t got = 0;
  int err = 0;
  bool grew = false;
  while (err == 0 && !grew) {
    // One byte more than expected: a file that changed size since fstat
    // is an error, not a silently truncated key.
    uint8_t extra = 0;
    uint8_t* dst = got < data.size() ? data.data() + got : &extra;
    size_t want = got < data.size() ? data.size() - got : 1;
    ssize_t n = ::read(fd, dst, want);
    if (n < 0) {
      if (errno != EINTR) err = errno;
      continue;
    }
    if (n == 0) break;
    if (dst == &extra) grew = true;
    else got += static_cast<size_t>(n);
    OPENSSL_cleanse(&extra, 1);
  }
  if (err != 0 || grew || got != data.size()) {
    OPENSSL_cleanse(data.data(), data.size());
    if (err == 0) {
      throw std::runtime_error("key file " + path.string() + " changed while it was read");
    }
    throw_sys("cannot read key file", path, err);
  }
  return data;
}

Bytes load_or_create_master_key(const fs::path& path) {
  // Two rounds: another process may create the key between our look and
  // our exclusive create; then we load the one it made.
  for (int round = 0; round < 2; ++round) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      Bytes key = read_secret_file(path);
      if (key.size() != 32) {
        size_t n = key.size();
        OPENSSL_cleanse(key.data(), key.size());
        throw std::runtime_error("master key file " + path.string() + " holds " +
                                 std::to_string(n) + " bytes, expected 32");
      }
      return key;
    }
    if (errno != ENOENT) throw_sys("cannot stat master key file", path, errno);
    Bytes key = random_bytes(32);
    int err = create_exclusive(path, key);
    if (err == 0) return key;
    OPENSSL_cleanse(key.data(), key.size());
    if (err != EEXIST) throw_sys("cannot create master key file", path, err);
  }
  throw std::runtime_error("master key file " + path.string() +
                           " exists but cannot be read (a dangling symlink?)");
}

}  // namespace ota::server
