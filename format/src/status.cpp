#include "ota/status.h"

namespace ota {

const char* status_message(Status s) {
  switch (s) {
    case kStatusOk: return "ok";
    case kStatusDone: return "complete and verified";
    case kStatusBadMagic: return "not an OTA patch (bad magic)";
    case kStatusHeaderCorrupt: return "patch header is corrupt (CRC mismatch)";
    case kStatusUnsupportedVersion: return "unsupported patch format version";
    case kStatusUnsupportedCodec: return "unknown codec";
    case kStatusUnsupportedTransform: return "unknown transform or transform version";
    case kStatusSideDataCorrupt: return "corrupt transform side data";
    case kStatusTransformMismatch: return "transform side data does not fit the old image";
    case kStatusUnsupportedFlags: return "unknown header flags";
    case kStatusBadCodecParams: return "invalid codec parameters";
    case kStatusBadSizes: return "inconsistent sizes in patch header";
    case kStatusWorkspaceTooSmall: return "patch needs more RAM than the decoder budget";
    case kStatusCodecCorrupt: return "corrupt compressed data";
    case kStatusInstructionCorrupt: return "corrupt patch instruction";
    case kStatusOldOutOfRange: return "patch reads outside the old image";
    case kStatusNewOverflow: return "patch writes past the new image size";
    case kStatusTruncated: return "truncated (the input ended early)";
    case kStatusTrailingData: return "unexpected data after the end";
    case kStatusSizeMismatch: return "output size mismatch";
    case kStatusOldHashMismatch: return "wrong base image (its SHA-256 differs from the one the update was made for)";
    case kStatusNewHashMismatch: return "output SHA-256 differs from the patch header";
    case kStatusReadError: return "reading the old image failed";
    case kStatusWriteError: return "writing the new image failed";
    case kStatusHashError: return "hash port failed";
    case kStatusBadArgument: return "invalid argument";
    case kStatusAfterError: return "decoder already failed";
    case kStatusManifestMalformed: return "manifest malformed";
    case kStatusUnknownKey: return "manifest signed by an unknown key";
    case kStatusBadSignature: return "bad manifest signature";
    case kStatusWrongProduct: return "manifest is for another product or chip";
    case kStatusWrongDevice: return "manifest is for another device";
    case kStatusStaleManifest: return "stale manifest (freshness nonce differs: replay)";
    case kStatusDowngrade: return "downgrade refused (security counter below the stored one)";
    case kStatusUnsupportedPayload: return "unsupported payload (type, codec, encryption or RAM)";
    case kStatusPayloadMismatch: return "payload does not match the manifest";
    case kStatusRecordChainBroken: return "record chain broken (record digest differs)";
    case kStatusRecordOutOfOrder: return "record out of order (unexpected nonce)";
    case kStatusRecordAuthFailed: return "record authentication failed";
    case kStatusPayloadHashMismatch: return "payload SHA-256 differs from the manifest";
    case kStatusKeyUnwrapFailed: return "content key does not unwrap with the device key";
    case kStatusCryptoError: return "crypto port failed";
    case kStatusBadImage: return "not a valid ESP application image";
    case kStatusTransportError: return "connection failed or cut";
    case kStatusServerError: return "server answered with an error";
    case kStatusBadResponse: return "malformed server response";
    case kStatusStateError: return "state store failed";
    case kStatusSelfTestFailed: return "self-test failed: rolled back";
    case kStatusRolledBack: return "new image did not confirm: rolled back";
    case kStatusNoSpace: return "image does not fit the slot";
  }
  return "unknown status";
}

}  // namespace ota
