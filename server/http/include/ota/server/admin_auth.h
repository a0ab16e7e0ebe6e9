// Admin authentication: a bearer token, of which the server keeps only the
// SHA-256 (DATA/admin_token.sha256, 0600). The token comes from
// OTA_ADMIN_TOKEN when set; otherwise it is generated on first start and
// printed once.
#ifndef OTA_SERVER_ADMIN_AUTH_H
#define OTA_SERVER_ADMIN_AUTH_H

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "ota/server/crypto.h"

namespace ota::server {

class AdminAuth {
 public:
  explicit AdminAuth(const Digest& token_hash) : hash_(token_hash) {}
  // True when `authorization` is "Bearer <token>" for the admin token;
  // the comparison of digests is constant time.
  bool check(std::string_view authorization) const;

 private:
  Digest hash_;
};

struct AdminTokenSetup {
  Digest hash;
  std::optional<std::string> new_token;  // set only when generated now: print it once
};

// Reads or creates DATA/admin_token.sha256. With `env_token` (non-empty)
// its hash replaces the stored one. Throws std::runtime_error on I/O
// errors or a malformed hash file.
AdminTokenSetup setup_admin_token(const std::filesystem::path& data_dir,
                                  const std::optional<std::string>& env_token);

}  // namespace ota::server

#endif  // OTA_SERVER_ADMIN_AUTH_H
