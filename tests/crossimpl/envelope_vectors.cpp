// Cross-implementation vectors for the security envelope (docs/protocol.md).
//
//   envelope_vectors make DIR    writes artifacts made by our server code
//                                (OpenSSL) for an independent implementation
//                                to verify (tests/crossimpl/envelope_python.py)
//   envelope_vectors check DIR   verifies the py_* artifacts that
//                                implementation made, with our device code
//                                through the mbedTLS and the OpenSSL ports
//
// One line per check; exit 0 only if every check passed.
#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto_mbedtls.h"
#include "ota/envelope.h"
#include "ota/manifest.h"
#include "ota/server/crypto.h"
#include "ota/server/envelope.h"

namespace {

namespace fs = std::filesystem;
using ota::server::Bytes;

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string read_text(const fs::path& path) {
  Bytes b = read_bytes(path);
  return std::string(b.begin(), b.end());
}

void write_bytes(const fs::path& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}
void write_bytes(const fs::path& path, const Bytes& b) { write_bytes(path, b.data(), b.size()); }
void write_text(const fs::path& path, const std::string& s) { write_bytes(path, s.data(), s.size()); }

std::string hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += digits[p[i] >> 4];
    s += digits[p[i] & 15];
  }
  return s;
}

Bytes unhex(const std::string& s) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::runtime_error("bad hex digit");
  };
  if (s.size() % 2) throw std::runtime_error("odd hex length");
  Bytes out;
  for (size_t i = 0; i < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(nibble(s[i]) << 4 | nibble(s[i + 1])));
  return out;
}

// A flat JSON object of strings and non-negative integers: all device.json
// needs. Values are returned as their text (strings without quotes; the test
// vectors never hold escapes).
std::map<std::string, std::string> parse_flat_json(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  };
  auto expect = [&](char c) {
    skip();
    if (i >= text.size() || text[i] != c)
      throw std::runtime_error(std::string("device json: expected '") + c + "'");
    ++i;
  };
  auto string_at = [&] {
    expect('"');
    size_t end = text.find('"', i);
    if (end == std::string::npos) throw std::runtime_error("device json: open string");
    std::string s = text.substr(i, end - i);
    if (s.find('\\') != std::string::npos) throw std::runtime_error("device json: escapes");
    i = end + 1;
    return s;
  };
  expect('{');
  skip();
  if (i < text.size() && text[i] == '}') return out;
  for (;;) {
    std::string key = string_at();
    expect(':');
    skip();
    if (i < text.size() && text[i] == '"') {
      out[key] = string_at();
    } else {
      size_t start = i;
      while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
      if (start == i) throw std::runtime_error("device json: value of " + key);
      out[key] = text.substr(start, i - start);
    }
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    expect('}');
    return out;
  }
}

// ---------------------------------------------------------------------------
// make

constexpr const char* kProduct = "ota-crossimpl";
constexpr uint16_t kChip = 0;  // ESP32
constexpr const char* kDeviceId = "cpp-device_0001";
constexpr uint32_t kDeviceCounter = 3;

// A full-image update manifest (payload_type 0: the payload is the image).
ota::Manifest full_image_manifest(const Bytes& payload, const Bytes& nonce) {
  ota::Manifest m{};
  m.kind = ota::kManifestUpdate;
  m.security_counter = kDeviceCounter + 1;
  std::copy(nonce.begin(), nonce.end(), m.device_nonce);
  m.issued_at = static_cast<uint64_t>(std::time(nullptr));
  ota::server::set_text(m.product, kProduct);
  m.chip_id = kChip;
  ota::server::set_text(m.device_id, kDeviceId);
  ota::server::set_text(m.from_version, "");
  ota::server::set_text(m.to_version, "1.2.3+cpp.7");
  auto digest = ota::server::sha256(payload);
  std::copy(digest.begin(), digest.end(), m.to_sha256);
  m.to_size = static_cast<uint32_t>(payload.size());
  m.payload_type = ota::kPayloadFullImage;
  std::copy(digest.begin(), digest.end(), m.payload_sha256);
  m.payload_codec = 0;
  m.payload_ram = 0;
  return m;
}

int make(const fs::path& dir) {
  using namespace ota;
  fs::create_directories(dir);
  auto signer = server::SigningKey::generate();
  std::string pem = signer.private_pem();
  server::write_secret_file(dir / "signing_key.pem",
                            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(pem.data()),
                                                     pem.size()),
                            /*overwrite=*/true);
  write_text(dir / "signing_pub.pem", signer.public_pem());

  Bytes dk = server::random_bytes(32);
  server::write_secret_file(dir / "device.key", dk, /*overwrite=*/true);
  std::array<uint8_t, 32> device_key;
  std::copy(dk.begin(), dk.end(), device_key.begin());

  Bytes small = server::random_bytes(10000);
  Bytes large = server::random_bytes(200000);
  write_bytes(dir / "payload_small.bin", small);
  write_bytes(dir / "payload_large.bin", large);

  Bytes nonce = server::random_bytes(kNonceSize);
  Bytes running = server::random_bytes(32);

  // Encryption 2, original layout: one record under the device key.
  server::RecordStream s_small =
      server::encrypt_records(small, device_key, server::chunk_size_for(kEncryptionDeviceKey, small.size()),
                              server::make_nonce_prefix());
  if (s_small.record_count != 1 || s_small.bytes.size() != 29 + small.size())
    throw std::logic_error("the small payload is not one original-layout record");
  write_bytes(dir / "stream_small_devkey.bin", s_small.bytes);
  Manifest ms = full_image_manifest(small, nonce);
  server::describe_stream(ms, kEncryptionDeviceKey, s_small, small.size());
  write_bytes(dir / "manifest_small.bin", server::sign_manifest(ms, signer));

  // Encryption 1: a content key wrapped for the device, 4096-byte chunks.
  Bytes ck = server::random_bytes(32);
  std::array<uint8_t, 32> content_key;
  std::copy(ck.begin(), ck.end(), content_key.begin());
  server::RecordStream s_large = server::encrypt_records(
      large, content_key, server::chunk_size_for(kEncryptionWrappedKey, large.size()),
      server::make_nonce_prefix());
  write_bytes(dir / "stream_large_wrapped.bin", s_large.bytes);
  Manifest ml = full_image_manifest(large, nonce);
  server::describe_stream(ml, kEncryptionWrappedKey, s_large, large.size());
  auto wrapped = server::wrap_content_key(device_key, content_key);
  std::copy(wrapped.begin(), wrapped.end(), ml.wrapped_key);
  write_bytes(dir / "manifest_large.bin", server::sign_manifest(ml, signer));

  // §4: the detached signature over SHA-256 of the plaintext payload.
  write_bytes(dir / "sig_small.der", signer.sign_digest(server::sha256(small)));

  std::string json = "{\n";
  json += "  \"product\": \"" + std::string(kProduct) + "\",\n";
  json += "  \"chip_id\": " + std::to_string(kChip) + ",\n";
  json += "  \"device_id\": \"" + std::string(kDeviceId) + "\",\n";
  json += "  \"nonce\": \"" + hex(nonce.data(), nonce.size()) + "\",\n";
  json += "  \"security_counter\": " + std::to_string(kDeviceCounter) + ",\n";
  json += "  \"running_sha256\": \"" + hex(running.data(), running.size()) + "\"\n";
  json += "}\n";
  write_text(dir / "device.json", json);

  std::printf("made %s: signing key %s, %u + %u records\n", dir.c_str(),
              hex(signer.key_id().data(), 8).c_str(), s_small.record_count, s_large.record_count);
  return 0;
}

// ---------------------------------------------------------------------------
// check

struct Checker {
  int passed = 0;
  int failed = 0;
  bool expect(bool ok, const std::string& what, const std::string& detail = "") {
    if (ok) {
      ++passed;
      std::printf("PASS  %s\n", what.c_str());
    } else {
      ++failed;
      std::printf("FAIL  %s%s%s\n", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
    }
    return ok;
  }
  bool status(ota::Status got, ota::Status want, const std::string& what) {
    return expect(got == want, what + " -> " + ota::status_message(got),
                  std::string("expected ") + ota::status_message(want));
  }
};

// The device's view of itself, as the Python side targeted it.
struct Target {
  std::string product;
  std::string device_id;
  ota::DeviceIdentity identity{};
  std::array<uint8_t, 32> device_key{};
};

Target load_target(const fs::path& dir) {
  Target t;
  auto json = parse_flat_json(read_text(dir / "py_device.json"));
  auto field = [&](const char* k) {
    auto it = json.find(k);
    if (it == json.end()) throw std::runtime_error(std::string("py_device.json lacks ") + k);
    return it->second;
  };
  t.product = field("product");
  t.device_id = field("device_id");
  ota::DeviceIdentity& id = t.identity;
  id.chip_id = static_cast<uint16_t>(std::stoul(field("chip_id")));
  id.security_counter = static_cast<uint32_t>(std::stoul(field("security_counter")));
  Bytes nonce = unhex(field("nonce"));
  Bytes running = unhex(field("running_sha256"));
  if (nonce.size() != ota::kNonceSize || running.size() != 32)
    throw std::runtime_error("py_device.json: nonce or running_sha256 of the wrong size");
  std::copy(nonce.begin(), nonce.end(), id.nonce);
  std::copy(running.begin(), running.end(), id.running_sha256);
  id.ram_budget = 32 * 1024;
  id.record_budget = 65536 + 64;  // a whole original-layout record may be staged
  auto signer = ota::server::SigningKey::from_public_pem(read_text(dir / "signing_pub.pem"));
  auto point = signer.public_point();
  auto key_id = signer.key_id();
  id.keys[0].in_use = 1;
  std::copy(point.begin(), point.end(), id.keys[0].public_key);
  std::copy(key_id.begin(), key_id.end(), id.keys[0].key_id);
  Bytes dk = read_bytes(dir / "py_device.key");
  if (dk.size() != 32) throw std::runtime_error("py_device.key is not 32 bytes");
  std::copy(dk.begin(), dk.end(), t.device_key.begin());
  return t;
}

struct Outcome {
  ota::Status status = ota::kStatusOk;  // first error, or kStatusDone
  Bytes plaintext;                      // what the sink received
};

// The device pipeline up to the sink: manifest, record key, record stream
// fed in `piece`-byte pieces.
Outcome run_device(const ota::CryptoPort* port, const Target& t, const Bytes& manifest,
                   const Bytes& stream, size_t piece, const uint8_t* device_key = nullptr) {
  using namespace ota;
  Outcome out;
  DeviceIdentity id = t.identity;
  id.product = t.product.c_str();
  id.device_id = t.device_id.c_str();
  Manifest m;
  out.status = manifest_verify(port, &id, manifest.data(), manifest.size(), &m);
  if (out.status != kStatusOk) return out;
  uint8_t key[32];
  out.status = manifest_record_key(port, &m, device_key ? device_key : t.device_key.data(), key);
  if (out.status != kStatusOk) return out;
  std::vector<uint8_t> buf(record_buffer_size(&m));
  RecordSink sink{&out.plaintext, [](void* ctx, const uint8_t* data, size_t len) {
                    auto* p = static_cast<Bytes*>(ctx);
                    p->insert(p->end(), data, data + len);
                    return kStatusOk;
                  }};
  RecordDecoder rd;
  out.status = record_decoder_init(&rd, port, &m, key, buf.data(), static_cast<uint32_t>(buf.size()), sink);
  std::memset(key, 0, sizeof(key));
  if (out.status != kStatusOk) return out;
  Status s = kStatusOk;
  for (size_t off = 0; off < stream.size() && !status_is_error(s); off += piece)
    s = record_decoder_feed(&rd, stream.data() + off, std::min(piece, stream.size() - off));
  out.status = record_decoder_finish(&rd);
  return out;
}

bool is_prefix(const Bytes& part, const Bytes& whole) {
  return part.size() <= whole.size() && std::equal(part.begin(), part.end(), whole.begin());
}

void check_port(Checker& c, const char* name, const ota::CryptoPort* port, const fs::path& dir,
                const Target& t) {
  using namespace ota;
  const std::string tag = std::string("[") + name + "] ";
  Bytes manifest = read_bytes(dir / "py_manifest.bin");
  Bytes stream = read_bytes(dir / "py_stream.bin");
  Bytes payload = read_bytes(dir / "py_payload.bin");
  Bytes manifest_small = read_bytes(dir / "py_manifest_small.bin");
  Bytes record_small = read_bytes(dir / "py_record_small.bin");
  Bytes payload_small = read_bytes(dir / "py_payload_small.bin");

  // Manifest and key, on their own, to report each step.
  {
    DeviceIdentity id = t.identity;
    id.product = t.product.c_str();
    id.device_id = t.device_id.c_str();
    Manifest m;
    c.status(manifest_verify(port, &id, manifest.data(), manifest.size(), &m), kStatusOk,
             tag + "manifest_verify(py_manifest.bin)");
    uint8_t key[32];
    c.status(manifest_record_key(port, &m, t.device_key.data(), key), kStatusOk,
             tag + "manifest_record_key unwraps Python's content key");
  }
  for (size_t piece : {stream.size(), size_t{1000}, size_t{4157}}) {
    Outcome o = run_device(port, t, manifest, stream, piece);
    c.status(o.status, kStatusDone,
             tag + "record decoder opens py_stream.bin (pieces of " + std::to_string(piece) + ")");
    c.expect(o.plaintext == payload, tag + "  and the plaintext equals py_payload.bin");
  }

  // Original layout, through the device pipeline and as one decrypt.
  Outcome o = run_device(port, t, manifest_small, record_small, 997);
  c.status(o.status, kStatusDone, tag + "py_manifest_small.bin (encryption 2) + py_record_small.bin");
  c.expect(o.plaintext == payload_small, tag + "  and the plaintext equals py_payload_small.bin");
  if (c.expect(record_small.size() == 29 + payload_small.size(),
               tag + "py_record_small.bin is nonce | tag | ciphertext of the payload")) {
    Bytes out(payload_small.size());
    int rc = port->aes256_ccm_decrypt(port->ctx, t.device_key.data(), record_small.data(),
                                      record_small.data() + 29, payload_small.size(),
                                      record_small.data() + 13, out.data());
    c.expect(rc == 0 && out == payload_small,
             tag + "py_record_small.bin decrypts at once with the device key (aes256_ccm_decrypt)");
  }

  // §4: the detached signature.
  Bytes sig = read_bytes(dir / "py_sig.der");
  Bytes digest = read_bytes(dir / "py_digest.bin");
  uint8_t own[32];
  Sha256State st;
  bool hashed = port->sha256_begin(port->ctx, &st) == 0 &&
                port->sha256_update(port->ctx, &st, payload_small.data(), payload_small.size()) == 0 &&
                port->sha256_finish(port->ctx, &st, own) == 0;
  c.expect(hashed && digest.size() == 32 && std::memcmp(own, digest.data(), 32) == 0,
           tag + "py_digest.bin is SHA-256 of py_payload_small.bin");
  if (digest.size() == 32) {
    const uint8_t* pub = t.identity.keys[0].public_key;
    c.expect(port->ecdsa_p256_verify(port->ctx, pub, digest.data(), sig.data(), sig.size()) == 0,
             tag + "py_sig.der verifies with ecdsa_p256_verify");
    Bytes other = digest;
    other[0] ^= 1;
    c.expect(port->ecdsa_p256_verify(port->ctx, pub, other.data(), sig.data(), sig.size()) != 0,
             tag + "py_sig.der does not verify for another digest");
  }

  // Tampering: one flipped byte of py_stream.bin anywhere is refused, and
  // only authenticated chunks (a prefix of the payload) reach the sink.
  const size_t rec = 29 + 4096 + 32;
  struct Flip {
    const char* where;
    size_t pos;
  } flips[] = {{"nonce of record 0", 3},
               {"tag of record 0", 20},
               {"ciphertext of record 0", 100},
               {"chain digest inside record 7", rec * 7 + 29 + 4096 + 5},
               {"index in the nonce of record 12", rec * 12 + 11},
               {"last byte of the stream", stream.size() - 1}};
  for (const Flip& f : flips) {
    Bytes bad = stream;
    bad[f.pos] ^= 0x01;
    Outcome r = run_device(port, t, manifest, bad, 1460);
    c.expect(status_is_error(r.status) && is_prefix(r.plaintext, payload),
             tag + "flipped byte in the " + f.where + " refused -> " + status_message(r.status),
             "accepted or leaked unauthenticated bytes");
  }
  Bytes truncated(stream.begin(), stream.end() - 1);
  c.status(run_device(port, t, manifest, truncated, 4157).status, kStatusTruncated,
           tag + "py_stream.bin without its last byte");

  // The manifest's checks against the identity Python targeted.
  Bytes bad_manifest = manifest;
  bad_manifest[60] ^= 0x01;  // inside the product or device id region
  Outcome r = run_device(port, t, bad_manifest, stream, stream.size());
  c.expect(status_is_error(r.status), tag + "py_manifest.bin with a flipped signed byte refused -> " +
                                          status_message(r.status));
  Target other = t;
  other.identity.nonce[0] ^= 1;
  c.status(run_device(port, other, manifest, stream, stream.size()).status, kStatusStaleManifest,
           tag + "another check-in nonce");
  other = t;
  other.identity.security_counter += 2;
  c.status(run_device(port, other, manifest, stream, stream.size()).status, kStatusDowngrade,
           tag + "a device with a higher security counter");
  other = t;
  other.device_id = "someone-else";
  c.status(run_device(port, other, manifest, stream, stream.size()).status, kStatusWrongDevice,
           tag + "another device id");
  uint8_t wrong_key[32];
  std::memcpy(wrong_key, t.device_key.data(), 32);
  wrong_key[31] ^= 0x80;
  c.status(run_device(port, t, manifest, stream, stream.size(), wrong_key).status,
           kStatusKeyUnwrapFailed, tag + "another device key");
}

int check(const fs::path& dir) {
  using namespace ota;
  Checker c;
  Target t = load_target(dir);

  // Layout: our writer reproduces Python's signed bytes from the parsed fields.
  for (const char* file : {"py_manifest.bin", "py_manifest_small.bin"}) {
    Bytes mb = read_bytes(dir / file);
    Manifest m;
    if (c.status(manifest_parse(mb.data(), mb.size(), &m), kStatusOk,
                 std::string("manifest_parse(") + file + ")")) {
      uint8_t out[kManifestMaxSize];
      size_t n = manifest_write_signed_part(m, out, sizeof(out));
      c.expect(n == m.signed_size && std::memcmp(out, mb.data(), n) == 0,
               std::string("manifest_write_signed_part reproduces the signed part of ") + file);
    }
  }

  CryptoPort mbed = mbedtls_crypto_port();
  CryptoPort openssl = server::openssl_crypto_port();
  check_port(c, "mbedtls", &mbed, dir, t);
  check_port(c, "openssl", &openssl, dir, t);
  std::printf("envelope_vectors check: %d passed, %d failed\n", c.passed, c.failed);
  return c.failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "make") != 0 && std::strcmp(argv[1], "check") != 0)) {
    std::fprintf(stderr, "usage: %s make|check DIR\n", argv[0]);
    return 2;
  }
  try {
    return std::strcmp(argv[1], "make") == 0 ? make(argv[2]) : check(argv[2]);
  } catch (const std::exception& e) {
    std::printf("FAIL  %s %s: %s\n", argv[1], argv[2], e.what());
    return 1;
  }
}
