// The provisioning bundle of one device (docs/protocol.md §1): the folder a
// firmware build or the simulator reads its identity and keys from.
#ifndef OTA_SERVER_PROVISIONING_H
#define OTA_SERVER_PROVISIONING_H

#include <filesystem>
#include <optional>
#include <span>
#include <string>

namespace ota::server {

struct ProvisioningBundle {
  std::string device_id;      // [A-Za-z0-9._-], 1..64
  std::string product;        // [A-Za-z0-9._-], 1..32
  std::string server_url;
  std::span<const uint8_t> device_key;  // 32 bytes
  std::string server_pub_pem;           // the signing public key
  std::optional<std::string> ca_pem;    // when TLS is on
  std::string device_token;             // the device's API token (versioned API); may be empty
};

// Writes device.json, device.key (0600), device.token (0600, when a token
// is given), server_pub.pem, ca.pem (when given) and ota_device_config.h
// (0600: it holds the secrets too) into `dir`,
// creating it (0700). Refuses to overwrite an existing device.key. Throws
// std::invalid_argument for bad ids or key size, std::runtime_error on I/O.
void write_provisioning_bundle(const std::filesystem::path& dir, const ProvisioningBundle& b);

// True for 1..max_len characters of [A-Za-z0-9._-] (device ids, products).
bool valid_identifier(const std::string& s, size_t max_len);

}  // namespace ota::server

#endif  // OTA_SERVER_PROVISIONING_H
