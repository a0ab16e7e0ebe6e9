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
};

// A fixed English message for the code; never null.
const char* status_message(Status s);

inline bool status_is_error(Status s) { return s < 0; }

}  // namespace ota

#endif  // OTA_STATUS_H
