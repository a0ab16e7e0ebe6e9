// ota-delta: make, apply and inspect patches (docs/format.md; usage in README.md).
// Exit status: 0 success, 1 the operation failed, 2 usage error. Every error
// is one line on stderr; `apply` and `diff` never leave a partial output file.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ota/delta/bsdiff40.h"
#include "ota/delta/patch_apply.h"
#include "ota/delta/patch_encoder.h"
#include "ota/delta/reloc_encoder.h"
#include "ota/delta/sha256.h"

namespace {

using ota::delta::to_hex;

constexpr const char* kUsage =
    "usage:\n"
    "  ota-delta diff OLD NEW PATCH [--codec lzma|none] [--dict BYTES] [--lc N] [--lp N] [--pb N]\n"
    "                               [--format ota|bsdiff40] [--plain | --firmware-aware]\n"
    "  ota-delta apply OLD PATCH OUT [--ram BYTES]\n"
    "  ota-delta info PATCH [--json]\n";

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw std::runtime_error("cannot read " + path);
  return data;
}

// Writes to a temporary file beside `path` and renames it into place, so a
// failure never leaves a partial file under the final name.
void write_file_atomic(const std::string& path, std::span<const uint8_t> data) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw std::runtime_error("cannot create " + tmp + ": " + std::strerror(errno));
  mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);  // mkstemp makes 0600; outputs are ordinary files
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
  }
}

uint32_t parse_size(const std::string& flag, const std::string& v) {
  size_t used = 0;
  unsigned long long n = 0;
  try {
    n = std::stoull(v, &used, 10);
  } catch (const std::exception&) {
    throw UsageError(flag + " expects a number, got '" + v + "'");
  }
  std::string suffix = v.substr(used);
  if (suffix == "K" || suffix == "KiB" || suffix == "k") n *= 1024;
  else if (suffix == "M" || suffix == "MiB") n *= 1024 * 1024;
  else if (!suffix.empty()) throw UsageError(flag + ": unknown unit '" + suffix + "'");
  if (n > UINT32_MAX) throw UsageError(flag + " is too large");
  return static_cast<uint32_t>(n);
}

// Splits argv into positionals and --flag value pairs (flags in `boolean`
// take no value).
struct Args {
  std::vector<std::string> pos;
  std::vector<std::pair<std::string, std::string>> flags;
};

Args parse_args(int argc, char** argv, int first, std::initializer_list<const char*> valued,
                std::initializer_list<const char*> boolean) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0) {
      a.pos.push_back(s);
      continue;
    }
    std::string value;
    auto eq = s.find('=');
    if (eq != std::string::npos) {
      value = s.substr(eq + 1);
      s = s.substr(0, eq);
    }
    bool known_valued = false, known_bool = false;
    for (const char* f : valued) known_valued |= (s == f);
    for (const char* f : boolean) known_bool |= (s == f);
    if (!known_valued && !known_bool) throw UsageError("unknown option " + s);
    if (known_valued && eq == std::string::npos) {
      if (i + 1 >= argc) throw UsageError(s + " needs a value");
      value = argv[++i];
    }
    a.flags.emplace_back(s, value);
  }
  return a;
}

int cmd_diff(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"--codec", "--dict", "--lc", "--lp", "--pb", "--format"},
                      {"--plain", "--firmware-aware"});
  if (a.pos.size() != 3) throw UsageError("diff needs OLD NEW PATCH");
  ota::delta::EncodeOptions opt;
  std::string format = "ota";
  bool plain = false, firmware_aware = false;
  for (auto& [k, v] : a.flags) {
    if (k == "--plain") {
      plain = true;
    } else if (k == "--firmware-aware") {
      firmware_aware = true;
    } else if (k == "--codec") {
      if (v == "lzma") opt.codec = ota::kCodecLzma;
      else if (v == "none") opt.codec = ota::kCodecNone;
      else throw UsageError("unknown codec '" + v + "' (lzma or none)");
    } else if (k == "--dict") {
      opt.dict_size = parse_size(k, v);
    } else if (k == "--lc" || k == "--lp" || k == "--pb") {
      uint32_t n = parse_size(k, v);
      if (n > 8) throw UsageError(k + " out of range");
      (k == "--lc" ? opt.lc : k == "--lp" ? opt.lp : opt.pb) = static_cast<uint8_t>(n);
    } else if (k == "--format") {
      if (v != "ota" && v != "bsdiff40") throw UsageError("unknown format '" + v + "'");
      format = v;
    }
  }
  if (plain && firmware_aware) throw UsageError("--plain and --firmware-aware exclude each other");
  if (firmware_aware && format != "ota") throw UsageError("--firmware-aware needs --format ota");
  std::vector<uint8_t> old_image = read_file(a.pos[0]);
  std::vector<uint8_t> new_image = read_file(a.pos[1]);
  std::vector<uint8_t> patch;
  if (format == "bsdiff40") {
    patch = ota::delta::make_bsdiff40(old_image, new_image, opt.match);
  } else {
    try {
      // Firmware-aware when both are ESP app images of one chip and that is
      // smaller; --plain keeps the mode a 32 KiB device applies.
      // --firmware-aware forces it even when larger (to exercise a device).
      if (firmware_aware) {
        patch = ota::delta::make_reloc_patch(old_image, new_image, opt);
        if (patch.empty())
          throw std::runtime_error("no firmware-aware patch: OLD and NEW must be ESP app images of one "
                                   "chip T knows (ESP32, ESP32-S3, ESP32-C3)");
      } else {
        patch = plain ? ota::delta::make_patch(old_image, new_image, opt)
                      : ota::delta::make_patch_auto(old_image, new_image, opt);
      }
    } catch (const std::invalid_argument& e) {
      throw UsageError(e.what());
    }
    // Every patch is proven with the device decoder before it is written.
    std::vector<uint8_t> check;
    ota::delta::ApplyResult r = ota::delta::apply_patch(old_image, patch, &check);
    if (r.status != ota::kStatusDone || check != new_image)
      throw std::runtime_error(std::string("internal error: the patch does not verify: ") +
                               ota::status_message(r.status));
  }
  write_file_atomic(a.pos[2], patch);
  return 0;
}

int cmd_apply(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"--ram"}, {});
  if (a.pos.size() != 3) throw UsageError("apply needs OLD PATCH OUT");
  uint32_t ram = 1u << 26;
  for (auto& [k, v] : a.flags)
    if (k == "--ram") ram = parse_size(k, v);
  std::vector<uint8_t> old_image = read_file(a.pos[0]);
  std::vector<uint8_t> patch = read_file(a.pos[1]);
  // The device's RAM budget covers the decoder struct and the workspace.
  uint32_t workspace = ram > sizeof(ota::PatchDecoder) ? ram - sizeof(ota::PatchDecoder) : 0;
  std::vector<uint8_t> out;
  ota::delta::ApplyResult r = ota::delta::apply_patch(old_image, patch, &out, workspace);
  if (r.status != ota::kStatusDone)
    throw std::runtime_error(std::string("apply failed: ") + ota::status_message(r.status));
  write_file_atomic(a.pos[2], out);
  return 0;
}

int cmd_info(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {}, {"--json"});
  if (a.pos.size() != 1) throw UsageError("info needs PATCH");
  bool json = !a.flags.empty();
  std::vector<uint8_t> patch = read_file(a.pos[0]);
  if (patch.size() < ota::kPatchHeaderSize)
    throw std::runtime_error("not a patch: shorter than the 108-byte header");
  ota::PatchHeader h;
  ota::Status s = ota::patch_header_parse(patch.data(), &h);
  if (s != ota::kStatusOk) throw std::runtime_error(ota::status_message(s));
  const char* codec = h.codec == ota::kCodecLzma ? "lzma" : "none";
  uint64_t total = ota::kPatchHeaderSize + uint64_t{h.side_size} + h.payload_size;
  const char* complete = patch.size() == total ? "yes" : patch.size() < total ? "truncated" : "trailing data";
  std::string old_sha = to_hex({h.old_sha256, 32}), new_sha = to_hex({h.new_sha256, 32});
  // kTransformReloc: the side data names the chip and the map's region count.
  uint32_t regions = 0, chip = 0;
  if (h.transform == ota::kTransformReloc && patch.size() >= ota::kPatchHeaderSize + h.side_size) {
    const uint8_t* side = patch.data() + ota::kPatchHeaderSize;
    chip = side[0] | (uint32_t{side[1]} << 8);
    uint64_t z = 0;
    for (uint32_t i = 2, sh = 0; i < h.side_size && sh < 35; ++i, sh += 7) {
      z |= uint64_t{side[i] & 0x7Fu} << sh;
      if (!(side[i] & 0x80)) break;
    }
    regions = uint32_t(z >> 1);
  }
  const char* transform = h.transform == ota::kTransformNone    ? "none"
                          : h.transform == ota::kTransformReloc ? "reloc"
                                                                : "?";
  uint32_t ram = ota::patch_decoder_ram(h);
  if (json) {
    std::printf(
        "{\"format_version\":%u,\"codec\":\"%s\",\"lc\":%u,\"lp\":%u,\"pb\":%u,\"dict_size\":%u,"
        "\"transform\":%u,\"transform_version\":%u,\"side_size\":%u,\"regions\":%u,\"old_size\":%u,\"new_size\":%u,\"stream_size\":%u,"
        "\"payload_size\":%u,\"patch_size\":%zu,\"old_sha256\":\"%s\",\"new_sha256\":\"%s\","
        "\"device_ram\":%u,\"complete\":\"%s\"}\n",
        h.format_version, codec, h.lzma_lc, h.lzma_lp, h.lzma_pb, h.dict_size, h.transform,
        h.transform_version, h.side_size, regions, h.old_size, h.new_size, h.stream_size, h.payload_size, patch.size(), old_sha.c_str(),
        new_sha.c_str(), ram, complete);
  } else {
    std::printf("format version  %u\n", h.format_version);
    if (h.codec == ota::kCodecLzma)
      std::printf("codec           lzma (lc=%u lp=%u pb=%u, dictionary %u bytes)\n", h.lzma_lc,
                  h.lzma_lp, h.lzma_pb, h.dict_size);
    else
      std::printf("codec           none\n");
    if (h.transform == ota::kTransformReloc)
      std::printf("transform       reloc v%u (chip %u), side data %u bytes (map of %u regions)\n",
                  h.transform_version, chip, h.side_size, regions);
    else
      std::printf("transform       %s\n", transform);
    std::printf("old image       %u bytes, sha256 %s\n", h.old_size, old_sha.c_str());
    std::printf("new image       %u bytes, sha256 %s\n", h.new_size, new_sha.c_str());
    std::printf("instructions    %u bytes, payload %u bytes, patch %zu bytes (%s)\n",
                h.stream_size, h.payload_size, patch.size(), complete);
    std::printf("device RAM      %u bytes (decoder %zu + workspace %u)\n", ram,
                sizeof(ota::PatchDecoder), ram - uint32_t(sizeof(ota::PatchDecoder)));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  try {
    if (cmd == "diff") return cmd_diff(argc, argv);
    if (cmd == "apply") return cmd_apply(argc, argv);
    if (cmd == "info") return cmd_info(argc, argv);
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    throw UsageError(cmd.empty() ? "missing command" : "unknown command '" + cmd + "'");
  } catch (const UsageError& e) {
    std::fprintf(stderr, "ota-delta: %s (see ota-delta --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ota-delta: %s%s%s\n", cmd.c_str(), cmd.empty() ? "" : ": ", e.what());
    return 1;
  }
}
