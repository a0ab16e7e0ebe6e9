// The one error channel of the format library and the device core: a small
// code with a static message (no heap), in the spirit of LevelDB's Status.
#ifndef OTA_STATUS_H
#define OTA_STATUS_H

#include <stdint.h>

namespace ota {

enum Status : int16_t {
  kStatusOk = 0,
  kStatusDone = 1,        // the whole patch was applied and verified
  // Header and container.
  kStatusBadMagic = -1,
  kStatusHeaderCorrupt = -2,          // CRC mismatch
  kStatusUnsupportedVersion = -3,
  kStatusUnsupportedCodec = -4,
  kStatusUnsupportedTransform = -5,
  kStatusUnsupportedFlags = -6,
  kStatusBadCodecParams = -7,
  kStatusBadSizes = -8,
  kStatusWorkspaceTooSmall = -9,      // device RAM budget below the patch's need
  // Stream.
  kStatusCodecCorrupt = -10,          // compressed payload is not valid
  kStatusInstructionCorrupt = -11,    // malformed varint or record
  kStatusOldOutOfRange = -12,         // a copy reads outside the old image
  kStatusNewOverflow = -13,           // instructions would write past new_size
  kStatusTruncated = -14,             // finish() before the patch ended
  kStatusTrailingData = -15,          // bytes after the end of the patch
  kStatusSizeMismatch = -16,          // stream ended but sizes disagree
  // Verification.
  kStatusOldHashMismatch = -17,       // wrong base image
  kStatusNewHashMismatch = -18,       // output differs from the header's SHA-256
  // Ports and usage.
  kStatusReadError = -19,
  kStatusWriteError = -20,
  kStatusHashError = -21,
  kStatusBadArgument = -22,
  kStatusAfterError = -23,            // called again after an error
  kStatusSideDataCorrupt = -24,       // transform side data malformed
  kStatusTransformMismatch = -25,     // side data does not fit the old image (chip, layout, map)
  // Security envelope (docs/protocol.md).
  kStatusManifestMalformed = -30,
  kStatusUnknownKey = -31,            // manifest signed by a key the device does not trust
  kStatusBadSignature = -32,
  kStatusWrongProduct = -33,          // product or chip id is not this device's
  kStatusWrongDevice = -34,           // manifest for another device
  kStatusStaleManifest = -35,         // freshness nonce differs: replay
  kStatusDowngrade = -36,             // security counter below the stored one
  kStatusUnsupportedPayload = -37,    // payload type, codec, encryption or RAM need
  kStatusPayloadMismatch = -38,       // patch header disagrees with the manifest
  kStatusRecordChainBroken = -39,     // record digest differs from the chain
  kStatusRecordOutOfOrder = -40,      // record nonce is not the expected one
  kStatusRecordAuthFailed = -41,      // AES-CCM tag mismatch
  kStatusPayloadHashMismatch = -42,   // decrypted payload differs from the manifest digest
  kStatusKeyUnwrapFailed = -43,       // wrapped content key does not open with the device key
  kStatusCryptoError = -44,           // the crypto port failed
  // Device agent (ota/agent.h).
  kStatusBadImage = -45,              // not a well-formed ESP application image
  kStatusTransportError = -46,        // connection failed, refused certificate or cut
  kStatusServerError = -47,           // the server answered with an HTTP error
  kStatusBadResponse = -48,           // the server's answer is malformed
  kStatusStateError = -49,            // the state store failed or holds a corrupt record
  kStatusSelfTestFailed = -50,        // the new image's self-test failed: rolled back
  kStatusRolledBack = -51,            // the new image never confirmed itself: the bootloader rolled back
  kStatusNoSpace = -52,               // the image does not fit the slot
};

// A fixed English message for the code; never null.
const char* status_message(Status s);

inline bool status_is_error(Status s) { return s < 0; }

}  // namespace ota

#endif  // OTA_STATUS_H
