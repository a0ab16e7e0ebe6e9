// A tiny, strict scanner for the flat JSON objects the server returns to
// devices, e.g.
//   {"update":true,"manifest":"4f54...","target_version":"1.0.1","size":12345,
//    "download_url":"/api/v1/devices/d1/releases/ab12"}
// No heap, no recursion; each call validates the whole document (RFC 8259
// grammar, strings valid UTF-8, at most 16 nested objects/arrays counting
// the top-level object) and then looks up one top-level member.
//
// Common contract of the getters: `json` holds len bytes (no NUL needed);
// the document must be one JSON object, optionally surrounded by
// whitespace. Members are matched by their unescaped name against the
// NUL-terminated `key`; with duplicate names the first wins. Members of
// nested objects are never matched; objects and arrays are skipped, but only
// scalar values are returned. kStatusBadResponse when the document is
// malformed, the member is missing, or its value has the wrong type or does
// not fit; kStatusBadArgument for null pointers (or cap 0). On failure the
// output is left zero / empty.
#ifndef OTA_JSON_SCAN_H
#define OTA_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "ota/status.h"

namespace ota {

// Nesting limit: the top-level object is depth 1.
constexpr int kJsonMaxDepth = 16;

// A string member, unescaped (\" \\ \/ \b \f \n \r \t and \uXXXX) into out
// and NUL-terminated; *out_len (if non-null) gets its length without the NUL.
// The value must be ASCII without NUL (U+0001..U+007F, raw or escaped);
// anything else is kStatusBadResponse. It fits when length + 1 <= cap.
Status json_get_string(const char* json, size_t len, const char* key, char* out, size_t cap,
                       size_t* out_len);

// A `true` or `false` member.
Status json_get_bool(const char* json, size_t len, const char* key, bool* out);

// A non-negative integer member (digits only: no sign, fraction or
// exponent) that fits in 64 bits.
Status json_get_u64(const char* json, size_t len, const char* key, uint64_t* out);

// An object member: *out points at its '{' inside `json` and *out_len
// spans it to its '}', so that the getters above read its members, e.g.
// the code of the server's {"error":{"code":"...","message":"..."}}.
Status json_get_object(const char* json, size_t len, const char* key, const char** out, size_t* out_len);

}  // namespace ota

#endif  // OTA_JSON_SCAN_H
