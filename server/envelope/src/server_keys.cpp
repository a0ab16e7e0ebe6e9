#include "ota/server/server_keys.h"

#include <sys/stat.h>

#include <fstream>
#include <stdexcept>

namespace ota::server {

namespace fs = std::filesystem;

ServerKeys load_or_create_server_keys(const fs::path& dir) {
  fs::create_directories(dir);
  ::chmod(dir.c_str(), 0700);
  const fs::path priv = dir / "signing_key.pem", pub = dir / "signing_pub.pem";
  bool created = false;
  if (!fs::exists(priv)) {
    SigningKey k = SigningKey::generate();
    std::string pem = k.private_pem();
    write_secret_file(priv, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pem.data()),
                                                     pem.size()));
    created = true;
  }
  Bytes pem_bytes = read_secret_file(priv);
  SigningKey signing = [&] {
    try {
      return SigningKey::from_private_pem(std::string(pem_bytes.begin(), pem_bytes.end()));
    } catch (const std::exception& e) {
      throw std::runtime_error(priv.string() + ": " + e.what());
    }
  }();
  // The public half is derived every start, so it can never disagree.
  std::string pub_pem = signing.public_pem();
  std::ofstream(pub, std::ios::trunc) << pub_pem;
  ::chmod(pub.c_str(), 0644);
  Bytes master = load_or_create_master_key(dir / "master.key");
  if (master.size() != 32) throw std::runtime_error((dir / "master.key").string() + ": not 32 bytes");
  return {std::move(signing), std::move(master), created};
}

}  // namespace ota::server
