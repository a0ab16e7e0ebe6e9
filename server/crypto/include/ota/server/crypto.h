// Server-side cryptography with OpenSSL 3: signing keys, ECDSA P-256,
// AES-256-CCM records, key files, device keys sealed under the master key.
// docs/protocol.md is the contract; the device side is device/ports/mbedtls.
#ifndef OTA_SERVER_CRYPTO_H
#define OTA_SERVER_CRYPTO_H

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ota/crypto_port.h"

namespace ota::server {

using Bytes = std::vector<uint8_t>;
using Digest = std::array<uint8_t, 32>;
using PublicPoint = std::array<uint8_t, 65>;  // 04 || X || Y
using KeyId = std::array<uint8_t, 8>;

// Errors are exceptions with a message that never contains key bytes:
// std::runtime_error for OpenSSL failures, unusable key material (wrong
// type or curve, garbage PEM) and file problems; std::invalid_argument for a
// key or message of the wrong size; std::logic_error when a verify-only key
// is asked for its private part. verify_digest and the decrypt/open
// functions report a bad signature or tag by their result, not by throwing.
Bytes random_bytes(size_t n);
Digest sha256(std::span<const uint8_t> data);

// An ECDSA P-256 key pair (private part may be absent for verify-only keys).
class SigningKey {
 public:
  static SigningKey generate();
  // PEM as `openssl ecparam -name secp256r1 -genkey -noout` writes it
  // (SEC1 "EC PRIVATE KEY"); PKCS#8 "PRIVATE KEY" is accepted too.
  static SigningKey from_private_pem(const std::string& pem);
  static SigningKey from_public_pem(const std::string& pem);  // "PUBLIC KEY"
  static SigningKey from_public_point(const PublicPoint& point);

  std::string private_pem() const;  // SEC1 PEM; throws if no private part
  std::string public_pem() const;   // SubjectPublicKeyInfo PEM
  PublicPoint public_point() const;
  KeyId key_id() const;             // first 8 bytes of SHA-256(public_point)
  bool has_private() const;

  Bytes sign_digest(const Digest& digest) const;  // DER signature
  bool verify_digest(const Digest& digest, std::span<const uint8_t> der) const;

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

 private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

KeyId key_id_of(const PublicPoint& point);

// AES-256-CCM, 13-byte nonce, 16-byte tag, no associated data.
struct CcmSealed {
  std::array<uint8_t, 16> tag;
  Bytes ciphertext;
};
CcmSealed aes256_ccm_encrypt(std::span<const uint8_t, 32> key, std::span<const uint8_t, 13> nonce,
                             std::span<const uint8_t> plaintext);
// nullopt when the tag does not match.
std::optional<Bytes> aes256_ccm_decrypt(std::span<const uint8_t, 32> key,
                                        std::span<const uint8_t, 13> nonce,
                                        std::span<const uint8_t> ciphertext,
                                        std::span<const uint8_t, 16> tag);

// Key files: created with mode 0600 (refuses to overwrite unless asked);
// reading refuses a key file readable by group or others.
void write_secret_file(const std::filesystem::path& path, std::span<const uint8_t> data,
                       bool overwrite = false);
Bytes read_secret_file(const std::filesystem::path& path);

// The master key (32 bytes) at `path`: loaded, or made on first use.
Bytes load_or_create_master_key(const std::filesystem::path& path);

// Device keys at rest: AES-256-GCM under the master key, bound to the device
// id as associated data. Layout: nonce(12) | tag(16) | ciphertext(32).
Bytes seal_device_key(std::span<const uint8_t> master_key, const std::string& device_id,
                      std::span<const uint8_t> device_key);
// nullopt if the blob was altered or belongs to another device id.
std::optional<Bytes> open_device_key(std::span<const uint8_t> master_key,
                                     const std::string& device_id,
                                     std::span<const uint8_t> sealed);

// A CryptoPort backed by OpenSSL, for host tests and the server's own
// verification of what it publishes. Same contract as the mbedTLS port:
// Sha256State holds the whole SHA-256 state (OpenSSL's SHA256_CTX), nothing
// is allocated per state, so a state abandoned without sha256_finish leaks
// nothing. ctx is null; the port may be shared between threads (each
// Sha256State used by one thread at a time). Never throws.
CryptoPort openssl_crypto_port();

}  // namespace ota::server

#endif  // OTA_SERVER_CRYPTO_H
