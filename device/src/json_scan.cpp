// The scanner is one loop over the document with an explicit stack of open
// containers (no recursion): it validates every byte and, at depth 1,
// notes where the value of the first member named `key` starts. The getters
// then decode that one value, which validation has already delimited.
#include "ota/json_scan.h"

namespace ota {
namespace {

struct Cursor {
  const uint8_t* s;
  size_t n;
  size_t i;
};

bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

void skip_ws(Cursor* c) {
  while (c->i < c->n && is_ws(c->s[c->i])) ++c->i;
}

int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at c->i (after "\u"); -1 if they are not there.
int32_t read_hex4(Cursor* c) {
  if (c->n - c->i < 4) return -1;
  int32_t v = 0;
  for (int k = 0; k < 4; ++k) {
    const int d = hex_value(c->s[c->i + static_cast<size_t>(k)]);
    if (d < 0) return -1;
    v = (v << 4) | d;
  }
  c->i += 4;
  return v;
}

enum CharResult { kCharError = -1, kCharEnd = 0, kCharOk = 1 };

// One character of a string body at c->i: an escape, an ASCII byte or a
// UTF-8 sequence, as a code point in *cp; kCharEnd after consuming the
// closing quote. Refuses control characters, unknown escapes, malformed or
// overlong UTF-8, and unpaired surrogates (escaped or encoded).
CharResult next_char(Cursor* c, uint32_t* cp) {
  if (c->i >= c->n) return kCharError;
  const uint8_t b = c->s[c->i];
  if (b == '"') {
    ++c->i;
    return kCharEnd;
  }
  if (b < 0x20) return kCharError;
  if (b == '\\') {
    if (c->n - c->i < 2) return kCharError;
    const uint8_t e = c->s[c->i + 1];
    c->i += 2;
    switch (e) {
      case '"': *cp = '"'; return kCharOk;
      case '\\': *cp = '\\'; return kCharOk;
      case '/': *cp = '/'; return kCharOk;
      case 'b': *cp = '\b'; return kCharOk;
      case 'f': *cp = '\f'; return kCharOk;
      case 'n': *cp = '\n'; return kCharOk;
      case 'r': *cp = '\r'; return kCharOk;
      case 't': *cp = '\t'; return kCharOk;
      case 'u': break;
      default: return kCharError;
    }
    const int32_t u = read_hex4(c);
    if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF)) return kCharError;
    if (u >= 0xD800 && u <= 0xDBFF) {  // a high surrogate needs its low half
      if (c->n - c->i < 2 || c->s[c->i] != '\\' || c->s[c->i + 1] != 'u') return kCharError;
      c->i += 2;
      const int32_t lo = read_hex4(c);
      if (lo < 0xDC00 || lo > 0xDFFF) return kCharError;
      *cp = 0x10000u + ((static_cast<uint32_t>(u) - 0xD800u) << 10) + (static_cast<uint32_t>(lo) - 0xDC00u);
      return kCharOk;
    }
    *cp = static_cast<uint32_t>(u);
    return kCharOk;
  }
  if (b < 0x80) {
    *cp = b;
    ++c->i;
    return kCharOk;
  }
  size_t more;
  uint32_t v, min;
  if ((b & 0xE0) == 0xC0) {
    more = 1, v = b & 0x1Fu, min = 0x80;
  } else if ((b & 0xF0) == 0xE0) {
    more = 2, v = b & 0x0Fu, min = 0x800;
  } else if ((b & 0xF8) == 0xF0) {
    more = 3, v = b & 0x07u, min = 0x10000;
  } else {
    return kCharError;
  }
  if (c->n - c->i <= more) return kCharError;
  for (size_t k = 1; k <= more; ++k) {
    const uint8_t cb = c->s[c->i + k];
    if ((cb & 0xC0) != 0x80) return kCharError;
    v = (v << 6) | (cb & 0x3Fu);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return kCharError;
  c->i += more + 1;
  *cp = v;
  return kCharOk;
}

// A string at c->i (which holds '"'). With a non-null `key`, *match tells
// whether its unescaped content equals key.
bool scan_string(Cursor* c, const char* key, bool* match) {
  ++c->i;
  bool m = key != nullptr;
  size_t k = 0;
  for (;;) {
    uint32_t cp = 0;
    const CharResult r = next_char(c, &cp);
    if (r == kCharError) return false;
    if (r == kCharEnd) break;
    if (m) {
      if (key[k] == '\0' || cp != static_cast<uint8_t>(key[k])) m = false;
      else ++k;
    }
  }
  if (match) *match = m && key[k] == '\0';
  return true;
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool scan_number(Cursor* c) {
  size_t i = c->i;
  const size_t n = c->n;
  const uint8_t* s = c->s;
  if (i < n && s[i] == '-') ++i;
  if (i >= n || !is_digit(s[i])) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && s[i] == '.') {
    ++i;
    if (i >= n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (i >= n || !is_digit(s[i])) return false;
    while (i < n && is_digit(s[i])) ++i;
  }
  c->i = i;
  return true;
}

bool scan_literal(Cursor* c) {
  static const char* const kWords[] = {"true", "false", "null"};
  for (const char* w : kWords) {
    size_t k = 0;
    while (w[k] != '\0' && c->i + k < c->n && c->s[c->i + k] == static_cast<uint8_t>(w[k])) ++k;
    if (w[k] == '\0') {
      c->i += k;
      return true;
    }
  }
  return false;
}

// `"name" :` of an object member; *match when name equals key (non-null).
bool scan_member_name(Cursor* c, const char* key, bool* match) {
  skip_ws(c);
  if (c->i >= c->n || c->s[c->i] != '"') return false;
  if (!scan_string(c, key, match)) return false;
  skip_ws(c);
  if (c->i >= c->n || c->s[c->i] != ':') return false;
  ++c->i;
  return true;
}

// Validates the whole document; on kStatusOk *value_at is the offset of the
// value of the first top-level member named key.
Status locate(const char* json, size_t len, const char* key, size_t* value_at) {
  if (!json || !key) return kStatusBadArgument;
  Cursor c{reinterpret_cast<const uint8_t*>(json), len, 0};
  uint8_t open[kJsonMaxDepth];  // '{' or '[' per open container
  int depth = 0;
  bool found = false;
  bool is_value = false;  // the value about to be scanned is the one asked for

  skip_ws(&c);
  if (c.i >= c.n || c.s[c.i] != '{') return kStatusBadResponse;
  for (;;) {
    // A value.
    skip_ws(&c);
    if (c.i >= c.n) return kStatusBadResponse;
    if (is_value) {
      *value_at = c.i;
      found = true;
      is_value = false;
    }
    const uint8_t ch = c.s[c.i];
    if (ch == '{' || ch == '[') {
      if (depth == kJsonMaxDepth) return kStatusBadResponse;
      open[depth++] = ch;
      ++c.i;
      skip_ws(&c);
      if (c.i >= c.n) return kStatusBadResponse;
      if (c.s[c.i] == (ch == '{' ? '}' : ']')) {
        ++c.i;
        --depth;
      } else {
        if (ch == '{' && !scan_member_name(&c, depth == 1 && !found ? key : nullptr, &is_value))
          return kStatusBadResponse;
        continue;  // the first member's value or the first element
      }
    } else if (ch == '"') {
      if (!scan_string(&c, nullptr, nullptr)) return kStatusBadResponse;
    } else if (ch == '-' || is_digit(ch)) {
      if (!scan_number(&c)) return kStatusBadResponse;
    } else if (!scan_literal(&c)) {
      return kStatusBadResponse;
    }
    // After a value: close containers until a separator asks for the next.
    for (;;) {
      skip_ws(&c);
      if (depth == 0) {
        if (c.i != c.n) return kStatusBadResponse;  // trailing bytes
        return found ? kStatusOk : kStatusBadResponse;
      }
      if (c.i >= c.n) return kStatusBadResponse;
      const uint8_t top = open[depth - 1];
      const uint8_t d = c.s[c.i];
      if (d == ',') {
        ++c.i;
        if (top == '{' && !scan_member_name(&c, depth == 1 && !found ? key : nullptr, &is_value))
          return kStatusBadResponse;
        break;
      }
      if (d != (top == '{' ? '}' : ']')) return kStatusBadResponse;
      ++c.i;
      --depth;
    }
  }
}

}  // namespace

Status json_get_string(const char* json, size_t len, const char* key, char* out, size_t cap,
                       size_t* out_len) {
  if (out_len) *out_len = 0;
  if (!out || cap == 0) return kStatusBadArgument;
  out[0] = '\0';
  size_t at = 0;
  const Status st = locate(json, len, key, &at);
  if (st != kStatusOk) return st;
  Cursor c{reinterpret_cast<const uint8_t*>(json), len, at};
  if (c.s[c.i] != '"') return kStatusBadResponse;
  ++c.i;
  size_t k = 0;
  for (;;) {
    uint32_t cp = 0;
    const CharResult r = next_char(&c, &cp);
    if (r == kCharEnd) break;
    if (r == kCharError || cp == 0 || cp >= 0x80 || k + 1 >= cap) {
      out[0] = '\0';
      return kStatusBadResponse;
    }
    out[k++] = static_cast<char>(cp);
  }
  out[k] = '\0';
  if (out_len) *out_len = k;
  return kStatusOk;
}

Status json_get_bool(const char* json, size_t len, const char* key, bool* out) {
  if (!out) return kStatusBadArgument;
  *out = false;
  size_t at = 0;
  const Status st = locate(json, len, key, &at);
  if (st != kStatusOk) return st;
  // Validation has checked the whole literal.
  if (json[at] == 't') {
    *out = true;
    return kStatusOk;
  }
  return json[at] == 'f' ? kStatusOk : kStatusBadResponse;
}

Status json_get_u64(const char* json, size_t len, const char* key, uint64_t* out) {
  if (!out) return kStatusBadArgument;
  *out = 0;
  size_t at = 0;
  const Status st = locate(json, len, key, &at);
  if (st != kStatusOk) return st;
  const uint8_t* s = reinterpret_cast<const uint8_t*>(json);
  size_t i = at;
  if (!is_digit(s[i])) return kStatusBadResponse;  // a sign, or not a number
  uint64_t v = 0;
  for (; i < len && is_digit(s[i]); ++i) {
    const uint64_t d = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return kStatusBadResponse;
    v = v * 10 + d;
  }
  if (i < len && (s[i] == '.' || s[i] == 'e' || s[i] == 'E')) return kStatusBadResponse;
  *out = v;
  return kStatusOk;
}

Status json_get_object(const char* json, size_t len, const char* key, const char** out, size_t* out_len) {
  if (!out || !out_len) return kStatusBadArgument;
  *out = nullptr;
  *out_len = 0;
  size_t at = 0;
  const Status st = locate(json, len, key, &at);
  if (st != kStatusOk) return st;
  if (json[at] != '{') return kStatusBadResponse;
  // The document is valid (locate checked all of it): the object ends at the
  // brace that balances its first, not counting braces inside strings.
  int depth = 0;
  bool in_string = false;
  for (size_t i = at; i < len; ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') ++i;  // the escaped character is never a quote that ends the string
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) {
        *out = json + at;
        *out_len = i + 1 - at;
        return kStatusOk;
      }
    }
  }
  return kStatusBadResponse;  // unreachable for a valid document
}

}  // namespace ota
