// The server's own keys under DATA/keys (docs/protocol.md §1): the ECDSA
// signing key and the master key that seals device keys. Made on first
// start, loaded afterwards; never logged.
#ifndef OTA_SERVER_SERVER_KEYS_H
#define OTA_SERVER_SERVER_KEYS_H

#include <filesystem>

#include "ota/server/crypto.h"

namespace ota::server {

struct ServerKeys {
  SigningKey signing;
  Bytes master;        // 32 bytes
  bool created;        // true when this call made them
};

// keys_dir/signing_key.pem (0600), keys_dir/signing_pub.pem (0644),
// keys_dir/master.key (0600); keys_dir itself 0700. Throws
// std::runtime_error naming the file when one is unreadable, has loose
// permissions, or does not hold a P-256 key.
ServerKeys load_or_create_server_keys(const std::filesystem::path& keys_dir);

}  // namespace ota::server

#endif  // OTA_SERVER_SERVER_KEYS_H
