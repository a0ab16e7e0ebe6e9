// PosixFlash: see ota/posix/flash.h for the file layout, the otadata format
// and the bootloader's rules.
#include "ota/posix/flash.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include <openssl/evp.h>

#include "ota/crc32.h"

namespace ota::posix {

namespace {

constexpr uint32_t kEntrySize = 12;
constexpr uint32_t kSeqErased = 0xFFFFFFFF;
constexpr uint32_t kChunk = 4096;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint32_t get32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

uint32_t entry_crc(uint32_t seq, uint32_t state) {
  uint8_t b[8];
  put32(b, seq);
  put32(b + 4, state);
  return crc32_update(0, b, sizeof b);
}

int slot_of_seq(uint32_t seq) { return static_cast<int>((seq - 1) % 2); }

// The lowest sequence number above `current` (0: none) that selects `slot`;
// 0 when the counter is exhausted.
uint32_t next_seq(uint32_t current, int slot) {
  uint64_t n = uint64_t{current} + 1;
  if (static_cast<int>((n - 1) % 2) != slot) ++n;
  return n >= kSeqErased ? 0 : static_cast<uint32_t>(n);
}

// File I/O on stored (complemented) bytes.
bool pread_all(int fd, uint8_t* buf, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = ::pread(fd, buf, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
  return true;
}

bool pwrite_all(int fd, const uint8_t* buf, size_t len, uint64_t off) {
  while (len > 0) {
    ssize_t n = ::pwrite(fd, buf, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    buf += n;
    len -= static_cast<size_t>(n);
    off += static_cast<uint64_t>(n);
  }
  return true;
}

bool read_flash(int fd, uint64_t off, uint8_t* buf, size_t len) {
  if (!pread_all(fd, buf, len, off)) return false;
  for (size_t i = 0; i < len; ++i) buf[i] ^= 0xFF;
  return true;
}

bool write_flash(int fd, uint64_t off, const uint8_t* buf, size_t len) {
  uint8_t tmp[kChunk];
  while (len > 0) {
    size_t n = std::min<size_t>(len, sizeof tmp);
    for (size_t i = 0; i < n; ++i) tmp[i] = buf[i] ^ 0xFF;
    if (!pwrite_all(fd, tmp, n, off)) return false;
    buf += n;
    len -= n;
    off += n;
  }
  return true;
}

// Erased flash is stored as zeros: a hole where the file system can make one.
bool erase_flash(int fd, uint64_t off, uint64_t len) {
  if (len == 0) return true;
  if (::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
                  static_cast<off_t>(len)) == 0) {
    return true;
  }
  static const uint8_t zeros[kChunk] = {};
  while (len > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(len, sizeof zeros));
    if (!pwrite_all(fd, zeros, n, off)) return false;
    len -= n;
    off += n;
  }
  return true;
}

// The bootloader's SHA-256 (the digest appended to an image): OpenSSL's,
// which uses the host CPU's SHA instructions. The bootloader is a test
// double of the ESP32's ROM code; the agent keeps the device's crypto port.
// A fleet of WLED-sized images spent a third of its time here with the
// portable C SHA-256. The EVP context lives in the opaque state from begin
// to finish (esp_image_check always finishes what it began).
EVP_MD_CTX*& evp_of(Sha256State* s) {
  static_assert(sizeof(EVP_MD_CTX*) <= sizeof(s->opaque), "a pointer fits the opaque state");
  return *reinterpret_cast<EVP_MD_CTX**>(s->opaque);
}

int boot_sha256_begin(void*, Sha256State* s) {
  EVP_MD_CTX* c = EVP_MD_CTX_new();
  evp_of(s) = c;
  return c && EVP_DigestInit_ex(c, EVP_sha256(), nullptr) == 1 ? 0 : -1;
}

int boot_sha256_update(void*, Sha256State* s, const uint8_t* data, size_t len) {
  return evp_of(s) && EVP_DigestUpdate(evp_of(s), data, len) == 1 ? 0 : -1;
}

int boot_sha256_finish(void*, Sha256State* s, uint8_t digest[32]) {
  EVP_MD_CTX* c = evp_of(s);
  unsigned int n = 0;
  const bool ok = c && EVP_DigestFinal_ex(c, digest, &n) == 1 && n == 32;
  EVP_MD_CTX_free(c);
  evp_of(s) = nullptr;
  return ok ? 0 : -1;
}

const CryptoPort* boot_crypto() {
  static const CryptoPort crypto = [] {
    CryptoPort c{};
    c.sha256_begin = boot_sha256_begin;
    c.sha256_update = boot_sha256_update;
    c.sha256_finish = boot_sha256_finish;
    return c;
  }();
  return &crypto;
}

struct SlotReader {
  int fd;
  uint64_t base;
  uint32_t limit;
};

int slot_read(void* ctx, uint32_t offset, uint8_t* buf, uint32_t len) {
  auto* r = static_cast<SlotReader*>(ctx);
  if (uint64_t{offset} + len > r->limit) return -1;
  return read_flash(r->fd, r->base + offset, buf, len) ? 0 : -1;
}

std::string slot_name(int slot) { return "slot " + std::to_string(slot); }

}  // namespace

uint32_t esp_state_value(ImageState s) {
  switch (s) {
    case kImageValid: return kEspOtaImgValid;
    case kImagePendingVerify: return kEspOtaImgPendingVerify;
    case kImageNew: return kEspOtaImgNew;
    case kImageInvalid: return kEspOtaImgInvalid;
    case kImageAborted: return kEspOtaImgAborted;
    case kImageUndefined: break;
  }
  return kEspOtaImgUndefined;
}

ImageState image_state_from_esp(uint32_t v) {
  switch (v) {
    case kEspOtaImgNew: return kImageNew;
    case kEspOtaImgPendingVerify: return kImagePendingVerify;
    case kEspOtaImgValid: return kImageValid;
    case kEspOtaImgInvalid: return kImageInvalid;
    case kEspOtaImgAborted: return kImageAborted;
    default: return kImageUndefined;
  }
}

const char* image_state_name(ImageState s) {
  switch (s) {
    case kImageValid: return "VALID";
    case kImagePendingVerify: return "PENDING_VERIFY";
    case kImageNew: return "NEW";
    case kImageInvalid: return "INVALID";
    case kImageAborted: return "ABORTED";
    case kImageUndefined: break;
  }
  return "UNDEFINED";
}

std::string OtadataDump::describe() const {
  std::string s;
  for (int i = 0; i < 2; ++i) {
    const OtadataEntry& e = entries[i];
    s += "sector" + std::to_string(i) + " ";
    if (e.valid) {
      s += "seq=" + std::to_string(e.seq) + " " + image_state_name(image_state_from_esp(e.state)) +
           " slot" + std::to_string(e.slot);
    } else {
      s += e.seq == kSeqErased && e.state == kEspOtaImgUndefined && e.crc == 0xFFFFFFFF ? "erased"
                                                                                       : "invalid";
    }
    s += " | ";
  }
  if (selected < 0) {
    s += "no entry: slot0";
  } else {
    s += "selects slot" + std::to_string(selected_slot) + " " + image_state_name(selected_state);
  }
  return s;
}

// ---------------------------------------------------------------------------
// The file.

class PosixFlash::FileRef {
 public:
  explicit FileRef(const PosixFlash* f) : f_(f), fd_(f->fd()) {}
  ~FileRef() { f_->release(); }
  FileRef(const FileRef&) = delete;
  FileRef& operator=(const FileRef&) = delete;
  int get() const { return fd_; }

 private:
  const PosixFlash* f_;
  int fd_;
};

PosixFlash::PosixFlash(std::string path, uint32_t slot_size, PowerSupply* power,
                       const FlashOptions& opt)
    : path_(std::move(path)), slot_size_(slot_size), power_(power), opt_(opt) {}

PosixFlash::~PosixFlash() {
  if (fd_ >= 0) ::close(fd_);
}

int PosixFlash::fd() const {
  if (fd_ < 0) fd_ = ::open(path_.c_str(), O_RDWR | O_CLOEXEC);
  return fd_;
}

void PosixFlash::release() const {
  if (!opt_.keep_open && fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::unique_ptr<PosixFlash> PosixFlash::create(const std::string& path,
                                               const std::vector<uint8_t>& factory_image,
                                               PowerSupply* power, const FlashOptions& opt,
                                               std::string* error) {
  auto fail = [&](const std::string& msg) -> std::unique_ptr<PosixFlash> {
    if (error) *error = msg;
    return nullptr;
  };
  try {
    if (opt.slot_size == 0 || opt.slot_size % kFlashSectorSize != 0) {
      return fail("slot size must be a non-zero multiple of 4096");
    }
    if (factory_image.size() > opt.slot_size) return fail("the factory image does not fit a slot");
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail(path + ": " + std::strerror(errno));
    bool ok = ::ftruncate(fd, static_cast<off_t>(kOtadataSize + 2 * uint64_t{opt.slot_size})) == 0 &&
              write_flash(fd, kOtadataSize, factory_image.data(), factory_image.size());
    if (!ok) {
      std::string msg = path + ": " + std::strerror(errno);
      ::close(fd);
      return fail(msg);
    }
    std::unique_ptr<PosixFlash> f(new PosixFlash(path, opt.slot_size, power, opt));
    if (opt.keep_open) {
      f->fd_ = fd;
    } else {
      ::close(fd);
    }
    return f;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

std::unique_ptr<PosixFlash> PosixFlash::open(const std::string& path, PowerSupply* power,
                                             const FlashOptions& opt, std::string* error) {
  auto fail = [&](const std::string& msg) -> std::unique_ptr<PosixFlash> {
    if (error) *error = msg;
    return nullptr;
  };
  try {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return fail(path + ": " + std::strerror(errno));
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (size < kOtadataSize + 2 * kFlashSectorSize ||
        (size - kOtadataSize) % (2 * kFlashSectorSize) != 0 ||
        (size - kOtadataSize) / 2 > UINT32_MAX) {
      return fail(path + ": not a device flash file (size " + std::to_string(size) + ")");
    }
    std::unique_ptr<PosixFlash> f(
        new PosixFlash(path, static_cast<uint32_t>((size - kOtadataSize) / 2), power, opt));
    FileRef ref(f.get());
    if (ref.get() < 0) return fail(path + ": " + std::strerror(errno));
    return f;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

bool PosixFlash::powered() const { return !power_ || !power_->off(); }

bool PosixFlash::valid_range(int slot, uint64_t offset, uint64_t len) const {
  return (slot == 0 || slot == 1) && offset <= slot_size_ && len <= slot_size_ - offset;
}

uint64_t PosixFlash::slot_base(int slot) const {
  return kOtadataSize + static_cast<uint64_t>(slot) * slot_size_;
}

bool PosixFlash::draw_write(int fd, uint64_t file_offset, const uint8_t* buf, uint32_t len) {
  uint64_t granted = len;
  bool all = !power_ || power_->draw(len, &granted);
  if (granted > 0 && !write_flash(fd, file_offset, buf, static_cast<size_t>(granted))) return false;
  return all;
}

bool PosixFlash::draw_erase(int fd, uint64_t file_offset, uint32_t len) {
  uint64_t granted = len;
  bool all = !power_ || power_->draw(len, &granted);
  if (granted > 0 && !erase_flash(fd, file_offset, granted)) return false;
  return all;
}

// ---------------------------------------------------------------------------
// Data operations.

int PosixFlash::read(int slot, uint32_t offset, uint8_t* buf, uint32_t len) {
  if (!powered() || !valid_range(slot, offset, len) || (len > 0 && !buf)) return -1;
  if (len == 0) return 0;
  FileRef f(this);
  if (f.get() < 0) return -1;
  return read_flash(f.get(), slot_base(slot) + offset, buf, len) ? 0 : -1;
}

int PosixFlash::erase(int slot, uint32_t offset, uint32_t len) {
  if (!powered() || !valid_range(slot, offset, len)) return -1;
  if (offset % kFlashSectorSize != 0 || len % kFlashSectorSize != 0) return -1;
  if (len == 0) return 0;
  FileRef f(this);
  if (f.get() < 0) return -1;
  return draw_erase(f.get(), slot_base(slot) + offset, len) ? 0 : -1;
}

int PosixFlash::write(int slot, uint32_t offset, const uint8_t* buf, uint32_t len) {
  if (!powered() || !valid_range(slot, offset, len) || (len > 0 && !buf)) return -1;
  if (len == 0) return 0;
  FileRef f(this);
  if (f.get() < 0) return -1;
  uint64_t off = slot_base(slot) + offset;
  uint8_t tmp[kChunk];
  for (uint32_t done = 0; done < len;) {
    uint32_t n = std::min<uint32_t>(len - done, kChunk);
    if (!read_flash(f.get(), off + done, tmp, n)) return -1;
    for (uint32_t i = 0; i < n; ++i) {
      if (tmp[i] != 0xFF) return -1;
    }
    done += n;
  }
  return draw_write(f.get(), off, buf, len) ? 0 : -1;
}

// ---------------------------------------------------------------------------
// Otadata.

OtadataDump PosixFlash::read_otadata(int fd, bool* ok) const {
  OtadataDump d;
  *ok = true;
  for (int i = 0; i < 2; ++i) {
    uint8_t b[kEntrySize];
    if (!read_flash(fd, uint64_t{kFlashSectorSize} * i, b, sizeof b)) {
      *ok = false;
      return d;
    }
    OtadataEntry& e = d.entries[i];
    e.seq = get32(b);
    e.state = get32(b + 4);
    e.crc = get32(b + 8);
    e.valid = e.seq != kSeqErased && e.crc == entry_crc(e.seq, e.state);
    e.slot = e.valid ? slot_of_seq(e.seq) : -1;
    if (e.valid && (d.selected < 0 || e.seq > d.entries[d.selected].seq)) d.selected = i;
  }
  if (d.selected >= 0) {
    d.selected_slot = d.entries[d.selected].slot;
    d.selected_state = image_state_from_esp(d.entries[d.selected].state);
  }
  return d;
}

bool PosixFlash::write_entry(int fd, const OtadataDump& d, uint32_t seq, uint32_t state) {
  if (seq == 0) return false;
  int sector = d.selected < 0 ? 0 : 1 - d.selected;
  uint64_t base = uint64_t{kFlashSectorSize} * sector;
  uint8_t b[kEntrySize];
  put32(b, seq);
  put32(b + 4, state);
  put32(b + 8, entry_crc(seq, state));
  // State and crc first, seq last: see flash.h.
  return draw_erase(fd, base, kFlashSectorSize) && draw_write(fd, base + 4, b + 4, 8) &&
         draw_write(fd, base, b, 4);
}

bool PosixFlash::image_ok(int fd, int slot, EspImageInfo* info, Status* st) const {
  SlotReader r{fd, slot_base(slot), slot_size_};
  EspImageInfo local;
  Status s = esp_image_check(slot_read, &r, slot_size_, boot_crypto(), info ? info : &local);
  if (st) *st = s;
  if (s == kStatusOk) checked_[slot] = info ? *info : local;
  return s == kStatusOk;
}

int PosixFlash::set_boot(int slot) {
  if (!powered() || (slot != 0 && slot != 1)) return -1;
  FileRef f(this);
  if (f.get() < 0 || !image_ok(f.get(), slot, nullptr, nullptr)) return -1;
  bool ok;
  OtadataDump d = read_otadata(f.get(), &ok);
  if (!ok) return -1;
  uint32_t current = d.selected < 0 ? 0 : d.entries[d.selected].seq;
  return write_entry(f.get(), d, next_seq(current, slot), kEspOtaImgNew) ? 0 : -1;
}

int PosixFlash::mark_valid() {
  if (!powered() || running_slot_ < 0) return -1;
  if (running_state_ == kImageValid || running_state_ == kImageUndefined) return 0;
  if (running_state_ != kImagePendingVerify) return -1;
  FileRef f(this);
  if (f.get() < 0) return -1;
  bool ok;
  OtadataDump d = read_otadata(f.get(), &ok);
  if (!ok || d.selected < 0 || d.selected_slot != running_slot_ ||
      d.selected_state != kImagePendingVerify) {
    return -1;
  }
  if (!write_entry(f.get(), d, next_seq(d.entries[d.selected].seq, running_slot_),
                   kEspOtaImgValid)) {
    return -1;
  }
  running_state_ = kImageValid;
  return 0;
}

int PosixFlash::rollback() {
  if (!powered() || running_slot_ < 0) return -1;
  FileRef f(this);
  if (f.get() < 0 || !image_ok(f.get(), 1 - running_slot_, nullptr, nullptr)) return -1;
  bool ok;
  OtadataDump d = read_otadata(f.get(), &ok);
  if (!ok || d.selected < 0 || d.selected_slot != running_slot_) return -1;
  if (!write_entry(f.get(), d, next_seq(d.entries[d.selected].seq, running_slot_),
                   kEspOtaImgInvalid)) {
    return -1;
  }
  running_state_ = kImageInvalid;
  return 0;
}

int PosixFlash::running_slot() const { return running_slot_; }

ImageState PosixFlash::running_state() const { return running_state_; }

// ---------------------------------------------------------------------------
// The bootloader.

void PosixFlash::start(int slot, ImageState state, bool fallback, std::string reason,
                       BootResult* r) {
  running_slot_ = slot;
  running_state_ = state;
  r->ok = true;
  r->slot = slot;
  r->state = state;
  r->fallback = fallback;
  r->reason = std::move(reason);
  r->image = checked_[slot];  // every path checks the slot just before it starts it
}

bool PosixFlash::fallback_boot(int fd, int other, ImageState state, const std::string& why,
                               BootResult* r) {
  Status st;
  if (image_ok(fd, other, nullptr, &st)) {
    start(other, state, true, why + ": " + slot_name(other), r);
    return true;
  }
  r->reason = "no bootable image: " + why + "; " + slot_name(other) + " holds no valid image (" +
              status_message(st) + ")";
  return false;
}

BootResult PosixFlash::boot() {
  BootResult r;
  running_slot_ = -1;
  running_state_ = kImageUndefined;
  try {
    if (!powered()) {
      r.reason = "the power is off";
      return r;
    }
    FileRef f(this);
    int fd = f.get();
    bool ok = fd >= 0;
    OtadataDump d;
    if (ok) d = read_otadata(fd, &ok);
    if (!ok) {
      r.reason = "cannot read otadata";
      return r;
    }
    r.selected_slot = d.selected_slot;
    Status st;
    if (d.selected < 0) {
      if (image_ok(fd, 0, nullptr, &st)) {
        start(0, kImageUndefined, false, "otadata empty: slot 0", &r);
      } else {
        fallback_boot(fd, 1, kImageUndefined,
                      std::string("otadata empty and slot 0 holds no valid image (") +
                          status_message(st) + ")",
                      &r);
      }
      return r;
    }
    const OtadataEntry& e = d.entries[d.selected];
    const int slot = e.slot, other = 1 - e.slot;
    const std::string name = slot_name(e.slot);
    switch (e.state) {
      case kEspOtaImgNew:
        if (!image_ok(fd, slot, nullptr, &st)) {
          fallback_boot(fd, other, kImageValid,
                        "selected " + name + " (NEW) holds no valid image (" +
                            status_message(st) + ")",
                        &r);
          return r;
        }
        r.wrote_otadata = true;
        if (!write_entry(fd, d, next_seq(e.seq, slot), kEspOtaImgPendingVerify)) {
          r.reason = "power cut while the bootloader wrote otadata (NEW -> PENDING_VERIFY)";
          return r;
        }
        start(slot, kImagePendingVerify, false,
              "new image in " + name + ": first boot, PENDING_VERIFY", &r);
        return r;
      case kEspOtaImgPendingVerify:
        r.wrote_otadata = true;
        if (!write_entry(fd, d, next_seq(e.seq, slot), kEspOtaImgAborted)) {
          r.reason = "power cut while the bootloader wrote otadata (PENDING_VERIFY -> ABORTED)";
          return r;
        }
        fallback_boot(fd, other, kImageValid,
                      "rollback: image in " + name + " was never confirmed (ABORTED)", &r);
        return r;
      case kEspOtaImgInvalid:
        fallback_boot(fd, other, kImageValid, "rollback: image in " + name + " is INVALID", &r);
        return r;
      case kEspOtaImgAborted:
        fallback_boot(fd, other, kImageValid,
                      "rollback: image in " + name + " was never confirmed (ABORTED)", &r);
        return r;
      default:
        break;
    }
    ImageState state = image_state_from_esp(e.state);
    if (image_ok(fd, slot, nullptr, &st)) {
      start(slot, state, false, name + " (" + image_state_name(state) + ")", &r);
    } else {
      fallback_boot(fd, other, kImageValid,
                    "selected " + name + " holds no valid image (" +
                        std::string(status_message(st)) + ")",
                    &r);
    }
    return r;
  } catch (const std::exception& e) {
    running_slot_ = -1;
    running_state_ = kImageUndefined;
    r = BootResult();
    r.reason = std::string("bootloader failed: ") + e.what();
    return r;
  }
}

// ---------------------------------------------------------------------------
// Helpers (no power).

std::vector<uint8_t> PosixFlash::read_slot(int slot) const {
  std::vector<uint8_t> out;
  try {
    if (slot != 0 && slot != 1) return out;
    FileRef f(this);
    if (f.get() < 0) return out;
    out.resize(slot_size_);
    if (!read_flash(f.get(), slot_base(slot), out.data(), out.size())) out.clear();
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

Status PosixFlash::check_image(int slot, EspImageInfo* info) const {
  if (slot != 0 && slot != 1) return kStatusBadArgument;
  FileRef f(this);
  if (f.get() < 0) return kStatusReadError;
  Status st;
  image_ok(f.get(), slot, info, &st);
  return st;
}

std::vector<uint8_t> PosixFlash::read_image(int slot) const {
  std::vector<uint8_t> out;
  try {
    EspImageInfo info;
    if (check_image(slot, &info) != kStatusOk) return out;
    FileRef f(this);
    if (f.get() < 0) return out;
    out.resize(info.size);
    if (!read_flash(f.get(), slot_base(slot), out.data(), out.size())) out.clear();
  } catch (const std::exception&) {
    out.clear();
  }
  return out;
}

bool PosixFlash::program_slot(int slot, const std::vector<uint8_t>& image) {
  if ((slot != 0 && slot != 1) || image.size() > slot_size_) return false;
  FileRef f(this);
  return f.get() >= 0 && erase_flash(f.get(), slot_base(slot), slot_size_) &&
         write_flash(f.get(), slot_base(slot), image.data(), image.size());
}

bool PosixFlash::erase_otadata() {
  FileRef f(this);
  return f.get() >= 0 && erase_flash(f.get(), 0, kOtadataSize);
}

OtadataDump PosixFlash::otadata() const {
  FileRef f(this);
  bool ok = f.get() >= 0;
  OtadataDump d;
  if (ok) d = read_otadata(f.get(), &ok);
  return ok ? d : OtadataDump();
}

// ---------------------------------------------------------------------------
// The port.

namespace {

PosixFlash* self(void* ctx) { return static_cast<PosixFlash*>(ctx); }

int p_running_slot(void* ctx) {
  PosixFlash* f = self(ctx);
  return f->powered() ? f->running_slot() : -1;
}

uint32_t p_slot_size(void* ctx, int) { return self(ctx)->slot_size(); }

int p_read(void* ctx, int slot, uint32_t offset, uint8_t* buf, uint32_t len) {
  try {
    return self(ctx)->read(slot, offset, buf, len);
  } catch (...) {
    return -1;
  }
}

int p_erase(void* ctx, int slot, uint32_t offset, uint32_t len) {
  try {
    return self(ctx)->erase(slot, offset, len);
  } catch (...) {
    return -1;
  }
}

int p_write(void* ctx, int slot, uint32_t offset, const uint8_t* buf, uint32_t len) {
  try {
    return self(ctx)->write(slot, offset, buf, len);
  } catch (...) {
    return -1;
  }
}

int p_set_boot(void* ctx, int slot) {
  try {
    return self(ctx)->set_boot(slot);
  } catch (...) {
    return -1;
  }
}

int p_running_state(void* ctx) {
  PosixFlash* f = self(ctx);
  return f->powered() && f->running_slot() >= 0 ? static_cast<int>(f->running_state()) : -1;
}

int p_mark_valid(void* ctx) {
  try {
    return self(ctx)->mark_valid();
  } catch (...) {
    return -1;
  }
}

int p_rollback(void* ctx) {
  try {
    return self(ctx)->rollback();
  } catch (...) {
    return -1;
  }
}

}  // namespace

FlashPort PosixFlash::port() {
  return FlashPort{this,    p_running_slot, p_slot_size,     p_read,       p_erase,
                   p_write, p_set_boot,     p_running_state, p_mark_valid, p_rollback};
}

}  // namespace ota::posix
