#include "ota/server/admin_auth.h"

#include <stdexcept>

#include "ota/delta/sha256.h"

namespace ota::server {

namespace {

using delta::to_hex;

constexpr std::string_view kBearer = "Bearer ";

Digest hash_token(std::string_view token) {
  return sha256(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(token.data()), token.size()));
}

std::optional<Digest> from_hex(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  Digest d{};
  for (size_t i = 0; i < 32; ++i) {
    auto nib = [](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f') return c - 'a' + 10;
      return -1;
    };
    int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return d;
}

}  // namespace

bool AdminAuth::check(std::string_view authorization) const {
  if (authorization.substr(0, kBearer.size()) != kBearer) return false;
  std::string_view token = authorization.substr(kBearer.size());
  if (token.empty()) return false;
  Digest d = hash_token(token);
  uint8_t diff = 0;
  for (size_t i = 0; i < d.size(); ++i) diff |= static_cast<uint8_t>(d[i] ^ hash_[i]);
  return diff == 0;
}

AdminTokenSetup setup_admin_token(const std::filesystem::path& data_dir,
                                  const std::optional<std::string>& env_token) {
  const auto path = data_dir / "admin_token.sha256";
  auto store = [&](const Digest& d) {
    std::string hex = to_hex(d) + "\n";
    write_secret_file(path, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(hex.data()), hex.size()),
                      /*overwrite=*/true);
  };
  if (env_token && !env_token->empty()) {
    if (env_token->size() < 16) throw std::runtime_error("OTA_ADMIN_TOKEN must have at least 16 characters");
    Digest d = hash_token(*env_token);
    store(d);
    return {d, std::nullopt};
  }
  if (std::filesystem::exists(path)) {
    Bytes text = read_secret_file(path);
    std::string s(text.begin(), text.end());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    auto d = from_hex(s);
    if (!d) throw std::runtime_error(path.string() + ": not a SHA-256 in hex");
    return {*d, std::nullopt};
  }
  std::string token = to_hex(random_bytes(32));
  Digest d = hash_token(token);
  store(d);
  return {d, token};
}

}  // namespace ota::server
