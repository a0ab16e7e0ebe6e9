// Artifact files under DATA/storage, written atomically and never outside
// the storage root. The default product keeps the original description's
// layout (DESIGN.md §2); every other product has the same layout under
// products/{product}/:
//
//   storage/firmware/firmware_{version}.bin
//   storage/patches/patch_{old}_to_{new}.bsdiff          the plaintext patch (our OTAD format;
//                                                        the name is the original's)
//   storage/patches/{device}/patch_{old}_to_{new}.bsdiff.enc
//                                                        that patch as the device's record
//                                                        stream, kept so every download of it
//                                                        is byte-identical
//   storage/signatures/patch_{old}_to_{new}.sig          DER ECDSA over SHA-256 of the patch
//   storage/products/{product}/firmware/..., patches/..., signatures/...
//                                                        the same, for another product
//   storage/releases/{release}.rec, {release}.json       what the versioned API sends: the
//                                                        payload as encrypted records, and
//                                                        their metadata (content key sealed);
//                                                        {release} is "{old}_to_{new}" for a
//                                                        delta, "full_{new}" for a full image,
//                                                        prefixed "{product}~" for a product
//                                                        other than the default
//
// Every name is built from validated product names, versions and device ids
// only, so no request can reach a path outside the root.
#ifndef OTA_SERVER_ARTIFACTS_H
#define OTA_SERVER_ARTIFACTS_H

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ota::server {

// Versions: 1..32 characters of [A-Za-z0-9._+-], not starting with '.' or
// '-', and not containing "..". Device ids: 1..64 of [A-Za-z0-9._-] with
// the same rules for '.' and '-'; product names: 1..32 of them.
bool valid_version(std::string_view v);
bool valid_device_id(std::string_view id);
bool valid_product(std::string_view p);

// The product whose files keep the original layout (the store's kDefaultProduct).
inline constexpr std::string_view kOriginalLayoutProduct = "default";

class ArtifactStore {
 public:
  // Creates root/{firmware,patches,signatures,releases} (0750) and removes
  // temporaries a crash left behind.
  explicit ArtifactStore(std::filesystem::path root);

  const std::filesystem::path& root() const { return root_; }

  // Throw std::invalid_argument when a product, version or id is invalid.
  std::filesystem::path firmware_path(std::string_view product, std::string_view version) const;
  std::filesystem::path patch_path(std::string_view product, std::string_view old_version,
                                   std::string_view new_version) const;
  std::filesystem::path encrypted_patch_path(std::string_view product, std::string_view old_version,
                                             std::string_view new_version,
                                             std::string_view device_id) const;
  std::filesystem::path signature_path(std::string_view product, std::string_view old_version,
                                       std::string_view new_version) const;
  // A release name: "{old}_to_{new}" (old non-empty) or "full_{new}"; a
  // firmware-aware delta (docs/reloc.md) adds "~fa", a product other than
  // the default comes first with '~' ('~' is in no product name or
  // version, so the names never collide).
  static std::string release_name(std::string_view product, std::string_view old_version,
                                  std::string_view new_version, bool firmware_aware = false);
  // True for names release_name() makes from valid names.
  static bool valid_release_name(std::string_view name);
  // What a valid release name says of its payload: a full image, or a
  // delta in the plain or the firmware-aware form.
  struct ReleaseForm {
    bool full = false;
    bool firmware_aware = false;
  };
  static ReleaseForm release_form(std::string_view name);
  // `ext` is "rec" or "json"; throws std::invalid_argument for a bad name.
  std::filesystem::path release_path(std::string_view name, std::string_view ext) const;

  // Writes to a temporary beside `path`, fsyncs, renames into place and
  // fsyncs the directory: readers see the old file or the whole new one.
  // REQUIRES: path came from one of the functions above.
  void write_atomic(const std::filesystem::path& path, std::span<const uint8_t> bytes) const;
  std::optional<std::vector<uint8_t>> read(const std::filesystem::path& path) const;
  bool remove(const std::filesystem::path& path) const;

  // Number of temporaries removed by the constructor.
  size_t swept() const { return swept_; }

 private:
  // root for the default product, root/products/{product} for another.
  std::filesystem::path product_dir(std::string_view product) const;

  std::filesystem::path root_;
  size_t swept_ = 0;
};

}  // namespace ota::server

#endif  // OTA_SERVER_ARTIFACTS_H
