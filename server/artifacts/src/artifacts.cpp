#include "ota/server/artifacts.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <stdexcept>

namespace ota::server {

namespace fs = std::filesystem;

namespace {

constexpr const char* kTempMarker = ".tmp-";

bool name_chars(std::string_view s, bool allow_plus) {
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
          c == '_' || c == '-' || (allow_plus && c == '+')))
      return false;
  return true;
}

bool valid_name(std::string_view s, size_t max_len, bool allow_plus) {
  if (s.empty() || s.size() > max_len) return false;
  if (s.front() == '.' || s.front() == '-') return false;
  if (s.find("..") != std::string_view::npos) return false;
  return name_chars(s, allow_plus);
}

std::string checked_version(std::string_view v) {
  if (!valid_version(v)) throw std::invalid_argument("invalid version string");
  return std::string(v);
}

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(10, 'x');
  for (char& c : s) c = kChars[rng() % (sizeof(kChars) - 1)];
  return s;
}

}  // namespace

bool valid_version(std::string_view v) { return valid_name(v, 32, true); }
bool valid_device_id(std::string_view id) { return valid_name(id, 64, false); }
bool valid_product(std::string_view p) { return valid_name(p, 32, false); }

ArtifactStore::ArtifactStore(fs::path root) : root_(std::move(root)) {
  for (const char* sub : {"firmware", "patches", "signatures", "releases"}) {
    fs::create_directories(root_ / sub);
    ::chmod((root_ / sub).c_str(), 0750);
  }
  // A crash between write and rename leaves "NAME.tmp-XXXX": never visible
  // under a real name, removed here.
  for (auto& e : fs::recursive_directory_iterator(root_)) {
    if (e.is_regular_file() && e.path().filename().string().find(kTempMarker) != std::string::npos) {
      fs::remove(e.path());
      ++swept_;
    }
  }
}

fs::path ArtifactStore::product_dir(std::string_view product) const {
  if (!valid_product(product)) throw std::invalid_argument("invalid product name");
  if (product == kOriginalLayoutProduct) return root_;
  return root_ / "products" / std::string(product);
}

fs::path ArtifactStore::firmware_path(std::string_view product, std::string_view version) const {
  return product_dir(product) / "firmware" / ("firmware_" + checked_version(version) + ".bin");
}

fs::path ArtifactStore::patch_path(std::string_view product, std::string_view old_version,
                                   std::string_view new_version) const {
  return product_dir(product) / "patches" /
         ("patch_" + checked_version(old_version) + "_to_" + checked_version(new_version) + ".bsdiff");
}

fs::path ArtifactStore::encrypted_patch_path(std::string_view product, std::string_view old_version,
                                             std::string_view new_version,
                                             std::string_view device_id) const {
  if (!valid_device_id(device_id)) throw std::invalid_argument("invalid device id");
  return product_dir(product) / "patches" / std::string(device_id) /
         ("patch_" + checked_version(old_version) + "_to_" + checked_version(new_version) +
          ".bsdiff.enc");
}

fs::path ArtifactStore::signature_path(std::string_view product, std::string_view old_version,
                                       std::string_view new_version) const {
  return product_dir(product) / "signatures" /
         ("patch_" + checked_version(old_version) + "_to_" + checked_version(new_version) + ".sig");
}

namespace {
constexpr std::string_view kFirmwareAwareSuffix = "~fa";
constexpr char kProductSeparator = '~';

// A release name without its product: "{old}_to_{new}" or "full_{new}".
bool valid_release_tail(std::string_view name) {
  if (name.substr(0, 5) == "full_") return valid_version(name.substr(5));
  // Versions never contain "_to_" ... but may contain '_': try every split.
  for (size_t at = name.find("_to_"); at != std::string_view::npos; at = name.find("_to_", at + 1))
    if (valid_version(name.substr(0, at)) && valid_version(name.substr(at + 4))) return true;
  return false;
}
}  // namespace

std::string ArtifactStore::release_name(std::string_view product, std::string_view old_version,
                                        std::string_view new_version, bool firmware_aware) {
  if (!valid_product(product)) throw std::invalid_argument("invalid product name");
  std::string prefix =
      product == kOriginalLayoutProduct ? std::string() : std::string(product) + kProductSeparator;
  if (old_version.empty()) {
    if (firmware_aware) throw std::invalid_argument("a full image has no firmware-aware form");
    return prefix + "full_" + checked_version(new_version);
  }
  return prefix + checked_version(old_version) + "_to_" + checked_version(new_version) +
         std::string(firmware_aware ? kFirmwareAwareSuffix : "");
}

bool ArtifactStore::valid_release_name(std::string_view name) {
  bool fa = name.size() > kFirmwareAwareSuffix.size() &&
            name.substr(name.size() - kFirmwareAwareSuffix.size()) == kFirmwareAwareSuffix;
  if (fa) name.remove_suffix(kFirmwareAwareSuffix.size());
  if (size_t sep = name.find(kProductSeparator); sep != std::string_view::npos) {
    std::string_view product = name.substr(0, sep);
    if (!valid_product(product) || product == kOriginalLayoutProduct) return false;
    name.remove_prefix(sep + 1);
  }
  if (fa && name.substr(0, 5) == "full_") return false;  // a full image has no firmware-aware form
  return valid_release_tail(name);
}

ArtifactStore::ReleaseForm ArtifactStore::release_form(std::string_view name) {
  ReleaseForm f;
  f.firmware_aware = name.size() > kFirmwareAwareSuffix.size() &&
                     name.substr(name.size() - kFirmwareAwareSuffix.size()) == kFirmwareAwareSuffix;
  if (size_t sep = name.find(kProductSeparator); sep != std::string_view::npos) name.remove_prefix(sep + 1);
  f.full = name.substr(0, 5) == "full_";
  return f;
}

fs::path ArtifactStore::release_path(std::string_view name, std::string_view ext) const {
  if (!valid_release_name(name) || (ext != "rec" && ext != "json"))
    throw std::invalid_argument("invalid release name");
  return root_ / "releases" / (std::string(name) + "." + std::string(ext));
}

void ArtifactStore::write_atomic(const fs::path& path, std::span<const uint8_t> bytes) const {
  fs::create_directories(path.parent_path());
  fs::path tmp = path;
  tmp += kTempMarker + random_suffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp.string() + ": " + std::strerror(errno));
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + off, bytes.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path.string() + ": " + std::strerror(e));
  }
  fsync_dir(path.parent_path());
}

std::optional<std::vector<uint8_t>> ArtifactStore::read(const fs::path& path) const {
  std::ifstream f(path, std::ios::binary);
  if (!f) return std::nullopt;
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw std::runtime_error("cannot read " + path.string());
  return data;
}

bool ArtifactStore::remove(const fs::path& path) const {
  std::error_code ec;
  return fs::remove(path, ec);
}

}  // namespace ota::server
