// The device crypto port (ota/crypto_port.h) implemented with mbedTLS:
// 2.28 (Debian 12 hosts, the simulator) and 3.x (ESP-IDF 5). Device code:
// C headers only, no exceptions, no RTTI, no heap of our own.
#ifndef OTA_CRYPTO_MBEDTLS_H
#define OTA_CRYPTO_MBEDTLS_H

#include "ota/crypto_port.h"

namespace ota {

// The port keeps no state of its own (ctx is null), so one instance may be
// shared by any number of callers and threads. Each Sha256State must be used
// by one thread at a time.
//
// Memory: SHA-256 runs entirely inside Sha256State. mbedTLS itself allocates
// while verifying a signature (bignums) and, in 2.28 and 3.x without
// MBEDTLS_BLOCK_CIPHER_C, the AES context behind CCM; all of it is freed
// before the call returns.
//
// Failures return a non-zero value (an mbedTLS error code, or -1 for input
// this port refuses before calling mbedTLS).
CryptoPort mbedtls_crypto_port();

}  // namespace ota

#endif  // OTA_CRYPTO_MBEDTLS_H
