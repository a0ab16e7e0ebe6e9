// The simulator's state store and staging file: a StatePort and a
// StagingPort on files in the device's directory. Host code (C++17,
// exceptions never leave a port function); not part of the device build.
#ifndef OTA_POSIX_FILES_H
#define OTA_POSIX_FILES_H

#include <cstdint>
#include <string>
#include <vector>

#include "ota/ports.h"
#include "ota/posix/power.h"

namespace ota::posix {

struct StateStoreOptions {
  // fsync the new file and the directory on commit. false only for large
  // simulated fleets where a power cut is logical (PowerSupply) anyway.
  bool durable = true;
};

// kBlobState → <dir>/state.bin, kBlobCheckpoint → <dir>/checkpoint.bin.
// begin/append collect the replacement in memory; commit writes
// <name>.tmp, fsyncs it, renames it over <name> and fsyncs the directory.
// A commit costs its blob's size in power units; when the supply runs out
// during it, the .tmp file holds what was written, the blob keeps its old
// content and the commit fails. Only one replacement is open at a time (a
// new begin abandons the previous one); a failed commit abandons it too.
// While the supply is off every call fails. One thread at a time.
class PosixStateStore {
 public:
  // `dir` is created if missing; `power` may be null and must outlive this.
  PosixStateStore(std::string dir, PowerSupply* power, StateStoreOptions opt = {});

  StatePort port();  // ctx is this object

  // The port's operations.
  int size(uint8_t blob, uint32_t* size);  // 0 and *size = 0 when missing
  int read(uint8_t blob, uint32_t offset, uint8_t* buf, uint32_t len);  // within the blob
  int begin(uint8_t blob);
  int append(const uint8_t* data, uint32_t len);
  int commit();
  int remove(uint8_t blob);  // 0 when missing too

  // "state.bin" / "checkpoint.bin"; null for an unknown blob.
  static const char* file_name(uint8_t blob);
  std::string path(uint8_t blob) const;  // empty for an unknown blob
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  PowerSupply* power_;
  StateStoreOptions opt_;
  int open_blob_ = -1;  // the replacement in progress
  std::vector<uint8_t> pending_;
};

// <dir>/staging.bin. Appends are durable when they return (a write: the
// power cut is logical) and cost their length in power units; a cut keeps
// exactly the bytes the budget paid for, so size() after the reboot says
// where the download continues. While the supply is off every call fails.
class PosixStaging {
 public:
  PosixStaging(std::string dir, PowerSupply* power);

  StagingPort port();  // ctx is this object

  int size(uint32_t* size);  // 0 when missing
  int read(uint32_t offset, uint8_t* buf, uint32_t len);
  int append(const uint8_t* data, uint32_t len);
  int clear();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  PowerSupply* power_;
};

}  // namespace ota::posix

#endif  // OTA_POSIX_FILES_H
